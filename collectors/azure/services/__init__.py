"""Azure service collectors. Each module defines `SERVICE = ServiceSpec(...)`.

A service collector is a function `collect(scope) -> Iterator[Resource]`: it reads one subscription
(`level="subscription"`) or the tenant through Microsoft Graph (`level="tenant"`), yields resources
whose `data` is the raw API JSON (plus documented lookups merged in under their own keys), and calls
`scope.fail(resource_type, exc)` for whatever it could not read. It never raises for an API error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agent.model import Resource

if TYPE_CHECKING:
    from collectors.azure.scope import Scope

# Costliest first: long tasks start early, so the tail of a run is short.
MODULES = (
    "entra_users", "entra_roles", "entra_policies", "entra_apps", "entra_logs",
    "compute", "network", "sql", "keyvault", "storage", "appservice", "rbac", "monitor", "defender",
    "activitylog",
)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    level: Literal["subscription", "tenant"]
    resource_types: dict[str, str]
    collect: Callable[[Scope], Iterator[Resource]]


def all_services() -> list[ServiceSpec]:
    specs: list[ServiceSpec] = []
    for name in MODULES:
        module = importlib.import_module(f"collectors.azure.services.{name}")
        specs.append(module.SERVICE)
    return specs


def resource_types() -> dict[str, str]:
    out: dict[str, str] = {"azure.subscription": "an Azure subscription the identity can read (inventory)"}
    for spec in all_services():
        out.update(spec.resource_types)
    return out
