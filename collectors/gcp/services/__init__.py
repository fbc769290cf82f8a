"""GCP service collectors. Each module defines `SERVICE = ServiceSpec(...)`.

A service collector is a function `collect(scope) -> Iterator[Resource]` over one project
(`collectors.gcp.scope.ProjectScope`): it yields resources whose `data` is the API's JSON (plus
documented derived keys), and calls `scope.fail(resource_type, exc)` for whatever it could not
read. It never raises for an API error. Reading the Cloud Audit Logs spans projects and is not a
per-project service (see `collectors.gcp.audit`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.model import Resource

if TYPE_CHECKING:
    from collectors.gcp.scope import ProjectScope

MODULES = ("project", "iam", "storage", "compute", "sql", "kms", "logging", "orgpolicy")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    api: str                      # the endpoint key (collectors.gcp.endpoints.DEFAULTS)
    resource_types: dict[str, str]
    collect: Callable[[ProjectScope], Iterator[Resource]]


def all_services() -> list[ServiceSpec]:
    return [importlib.import_module(f"collectors.gcp.services.{name}").SERVICE for name in MODULES]


def names() -> tuple[str, ...]:
    return MODULES
