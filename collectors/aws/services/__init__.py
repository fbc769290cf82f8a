"""AWS service collectors. Each module defines `SERVICE = ServiceSpec(...)`.

A service collector is a function `collect(scope) -> Iterator[Resource]`: it reads one account in
one region (`scope.region`), or once per account for a global service (`scope.region` is None),
yields resources whose `data` is the raw API JSON (secret values redacted), and calls
`scope.fail(resource_type, exc)` for whatever it could not read. It never raises for an API error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.model import Resource

if TYPE_CHECKING:
    from collectors.aws.scope import AwsScope

MODULES = (
    "iam", "s3", "cloudtrail", "config", "guardduty", "securityhub", "kms", "accessanalyzer", "events",
    "ec2", "vpc", "rds", "backup", "logs", "acm", "elbv2", "lambda_", "ecr", "secretsmanager", "eks",
)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    resource_types: dict[str, str]
    collect: Callable[[AwsScope], Iterator[Resource]]
    global_: bool = False
    concurrency: int = 4
    extra: dict[str, str] = field(default_factory=dict)


def all_services() -> list[ServiceSpec]:
    """Every service module that exists (modules are added one by one)."""
    specs: list[ServiceSpec] = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"collectors.aws.services.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"collectors.aws.services.{name}":
                continue
            raise
        specs.append(module.SERVICE)
    return specs


def resource_types() -> dict[str, str]:
    out: dict[str, str] = {"aws.account": "an AWS account reached by the collector (inventory, STS identity)"}
    for spec in all_services():
        out.update(spec.resource_types)
    return out
