"""Azure Activity Log (per subscription), read incrementally: who changed role assignments, policies
and diagnostic settings.

`GET /subscriptions/{id}/providers/Microsoft.Insights/eventtypes/management/values` with
`$filter=eventTimestamp ge '<start>' and eventTimestamp le '<end>'` pages through the window, newest
first. Only completed operations count (`status.value` Succeeded): each operation is logged when it
starts and again when it ends. The summary (`azure.activitylog.activity`, one per subscription) is
what the rules judge; the events behind it are stored as `azure.activitylog.event`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec
from collectors.azure.services.logstate import LogWindow, iso, parse

ACTIVITY = "azure.activitylog.activity"
EVENT = "azure.activitylog.event"
RETENTION = timedelta(days=90)   # the Activity Log keeps 90 days
OVERLAP = timedelta(minutes=30)  # events arrive up to ~15 minutes late
PRIVILEGED_RBAC = frozenset({"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
                             "b24988ac-6180-42a0-ab88-20f7382dd24c", "f58310d9-a9f6-439a-9e8d-f62e7b41a168"})
CATEGORIES = {
    "microsoft.authorization/roleassignments/write": ["role_assignment_change"],
    "microsoft.authorization/roleassignments/delete": ["role_assignment_change"],
    "microsoft.authorization/policyassignments/write": ["policy_change"],
    "microsoft.authorization/policyassignments/delete": ["policy_change", "policy_assignment_deleted"],
    "microsoft.authorization/policydefinitions/write": ["policy_change"],
    "microsoft.authorization/policydefinitions/delete": ["policy_change"],
    "microsoft.authorization/policysetdefinitions/write": ["policy_change"],
    "microsoft.authorization/policysetdefinitions/delete": ["policy_change"],
    "microsoft.authorization/policyexemptions/write": ["policy_change", "policy_exemption_created"],
    "microsoft.authorization/policyexemptions/delete": ["policy_change"],
    "microsoft.insights/diagnosticsettings/write": ["diagnostic_setting_change"],
    "microsoft.insights/diagnosticsettings/delete": ["diagnostic_setting_change", "diagnostic_setting_deleted"],
}
FIELDS = ("authorization,caller,category,correlationId,eventDataId,eventName,eventTimestamp,id,level,operationName,"
          "properties,resourceGroupName,resourceId,resourceProviderName,resourceType,status,subStatus,"
          "submissionTimestamp,subscriptionId,tenantId")


def categories(event: dict[str, Any]) -> list[str]:
    """The summary categories an event counts under (none for events that do not matter here)."""
    if str((event.get("status") or {}).get("value") or "").lower() != "succeeded":
        return []
    operation = str((event.get("operationName") or {}).get("value") or "").lower()
    found = list(CATEGORIES.get(operation, []))
    if operation == "microsoft.authorization/roleassignments/write" and _granted_role(event) in PRIVILEGED_RBAC:
        found.append("privileged_role_granted")
    return found


def _granted_role(event: dict[str, Any]) -> str | None:
    body = (event.get("properties") or {}).get("requestbody")
    try:
        parsed = json.loads(body) if isinstance(body, str) else body
        props = parsed.get("Properties") or parsed.get("properties") or {}
        role = props.get("RoleDefinitionId") or props.get("roleDefinitionId")
    except (ValueError, AttributeError):
        return None
    return str(role).rsplit("/", 1)[-1].lower() if role else None


def collect(scope: Scope) -> Iterator[Resource]:
    opts = scope.options
    lookback = timedelta(days=min(getattr(opts, "logs_lookback_days", 7), 90))
    window = LogWindow.open(scope.cursor, f"activity/{scope.subscription_id}", lookback=lookback,
                            overlap=OVERLAP, retention=RETENTION)
    flt = f"eventTimestamp ge '{iso(window.start)}' and eventTimestamp le '{iso(window.end)}'"
    path = f"/subscriptions/{scope.subscription_id}/providers/Microsoft.Insights/eventtypes/management/values"
    events: list[Resource] = []
    try:
        for event in scope.api.arm_list(path, {"$filter": flt, "$select": FIELDS}):
            names = categories(event)
            when = parse(event.get("eventTimestamp"))
            event_id = str(event.get("eventDataId") or event.get("id") or "")
            if not names or when is None or not event_id:
                continue
            summary = {"Time": iso(when), "Operation": (event.get("operationName") or {}).get("value"),
                       "Caller": event.get("caller"), "ResourceId": event.get("resourceId"),
                       "GrantedRole": _granted_role(event)}
            if window.add(event_id, when, names, summary) and window.keep(names[0]):
                data = {k: v for k, v in event.items() if k not in ("claims", "httpRequest")}
                data["Categories"] = names
                events.append(scope.resource(EVENT, str(event.get("id") or event_id), str(summary["Operation"]),
                                             data, region="global"))
    except HttpError as exc:
        scope.fail(ACTIVITY, exc)
        scope.fail(EVENT, exc)
        return
    yield from events
    data = window.close(scope.cursor, OVERLAP)
    data["subscriptionId"] = scope.subscription_id
    name = (scope.subscription or {}).get("displayName") or scope.subscription_id
    yield scope.resource(ACTIVITY, path, str(name), data, region="global")


SERVICE = ServiceSpec("activitylog", "subscription", {
    ACTIVITY: "a subscription's Activity Log summary: role assignment, policy and diagnostic-setting changes",
    EVENT: "an Activity Log event that changed role assignments, policies or diagnostic settings",
}, collect)
