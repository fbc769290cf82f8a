"""OSCAL per-interval observations: one observation per (rule, resource) finding interval of the period,
whose ``subjects`` point at inventory items (one per resource, in ``local-definitions``).

Added to the document built by agent.export.oscal. Each control's finding lists, in
``related-observations``, the intervals of its rules that were ``pass`` or ``fail`` (``excepted`` ones
too, they are risk-accepted failures); ``error`` intervals (the rule could not be evaluated, or the
resource type could not be collected) are observations with a remark and are related to no finding,
so they support neither ``satisfied`` nor ``not-satisfied``. A collection scope is not a resource:
its observations name the source component as subject. UUIDs of inventory items and observations are
derived from the store (resource key, interval hash), so the same subject keeps its UUID across
exports. ``methods`` only uses OSCAL's values (here ``TEST``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from agent.export.history import RunIndex, control_findings
from agent.export.population import is_collection_scope
from agent.store.hashing import key_of
from agent.store.timeutil import as_utc

NS_UUID = uuid.UUID("6f1d3c2e-8a4b-5c6d-9e0f-a1b2c3d4e5f6")
NS = "https://annexa.dev/ns/oscal"
RELATED = ("pass", "fail", "excepted")


def _prop(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "ns": NS, "value": str(value)}


def _ts(value: Any) -> str:
    return as_utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")  # type: ignore[union-attr]


def add_interval_observations(doc: dict[str, Any], store: Any, index: RunIndex, *,
                              control_rules: dict[str, Sequence[str]], folders: dict[str, str]) -> int:
    """Add inventory items and per-interval observations to `doc`; returns the number of observations."""
    result = doc["assessment-results"]["results"][0]
    local = result.setdefault("local-definitions", {})
    components = {c["title"]: c["uuid"] for c in local.get("components", []) if c.get("type") == "service"}
    tool = next((c["uuid"] for c in local.get("components", []) if c.get("type") == "software"), None)
    rule_controls: dict[str, list[str]] = {}
    for cid, rules in control_rules.items():
        for rule in rules:
            rule_controls.setdefault(rule, []).append(cid)
    inventory: dict[str, dict[str, Any]] = {}
    observations: list[dict[str, Any]] = []
    related: dict[str, list[dict[str, str]]] = {cid: [] for cid in control_rules}
    for row in control_findings(store, index, sorted(rule_controls)):
        status = row["status"]
        cids = rule_controls.get(row["rule_id"], [])
        subject: dict[str, Any]
        if is_collection_scope(row["resource_id"]):
            comp = components.get(row["source"])
            subject = {"subject-uuid": comp, "type": "component", "title": row["source"]} if comp else {}
        else:
            rkey = key_of(row["source"], row["resource_type"], row["resource_id"])
            item = inventory.get(rkey)
            if item is None:
                item = {"uuid": str(uuid.uuid5(NS_UUID, "resource:" + rkey)),
                        "description": f"{row['resource_type']} {row['resource_name']} from source {row['source']}.",
                        "props": [_prop("resource-id", row["resource_id"]),
                                  _prop("resource-type", row["resource_type"]),
                                  _prop("resource-name", row["resource_name"]), _prop("source", row["source"])]
                        + ([_prop("account", row["account"])] if row["account"] else [])
                        + ([_prop("region", row["region"])] if row["region"] else [])}
                if row["source"] in components:
                    item["implemented-components"] = [{"component-uuid": components[row["source"]]}]
                inventory[rkey] = item
            subject = {"subject-uuid": item["uuid"], "type": "inventory-item", "title": row["resource_name"]}
        obs: dict[str, Any] = {
            "uuid": str(uuid.uuid5(NS_UUID, f"interval:{row['id']}:{row['row_hash']}")),
            "title": f"{row['rule_id']}: {status}",
            "description": row["message"] or row["title"],
            "props": [_prop("rule", row["rule_id"]), _prop("status", status), _prop("severity", row["severity"]),
                      _prop("first-seen", _ts(row["first_seen"])), _prop("last-seen", _ts(row["last_seen"])),
                      _prop("open", "yes" if row["open"] else "no"), _prop("method-detail", "automated")]
            + [_prop("control-id", cid) for cid in cids],
            "methods": ["TEST"], "types": ["finding"],
            "collected": _ts(row["last_seen"]),
        }
        if tool:
            obs["origins"] = [{"actors": [{"type": "tool", "actor-uuid": tool}]}]
        if subject:
            obs["subjects"] = [subject]
        hexd = (row["evidence"] or "").removeprefix("sha256:")
        if hexd and cids and cids[0] in folders:
            obs["relevant-evidence"] = [{"href": f"{folders[cids[0]]}/evidence/{hexd}.json",
                                         "description": "Configuration snapshot the rule evaluated."}]
        if status == "error":
            obs["remarks"] = ("The rule could not be evaluated (or the resource type could not be collected); "
                              "this observation supports neither satisfied nor not-satisfied.")
        elif status == "not_applicable":
            obs["remarks"] = ("Not collected: a declared, approved and expiring expected gap covers this scope "
                              "(reason, approver and expiry in the description); it supports neither satisfied "
                              "nor not-satisfied.")
        elif status == "excepted":
            obs["remarks"] = f"Failure covered by risk acceptance {row['exception'] or ''}".strip() + "."
        observations.append(obs)
        if status in RELATED:
            for cid in cids:
                related[cid].append({"observation-uuid": obs["uuid"]})
    if inventory:
        local["inventory-items"] = list(inventory.values())
    if observations:
        result.setdefault("observations", []).extend(observations)
    for finding in result.get("findings", []):
        cid = finding["target"]["target-id"].removesuffix("_obj")
        if related.get(cid):
            finding.setdefault("related-observations", []).extend(related[cid])
    return len(observations)
