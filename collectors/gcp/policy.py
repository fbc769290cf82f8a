"""IAM policy facts the rules judge, derived from the raw policy JSON (which is kept beside them).

Members are parsed into kind, e-mail and domain with the roles they hold, public principals are
listed, Google-managed service agents are marked, and the audit-log configuration in force for a
resource is the union of its own and its ancestors' `auditConfigs` (Cloud Audit Logs merges them
that way: a log type enabled anywhere above is enabled, exemptions add up).
"""

from __future__ import annotations

import re
from typing import Any

PUBLIC = frozenset({"allUsers", "allAuthenticatedUsers"})
PRIMITIVE = frozenset({"roles/owner", "roles/editor"})
# Google-managed service agents act for Google services and hold broad roles by design.
SERVICE_AGENT = re.compile(r"^service-\d+@|^\d+@cloudservices\.gserviceaccount\.com$"
                           r"|^\d+@cloudbuild\.gserviceaccount\.com$|@gcp-sa-[a-z0-9-]+\.iam\.gserviceaccount\.com$")


def parse_member(member: str) -> dict[str, Any]:
    """`user:ann@acme.com` -> kind user, e-mail, domain; `domain:acme.com`; `allUsers`; `deleted:...`."""
    kind, _, value = member.partition(":")
    if not value:
        return {"member": member, "kind": member, "email": None, "domain": None}
    if kind == "deleted":
        inner = parse_member(value.split("?", 1)[0])
        return {**inner, "member": member, "kind": "deleted", "deletedKind": inner["kind"]}
    email = value.split("?", 1)[0] if "@" in value else None
    domain = email.rsplit("@", 1)[1].lower() if email else (value.lower() if kind == "domain" else None)
    out: dict[str, Any] = {"member": member, "kind": kind, "email": email, "domain": domain}
    if kind == "serviceAccount" and email:
        out["googleManaged"] = bool(SERVICE_AGENT.search(email))
    return out


def members(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per member with every role it holds (conditional grants listed apart as well)."""
    by_member: dict[str, dict[str, Any]] = {}
    for item in policy.get("bindings") or []:
        role = item.get("role", "")
        condition = item.get("condition")
        for member in item.get("members") or []:
            entry = by_member.setdefault(member, {**parse_member(member), "roles": [], "conditionalRoles": []})
            if role not in entry["roles"]:
                entry["roles"].append(role)
            if condition:
                entry["conditionalRoles"].append({"role": role, "condition": condition.get("title")
                                                  or condition.get("expression")})
    return sorted(by_member.values(), key=lambda m: m["member"])


def public_grants(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"member": m, "role": b.get("role"), "conditional": "condition" in b}
            for b in policy.get("bindings") or [] for m in b.get("members") or [] if m in PUBLIC]


def effective_audit_configs(chain: list[tuple[str, dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """Union of `auditConfigs` along `chain` [(resource name, policy)]: one entry per (service, log type)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for name, policy in chain:
        for config in (policy or {}).get("auditConfigs") or []:
            service = config.get("service", "")
            for log_config in config.get("auditLogConfigs") or []:
                key = (service, log_config.get("logType", ""))
                entry = merged.setdefault(key, {"service": key[0], "logType": key[1], "exemptedMembers": [],
                                                "setAt": []})
                entry["setAt"].append(name)
                for member in log_config.get("exemptedMembers") or []:
                    if member not in entry["exemptedMembers"]:
                        entry["exemptedMembers"].append(member)
    return sorted(merged.values(), key=lambda e: (e["service"], e["logType"]))


def logged_services(configs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Services with each log type on (`allServices` stands for every service)."""
    out: dict[str, list[str]] = {"ADMIN_READ": [], "DATA_READ": [], "DATA_WRITE": []}
    for entry in configs:
        if entry["logType"] in out and entry["service"] not in out[entry["logType"]]:
            out[entry["logType"]].append(entry["service"])
    return out


def policy_data(resource: str, resource_type: str, policy: dict[str, Any], *, ancestors: list[str],
                chain_policies: list[tuple[str, dict[str, Any] | None]], inherited_errors: list[str],
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The evidence of one `gcp.iam.policy`: the raw policy plus the facts derived from it."""
    configs = effective_audit_configs([(resource, policy), *chain_policies])
    return {"resource": resource, "resourceType": resource_type, **(extra or {}), "policy": policy,
            "members": members(policy), "publicGrants": public_grants(policy),
            "conditionalBindings": sum(1 for b in policy.get("bindings") or [] if "condition" in b),
            "ancestors": ancestors, "effectiveAuditLogConfigs": configs,
            "auditLoggedServices": logged_services(configs), "inheritedPolicyErrors": inherited_errors}
