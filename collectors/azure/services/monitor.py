"""Where a subscription's Activity Log goes: its diagnostic settings, and how long the target keeps it.

One resource per subscription, id `/subscriptions/{id}/providers/Microsoft.Insights/diagnosticSettings`,
holding the settings as listed. A Log Analytics workspace target is read for its retention
(`RetentionDays`); a storage account or event hub target keeps data as its own lifecycle decides,
which the rules treat as not provable from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec

EXPORT = "azure.monitor.activity_log_export"
REQUIRED = ("Administrative", "Security", "Policy", "Alert")
DESTINATIONS = ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId")


def collect(scope: Scope) -> Iterator[Resource]:
    path = f"/subscriptions/{scope.subscription_id}/providers/Microsoft.Insights/diagnosticSettings"
    try:
        settings = list(scope.api.arm_list(path))
    except HttpError as exc:
        scope.fail(EXPORT, exc)
        return
    annotated = []
    for setting in settings:
        props = setting.get("properties") or {}
        enabled = sorted(str(log.get("category")) for log in props.get("logs") or []
                         if log.get("enabled") and log.get("category"))
        groups = {str(log.get("categoryGroup")).lower() for log in props.get("logs") or [] if log.get("enabled")}
        if "alllogs" in groups:
            enabled = sorted(set(enabled) | set(REQUIRED))
        entry = {**setting, "EnabledCategories": enabled,
                 "MissingCategories": [c for c in REQUIRED if c not in enabled],
                 "HasDestination": any(props.get(k) for k in DESTINATIONS)}
        entry.update(_workspace(scope, props.get("workspaceId")))
        annotated.append(entry)
    complete = [s for s in annotated if s["HasDestination"] and not s["MissingCategories"]]
    retention = [s["RetentionDays"] for s in complete if isinstance(s.get("RetentionDays"), int)]
    data = {"subscriptionId": scope.subscription_id, "value": annotated,
            "CompleteExports": [s["id"] for s in complete],
            "MaxRetentionDays": max(retention) if retention else None,
            "RetentionUnknown": [s["id"] for s in complete if s.get("RetentionError")]}
    name = (scope.subscription or {}).get("displayName") or scope.subscription_id
    yield scope.resource(EXPORT, path, f"{name} activity log export", data, region="global")


def _workspace(scope: Scope, workspace_id: Any) -> dict[str, Any]:
    if not workspace_id:
        return {"RetentionDays": None, "RetentionError": None}
    try:
        workspace = scope.api.arm_get(str(workspace_id))
    except HttpError as exc:
        return {"RetentionDays": None, "RetentionError": describe(exc)}
    days = (workspace.get("properties") or {}).get("retentionInDays")
    return {"RetentionDays": days if isinstance(days, int) else None, "RetentionError": None}


SERVICE = ServiceSpec("monitor", "subscription", {
    EXPORT: "a subscription's Activity Log diagnostic settings and the retention of their workspace"}, collect)
