"""Organization Policy v2: the effective policy of chosen constraints on each project.

`getEffectivePolicy` returns the policy in force after the hierarchy is merged (a GET). The raw
answer is kept; `enforced` (boolean constraints), `allowAll`/`denyAll` and the allowed/denied
values (list constraints) are lifted out of its rules for the rules to judge. The organisation's
own effective policies are read by `collectors.gcp.organization`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.gcp.scope import ProjectScope
from collectors.gcp.services import ServiceSpec

POLICY = "gcp.orgpolicy.policy"
ORGPOLICY = "//orgpolicy.googleapis.com/"
DEFAULT_CONSTRAINTS = (
    "iam.allowedPolicyMemberDomains",
    "iam.disableServiceAccountKeyCreation",
    "storage.uniformBucketLevelAccess",
    "storage.publicAccessPrevention",
    "compute.requireOsLogin",
    "compute.skipDefaultNetworkCreation",
)


def summarise(raw: dict[str, Any], constraint: str, scope_name: str) -> dict[str, Any]:
    """The raw effective policy plus what its rules amount to."""
    rules = (raw.get("spec") or {}).get("rules") or []
    allowed: list[str] = []
    denied: list[str] = []
    for rule in rules:
        values = rule.get("values") or {}
        allowed.extend(values.get("allowedValues") or [])
        denied.extend(values.get("deniedValues") or [])
    return {**raw, "constraint": constraint, "scope": scope_name,
            "enforced": any(rule.get("enforce") is True for rule in rules),
            "allowAll": any(rule.get("allowAll") is True for rule in rules),
            "denyAll": any(rule.get("denyAll") is True for rule in rules),
            "allowedValues": allowed, "deniedValues": denied, "ruleCount": len(rules)}


def effective_policy(scope: ProjectScope, constraint: str) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        raw = scope.get("orgpolicy", f"v2/projects/{scope.project_id}/policies/{constraint}:getEffectivePolicy")
        if not isinstance(raw, dict):
            raise ValueError(f"getEffectivePolicy {constraint}: expected a JSON object")
        return summarise(raw, constraint, f"projects/{scope.number}")
    return scope.memo(f"orgpolicy:{constraint}", load)


def collect(scope: ProjectScope) -> Iterator[Resource]:
    constraints = list(scope.options.org_policy_constraints)
    for constraint, policy in scope.each(constraints, lambda c: effective_policy(scope, c), workers=4):
        if isinstance(policy, Exception):
            scope.fail(POLICY, policy, context=f"getEffectivePolicy {constraint}")
            continue
        name = policy.get("name") or f"projects/{scope.number}/policies/{constraint}"
        yield scope.resource(POLICY, ORGPOLICY + name, f"{constraint} on {scope.project_id}", policy)


SERVICE = ServiceSpec(
    name="orgpolicy",
    api="orgpolicy",
    resource_types={
        POLICY: "the effective organisation policy of one constraint on a project or the organisation",
    },
    collect=collect,
)
