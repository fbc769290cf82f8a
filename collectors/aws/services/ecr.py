"""ECR: private repositories with their lifecycle policy and the registry scanning rule that
applies to them.

Added keys: `LifecyclePolicy` (parsed lifecycle policy, null when none), `RegistryScanType`
(BASIC/ENHANCED) and `RegistryScanFrequency` (SCAN_ON_PUSH / CONTINUOUS_SCAN / MANUAL of the
first registry scanning rule whose wildcard filter matches the repository, null when none does).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

REPOSITORY = "aws.ecr.repository"


def scan_frequency(config: dict[str, Any], repository: str) -> str | None:
    """The scan frequency the registry scanning configuration gives `repository` (wildcard filters)."""
    for rule in config.get("rules") or []:
        for flt in rule.get("repositoryFilters") or []:
            if flt.get("filterType", "WILDCARD") == "WILDCARD" and fnmatchcase(repository, flt.get("filter", "")):
                return rule.get("scanFrequency")
    return None


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
