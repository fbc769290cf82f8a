"""Entra ID tenant policies: Conditional Access, security defaults, the authorization policy.

The four reads go out as one Graph `$batch` of GETs. Conditional Access needs Entra ID P1: in a tenant
without it there are no policies to find (the licence answer is recorded, and MFA then depends on
security defaults alone). The tenant summary (`azure.entra.tenant`) says which enforced policies
require MFA for everyone and for administrators and which block legacy authentication, and names
the report-only ones that would have.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe, reason
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec
from collectors.azure.services.conditional_access import analyse

POLICY = "azure.entra.conditional_access_policy"
TENANT = "azure.entra.tenant"
# The admin roles an MFA policy for administrators must cover (Microsoft's own template list, core part).
ADMIN_ROLES = {"62e90394-69f5-4237-9190-012177145e10", "e8611ab8-c189-46e8-94e1-60213ab1f814",
               "194ae4cb-b126-40b2-bd5b-6091b380977d", "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"}
PATHS = ("/identity/conditionalAccess/policies", "/policies/identitySecurityDefaultsEnforcementPolicy",
         "/policies/authorizationPolicy", "/organization")


def tenant_policies(scope: Scope) -> dict[str, Any]:
    """The four tenant reads (one `$batch`), cached for the run: path -> body or HttpError."""
    def load() -> dict[str, Any]:
        return dict(zip(PATHS, scope.api.graph_batch(list(PATHS)), strict=True))

    return scope.cache.get("graph:tenant-policies", load)


def collect(scope: Scope) -> Iterator[Resource]:
    try:
        answers = tenant_policies(scope)
    except HttpError as exc:
        scope.fail(POLICY, exc)
        scope.fail(TENANT, exc)
        return
    policies = answers[PATHS[0]]
    ca_error, ca_unknown = None, False
    if isinstance(policies, HttpError):
        ca_error = describe(policies)
        ca_unknown = reason(policies) != "licence"  # without P1 there is no Conditional Access at all
        if ca_unknown:
            scope.fail(POLICY, policies)
        policies = {"value": []}
    analysed = []
    for policy in policies.get("value") or []:
        data = {**policy, **analyse(policy, {r.lower() for r in ADMIN_ROLES})}
        analysed.append(data)
        yield scope.resource(POLICY, scope.graph_id(f"identity/conditionalAccess/policies/{policy.get('id')}"),
                             str(policy.get("displayName") or policy.get("id")), data, region="global")
    defaults = answers[PATHS[1]]
    authz = answers[PATHS[2]]
    org = answers[PATHS[3]]
    organization = (org.get("value") or [None])[0] if isinstance(org, dict) else None

    def names(flag: str, *, enforced: bool = True) -> list[str]:
        return [p.get("displayName") for p in analysed if p[flag] and (p["Enforced"] if enforced else p["ReportOnly"])]

    data = {
        "tenantId": scope.tenant_id, "Organization": organization,
        "OrganizationError": describe(org) if isinstance(org, HttpError) else None,
        "SecurityDefaultsEnabled": defaults.get("isEnabled") if isinstance(defaults, dict) else None,
        "SecurityDefaultsError": describe(defaults) if isinstance(defaults, HttpError) else None,
        "AuthorizationPolicy": authz if isinstance(authz, dict) else None,
        "AuthorizationPolicyError": describe(authz) if isinstance(authz, HttpError) else None,
        "ConditionalAccessError": ca_error, "ConditionalAccessUnknown": ca_unknown,
        "ConditionalAccessPolicyCount": len(analysed),
        "MfaAllUsersPolicies": names("MfaForAllUsers"), "MfaAdminPolicies": names("MfaForAdmins"),
        "LegacyAuthBlockPolicies": names("BlocksLegacyAuthentication"),
        "ReportOnlyPolicies": {"MfaForAllUsers": names("MfaForAllUsers", enforced=False),
                               "MfaForAdmins": names("MfaForAdmins", enforced=False),
                               "BlocksLegacyAuthentication": names("BlocksLegacyAuthentication", enforced=False)},
    }
    for key in ("SecurityDefaultsError", "AuthorizationPolicyError"):
        if data[key]:
            scope.report(TENANT, data[key], account=scope.account)
    name = (organization or {}).get("displayName") or scope.tenant_id
    yield scope.resource(TENANT, scope.graph_id(f"organization/{scope.tenant_id}"), str(name), data,
                         region="global")


def mfa_enforcement(scope: Scope) -> tuple[list[dict[str, Any]], bool | None]:
    """(enforced CA policies requiring MFA, security defaults on) for per-user enforcement; ([], None) when
    neither could be read."""
    try:
        answers = tenant_policies(scope)
    except HttpError:
        return [], None
    policies, defaults = answers[PATHS[0]], answers[PATHS[1]]
    if isinstance(policies, HttpError) and reason(policies) != "licence":
        return [], None
    enabled = defaults.get("isEnabled") if isinstance(defaults, dict) else None
    listed = [] if isinstance(policies, HttpError) else policies.get("value") or []
    mfa = []
    for policy in listed:
        facts = analyse(policy, set())
        if facts["Enforced"] and facts["RequiresMfa"] and facts["AllApps"] and not facts["Narrowing"]:
            mfa.append(policy)
    return mfa, enabled


def enforced_for(user_id: str, role_ids: set[str], policies: list[dict[str, Any]]) -> bool | None:
    """Whether an enforced MFA policy applies to the user: True, False, or None when it depends on a group."""
    depends = False
    for policy in policies:
        users = (policy.get("conditions") or {}).get("users") or {}
        include = {str(u).lower() for u in users.get("includeUsers") or []}
        roles = {str(r).lower() for r in users.get("includeRoles") or []}
        excluded_roles = {str(r).lower() for r in users.get("excludeRoles") or []}
        if user_id.lower() in {str(u).lower() for u in users.get("excludeUsers") or []} or excluded_roles & role_ids:
            continue
        if users.get("excludeGroups"):
            depends = True
            continue
        if "all" in include or user_id.lower() in include or roles & role_ids:
            return True
        if users.get("includeGroups"):
            depends = True
    return None if depends else False


SERVICE = ServiceSpec("entra_policies", "tenant", {
    POLICY: "an Entra ID Conditional Access policy and what it enforces (MFA, legacy authentication block)",
    TENANT: "the Entra ID tenant: security defaults, Conditional Access coverage, guest and app settings",
}, collect)
