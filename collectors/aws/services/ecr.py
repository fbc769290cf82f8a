"""ECR: private repositories with their lifecycle policy and the registry scanning rule that
applies to them.

Added keys: `LifecyclePolicy` (parsed lifecycle policy, null when none), `RegistryScanType`
(BASIC/ENHANCED) and `RegistryScanFrequency` (SCAN_ON_PUSH / CONTINUOUS_SCAN / MANUAL given by the
registry scanning rules whose filters match the repository, null when none does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

REPOSITORY = "aws.ecr.repository"


def filter_matches(pattern: str, repository: str) -> bool:
    """ECR's repository filter semantics: a filter without `*` matches every repository whose name
    contains it; with `*`, each `*` stands for zero or more characters of the whole name."""
    if "*" not in pattern:
        return bool(pattern) and pattern in repository
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), repository) is not None


def scan_frequency(config: dict[str, Any], repository: str) -> str | None:
    """The scan frequency the registry scanning configuration gives `repository`; when several rules
    match, an automatic frequency (continuous or on push) wins over MANUAL."""
    matched = [rule.get("scanFrequency") for rule in config.get("rules") or []
               if any(flt.get("filterType", "WILDCARD") == "WILDCARD"
                      and filter_matches(flt.get("filter", ""), repository)
                      for flt in rule.get("repositoryFilters") or [])]
    automatic = [f for f in matched if f in ("CONTINUOUS_SCAN", "SCAN_ON_PUSH")]
    return (automatic or matched or [None])[0]


def _lifecycle(scope: AwsScope, repo: dict[str, Any]) -> dict[str, Any] | None:
    try:
        resp = scope.call("ecr", "get_lifecycle_policy", repositoryName=repo["repositoryName"],
                          registryId=repo["registryId"])
    except CollectErrors as exc:
        if error_code(exc) == "LifecyclePolicyNotFoundException":
            return None
        raise
    text = resp.get("lifecyclePolicyText")
    return json.loads(text) if text else None


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        repos = list(scope.paginate("ecr", "describe_repositories", "repositories"))
        registry = scope.call("ecr", "get_registry_scanning_configuration").get("scanningConfiguration") or {}
    except CollectErrors as exc:
        scope.fail(REPOSITORY, exc)
        return
    for repo in repos:
        try:
            lifecycle = _lifecycle(scope, repo)
        except CollectErrors as exc:
            if error_code(exc) == "RepositoryNotFoundException":
                continue
            scope.fail(REPOSITORY, exc)
            continue
        except ValueError as exc:
            scope.fail(REPOSITORY, f"{repo['repositoryName']}: lifecycle policy is not JSON: {exc}")
            continue
        data = plain(repo)
        data["LifecyclePolicy"] = lifecycle
        data["RegistryScanType"] = registry.get("scanType")
        data["RegistryScanFrequency"] = scan_frequency(registry, repo["repositoryName"])
        yield scope.resource(REPOSITORY, repo["repositoryArn"], repo["repositoryName"], data)


SERVICE = ServiceSpec(
    name="ecr",
    resource_types={REPOSITORY: "an ECR private repository (scanning, tag mutability, encryption, lifecycle policy)"},
    collect=collect,
)
