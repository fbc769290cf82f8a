"""Entra ID sign-in and directory audit logs, read incrementally.

Sign-ins (`/auditLogs/signIns`, Entra ID P1/P2): successful sign-ins that passed with a single factor,
and successful sign-ins through legacy authentication protocols. v1.0 has no
`authenticationRequirement`; a sign-in counts as multifactor when the field says so (where present),
when `status.additionalDetails` reports an MFA requirement met, or when an applied Conditional Access
policy enforced MFA successfully. Directory audits (`/auditLogs/directoryAudits`, category
RoleManagement): grants of privileged directory roles, and grants made outside PIM.
A tenant whose licence does not include sign-in logs gets `error` results saying so, never silence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec, directory
from collectors.azure.services.logstate import LogWindow, iso, parse

SIGNIN_ACTIVITY = "azure.entra.signin_activity"
SIGNIN = "azure.entra.signin"
AUDIT_ACTIVITY = "azure.entra.audit_activity"
AUDIT = "azure.entra.directory_audit"
SIGNIN_RETENTION = timedelta(days=30)   # P1/P2 tenants keep sign-ins 30 days
AUDIT_RETENTION = timedelta(days=30)
SIGNIN_OVERLAP = timedelta(hours=2)     # sign-in events can arrive up to two hours late
AUDIT_OVERLAP = timedelta(minutes=30)
MODERN_CLIENTS = frozenset({"browser", "mobile apps and desktop clients"})
GRANTS = ("add member to role", "add eligible member to role", "add scoped member to role")
PRIVILEGED_NAMES = frozenset(name.lower() for name in directory.PRIVILEGED_ROLES.values())


def multifactor(event: dict[str, Any]) -> bool:
    requirement = str(event.get("authenticationRequirement") or "").lower()
    if requirement:
        return requirement == "multifactorauthentication"
    details = str((event.get("status") or {}).get("additionalDetails") or "").lower()
    if "mfa" in details or "multi-factor" in details or "multifactor" in details:
        return True
    return any(str(p.get("result") or "").lower() == "success"
               and any(str(c).lower() == "mfa" for c in p.get("enforcedGrantControls") or [])
               for p in event.get("appliedConditionalAccessPolicies") or [])


def signin_categories(event: dict[str, Any]) -> list[str]:
    if (event.get("status") or {}).get("errorCode") not in (0, "0"):
        return []
    out = []
    if event.get("isInteractive") is not False and not multifactor(event):
        out.append("signin_without_mfa")
    client = str(event.get("clientAppUsed") or "").strip().lower()
    if client and client not in MODERN_CLIENTS:
        out.append("legacy_authentication")
    return out


def _role_of(event: dict[str, Any]) -> str:
    for target in event.get("targetResources") or []:
        for prop in target.get("modifiedProperties") or []:
            if str(prop.get("displayName")) in ("Role.DisplayName", "RoleDefinition.DisplayName"):
                try:
                    return str(json.loads(prop.get("newValue") or '""'))
                except ValueError:
                    return str(prop.get("newValue") or "").strip('"')
        if str(target.get("type")).lower() == "role" and target.get("displayName"):
            return str(target["displayName"])
    return ""


def audit_categories(event: dict[str, Any]) -> list[str]:
    if str(event.get("result") or "").lower() != "success":
        return []
    activity = str(event.get("activityDisplayName") or "").lower()
    if not activity.startswith(GRANTS):
        return []
    out = []
    if _role_of(event).lower() in PRIVILEGED_NAMES:
        out.append("privileged_role_granted")
    if "outside of pim" in activity:
        out.append("role_granted_outside_pim")
    return out


def _read(scope: Scope, key: str, path: str, field: str, extra: str, retention: timedelta,
          overlap: timedelta, classify: Any, summarise: Any, event_type: str, summary_type: str,
          title: str) -> Iterator[Resource]:
    lookback = timedelta(days=min(getattr(scope.options, "logs_lookback_days", 7), retention.days))
    window = LogWindow.open(scope.cursor, key, lookback=lookback, overlap=overlap, retention=retention)
    flt = f"{field} ge {iso(window.start)} and {field} le {iso(window.end)}{extra}"
    kept: list[Resource] = []
    try:
        for event in scope.api.graph_list(path, {"$filter": flt, "$top": 999}):
            names, when = classify(event), parse(event.get(field))
            if not names or when is None or not event.get("id"):
                continue
            if window.add(str(event["id"]), when, names, summarise(event, when)) and window.keep(names[0]):
                kept.append(scope.resource(event_type, scope.graph_id(f"{path.strip('/')}/{event['id']}"),
                                           names[0], {**event, "Categories": names}, region="global"))
    except HttpError as exc:
        scope.fail(summary_type, exc)
        scope.fail(event_type, exc)
        return
    yield from kept
    data = window.close(scope.cursor, overlap)
    data["tenantId"] = scope.tenant_id
    yield scope.resource(summary_type, scope.graph_id(path.strip("/")), title, data, region="global")


def collect(scope: Scope) -> Iterator[Resource]:
    yield from _read(scope, "signins", "/auditLogs/signIns", "createdDateTime", "", SIGNIN_RETENTION,
                     SIGNIN_OVERLAP, signin_categories,
                     lambda e, when: {"Time": iso(when), "User": e.get("userPrincipalName"),
                                      "App": e.get("appDisplayName"), "Client": e.get("clientAppUsed"),
                                      "IpAddress": e.get("ipAddress")},
                     SIGNIN, SIGNIN_ACTIVITY, "sign-in log")
    yield from _read(scope, "directory-audits", "/auditLogs/directoryAudits", "activityDateTime",
                     " and category eq 'RoleManagement'", AUDIT_RETENTION, AUDIT_OVERLAP, audit_categories,
                     lambda e, when: {"Time": iso(when), "Activity": e.get("activityDisplayName"),
                                      "Role": _role_of(e), "By": ((e.get("initiatedBy") or {}).get("user") or {})
                                      .get("userPrincipalName") or ((e.get("initiatedBy") or {}).get("app") or {})
                                      .get("displayName"),
                                      "Target": next((t.get("userPrincipalName") or t.get("displayName")
                                                      for t in e.get("targetResources") or []
                                                      if str(t.get("type")).lower() != "role"), None)},
                     AUDIT, AUDIT_ACTIVITY, "directory audit log")


SERVICE = ServiceSpec("entra_logs", "tenant", {
    SIGNIN_ACTIVITY: "the tenant's sign-in log summary: sign-ins without MFA, legacy authentication",
    SIGNIN: "an Entra ID sign-in without MFA or through legacy authentication",
    AUDIT_ACTIVITY: "the tenant's directory audit summary: privileged role grants, grants outside PIM",
    AUDIT: "an Entra ID directory audit event granting a directory role",
}, collect)
