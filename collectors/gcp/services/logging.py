"""Cloud Logging v2 of each project: its log sinks and its log buckets (retention, lock).

Organisation and folder sinks are read by `collectors.gcp.organization`; the Cloud Audit Logs
entries by `collectors.gcp.audit`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.gcp.scope import ProjectScope
from collectors.gcp.services import ServiceSpec
from collectors.gcp.services.project import project_sinks

SINK = "gcp.logging.sink"
BUCKET = "gcp.logging.bucket"
LOGGING = "//logging.googleapis.com/"


def sink_resource_data(sink: dict[str, Any], parent: str) -> dict[str, Any]:
    destination = str(sink.get("destination", ""))
    return {**sink, "parent": parent, "destinationService": destination.split("/", 1)[0],
            "destinationBucket": destination.split("/", 1)[1] if destination.startswith("storage.googleapis.com/")
            else None}


def sink_resources(scope: ProjectScope) -> Iterator[Resource]:
    """The project's own log sinks (its exports), or a `gcp.logging.sink` error for the project."""
    parent = f"projects/{scope.project_id}"
    try:
        sinks = project_sinks(scope)
    except Exception as exc:
        scope.fail(SINK, exc, context="sinks.list")
        return
    for sink in sinks:
        yield scope.resource(SINK, LOGGING + f"{parent}/sinks/{sink['name']}", sink["name"],
                             sink_resource_data(sink, parent))


def collect(scope: ProjectScope) -> Iterator[Resource]:
    parent = f"projects/{scope.project_id}"
    yield from sink_resources(scope)
    try:
        buckets = scope.items("logging", f"v2/{parent}/locations/-/buckets", "buckets", size=("pageSize", 100))
    except Exception as exc:
        scope.fail(BUCKET, exc, context="buckets.list")
        return
    for bucket in buckets:
        location = bucket["name"].split("/")[3]
        yield scope.resource(BUCKET, LOGGING + bucket["name"], bucket["name"].rsplit("/", 1)[-1], bucket,
                             region=location)


SERVICE = ServiceSpec(
    name="logging",
    api="logging",
    resource_types={
        SINK: "a log sink (project, folder or organisation): destination, filter, children included, disabled",
        BUCKET: "a log bucket with its retention in days, lock and lifecycle state",
    },
    collect=collect,
)
