"""Network security groups with their Internet exposure and flow-log coverage; Network Watcher flow logs.

A flow log covers an NSG when it targets the NSG itself, one of its subnets or interfaces, or a
virtual network one of its subnets belongs to (VNet flow logs, which replace NSG flow logs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec
from collectors.azure.services.nsg_analysis import annotate

NSG = "azure.network.nsg"
FLOW_LOG = "azure.network.flow_log"


def collect(scope: Scope) -> Iterator[Resource]:
    base = f"/subscriptions/{scope.subscription_id}/providers/Microsoft.Network"
    flow_logs: list[dict[str, Any]] | None = []
    flow_error = None
    try:
        watchers = list(scope.api.arm_list(f"{base}/networkWatchers"))
        for batch in scope.map(lambda w: list(scope.api.arm_list(f"{w['id']}/flowLogs")), watchers):
            flow_logs.extend(batch)  # type: ignore[union-attr]
    except HttpError as exc:
        scope.fail(FLOW_LOG, exc)
        flow_logs, flow_error = None, describe(exc)
    for log in flow_logs or []:
        yield scope.resource(FLOW_LOG, log["id"], log["name"], log)
    try:
        groups = list(scope.api.arm_list(f"{base}/networkSecurityGroups"))
    except HttpError as exc:
        scope.fail(NSG, exc)
        return
    for group in groups:
        data = annotate(group)
        covering = None if flow_logs is None else [_summary(f) for f in flow_logs if _covers(f, group)]
        data["FlowLogs"] = covering
        data["FlowLogsError"] = flow_error
        yield scope.resource(NSG, group["id"], group["name"], data)


def _covers(flow_log: dict[str, Any], group: dict[str, Any]) -> bool:
    target = str((flow_log.get("properties") or {}).get("targetResourceId") or "").lower()
    if not target:
        return False
    props = group.get("properties") or {}
    if target == group["id"].lower():
        return True
    for subnet in props.get("subnets") or []:
        subnet_id = str(subnet.get("id") or "").lower()
        if target == subnet_id or (subnet_id.startswith(target + "/subnets/")):
            return True
    return any(target == str(nic.get("id") or "").lower() for nic in props.get("networkInterfaces") or [])


def _summary(flow_log: dict[str, Any]) -> dict[str, Any]:
    props = flow_log.get("properties") or {}
    return {"id": flow_log["id"], "enabled": props.get("enabled"), "retentionPolicy": props.get("retentionPolicy"),
            "targetResourceId": props.get("targetResourceId")}


SERVICE = ServiceSpec("network", "subscription", {
    NSG: "a network security group, its ports open to the Internet and the flow logs that cover it",
    FLOW_LOG: "a Network Watcher flow log (NSG or virtual network) and its retention",
}, collect)
