"""What a Conditional Access policy enforces, in the terms the rules need.

A policy only protects anything when its state is `enabled`: `enabledForReportingButNotEnforced`
(report-only) logs what it would have done and enforces nothing, `disabled` does nothing. A policy
requires MFA when its grant controls include `mfa` or an authentication strength. It covers every
sign-in of its users only when it applies to all cloud apps without narrowing conditions (risk
levels, locations, platforms, device filters, a subset of client apps). Legacy authentication is
blocked by a `block` policy for the `exchangeActiveSync` and `other` client app types.
"""

from __future__ import annotations

from typing import Any

NARROWING = ("signInRiskLevels", "userRiskLevels", "servicePrincipalRiskLevels", "insiderRiskLevels")
MODERN_CLIENTS = frozenset({"browser", "mobileappsanddesktopclients"})


def _lower(values: Any) -> list[str]:
    return [str(v).lower() for v in values or []]


def analyse(policy: dict[str, Any], admin_roles: set[str]) -> dict[str, Any]:
    conditions = policy.get("conditions") or {}
    users = conditions.get("users") or {}
    apps = conditions.get("applications") or {}
    grant = policy.get("grantControls") or {}
    controls = _lower(grant.get("builtInControls"))
    clients = set(_lower(conditions.get("clientAppTypes"))) or {"all"}
    locations = conditions.get("locations") or {}
    narrowed = [name for name in NARROWING if conditions.get(name)]
    if conditions.get("platforms"):
        narrowed.append("platforms")
    if locations and (_lower(locations.get("includeLocations")) not in ([], ["all"])
                      or locations.get("excludeLocations")):
        narrowed.append("locations")
    if (conditions.get("devices") or {}).get("deviceFilter"):
        narrowed.append("devices")
    if "all" not in clients and not clients >= MODERN_CLIENTS:
        narrowed.append("clientAppTypes")
    all_users = "all" in _lower(users.get("includeUsers"))
    roles = {str(r).lower() for r in users.get("includeRoles") or []}
    all_apps = "all" in _lower(apps.get("includeApplications"))
    requires_mfa = "mfa" in controls or bool(grant.get("authenticationStrength"))
    state = str(policy.get("state") or "")
    return {
        "Enforced": state == "enabled", "ReportOnly": state == "enabledForReportingButNotEnforced",
        "AllUsers": all_users, "AllApps": all_apps, "RequiresMfa": requires_mfa, "Blocks": "block" in controls,
        "Narrowing": narrowed,
        "Exclusions": {"users": len(users.get("excludeUsers") or []), "groups": len(users.get("excludeGroups") or []),
                       "roles": len(users.get("excludeRoles") or [])},
        "MfaForAllUsers": requires_mfa and all_users and all_apps and not narrowed,
        "MfaForAdmins": requires_mfa and all_apps and not narrowed and (all_users or admin_roles <= roles),
        "BlocksLegacyAuthentication": "block" in controls and all_users and all_apps
        and {"exchangeactivesync", "other"} <= clients,
    }
