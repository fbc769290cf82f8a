"""Cloud SQL instances of each project (Cloud SQL Admin API v1), as the API returns them."""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.gcp.scope import ProjectScope
from collectors.gcp.services import ServiceSpec

INSTANCE = "gcp.sql.instance"
SQL = "//cloudsql.googleapis.com/"


def collect(scope: ProjectScope) -> Iterator[Resource]:
    try:
        instances = scope.items("sqladmin", f"v1/projects/{scope.project_id}/instances", "items",
                                size=("maxResults", 500))
    except Exception as exc:
        scope.fail(INSTANCE, exc, context="instances.list")
        return
    for instance in instances:
        yield scope.resource(INSTANCE, SQL + f"projects/{scope.project_id}/instances/{instance['name']}",
                             instance["name"], instance, region=instance.get("region"))


SERVICE = ServiceSpec(
    name="sql",
    api="sqladmin",
    resource_types={
        INSTANCE: "a Cloud SQL instance: IP configuration and authorised networks, SSL mode, backups and "
                  "point-in-time recovery",
    },
    collect=collect,
)
