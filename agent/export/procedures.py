"""Test procedures for a control page: how each of its rules judges evidence, and which versions ran.

For a JMESPath rule the logic is its expressions (``where``, ``assert``, ``unknown_if``) and the
evidence fields they read (taken from the expressions' syntax trees); for a Python rule it is the
function's docstring and the module file, which the bundle carries under policy/code/.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import jmespath

from agent.export.policy_inputs import PolicyHistory, bundle_path


def _walk(node: Any, out: set[str]) -> str | None:
    """Collect dotted field paths from a JMESPath AST; returns this node's path when it is a plain chain."""
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    if kind == "field":
        return str(node.get("value"))
    if kind == "subexpression":
        parts = [_walk(child, out) for child in node.get("children", [])]
        if all(parts):
            return ".".join(p for p in parts if p)
        for p in parts:
            if p:
                out.add(p)
        return None
    for child in node.get("children", []):
        path = _walk(child, out)
        if path:
            out.add(path)
    return None


def fields_read(expressions: Iterable[str | None]) -> list[str]:
    """The evidence fields (dotted paths, relative to where each expression applies) the expressions read."""
    out: set[str] = set()
    for expr in expressions:
        if not expr:
            continue
        try:
            tree = jmespath.compile(expr).parsed
        except Exception:  # a rule file that loaded always compiles; be safe on odd input
            continue
        top = _walk(tree, out)
        if top:
            out.add(top)
    return sorted(out)


def _docstring(function: str | None) -> str:
    from agent.rules.loader import resolve_function

    try:
        return inspect.getdoc(resolve_function(function or "")) or ""
    except ValueError:
        return ""


def version_logic(policy: PolicyHistory, digest: str, rule_id: str) -> dict[str, Any] | None:
    """The rule's expressions as that rule pack version wrote them (None when it cannot be read)."""
    from agent.yamlfile import load_yaml_text

    try:
        doc = load_yaml_text(policy.store.blobs.get_bytes(digest).decode("utf-8"), digest)
        item = next(r for r in doc.get("rules", []) if isinstance(r, dict) and r.get("id") == rule_id)
    except Exception:  # an unreadable or foreign file: the page says the logic is not available
        return None
    exprs = {k: (str(item[k]) if item.get(k) is not None else None) for k in ("where", "assert", "unknown_if")}
    return {**exprs, "function": item.get("function"), "severity": item.get("severity"),
            "fields": fields_read(exprs.values())}


def procedures(rule_ids: Iterable[str], rules: dict[str, Any], policy: PolicyHistory,
               control_id: str) -> list[dict[str, Any]]:
    """One entry per rule of the control: title, severity, inputs, logic, and the versions run in the period."""
    out = []
    for rid in rule_ids:
        rule = rules.get(rid)
        versions = []
        for v in policy.rule_versions(rid):
            versions.append({**v, "findings": policy.counts.get((control_id, rid, v["sha256"]), 0),
                             "logic": version_logic(policy, v["sha256"], rid)})
        entry: dict[str, Any] = {"id": rid, "versions": versions, "known": rule is not None}
        if rule is not None:
            entry.update({
                "title": rule.title, "severity": rule.severity.value, "kind": rule.kind,
                "resources": list(rule.input_types), "guidance": rule.guidance, "remediation": rule.remediation,
                "where": rule.where, "assert": rule.assert_, "unknown_if": rule.unknown_if,
                "fields": fields_read([rule.where, rule.assert_, rule.unknown_if]) if rule.kind == "jmespath" else [],
                "function": rule.function, "docstring": _docstring(rule.function) if rule.kind == "python" else "",
                "params": rule.params,
            })
            if rule.kind == "python":
                from agent.policy_inputs import code_path

                code = code_path(rule.function)
                digest = None
                for v in versions:
                    doc = policy.rule_set((policy.inputs_of(v["last_run"]) or {}).get("rule_set")) or {}
                    digest = (doc.get("rules", {}).get(rid) or {}).get("code") or digest
                entry["code_file"] = bundle_path("rule_code", digest) if digest else None
                entry["code_path"] = code.name if code else None
        out.append(entry)
    return out
