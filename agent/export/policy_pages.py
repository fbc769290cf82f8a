"""Render the bundle's policy pages: policy.html, soa-versions.html and exceptions.html (same look as the rest)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.export.exceptions_register import Register, page_rows
from agent.export.html import _env
from agent.export.policy_inputs import RUN_MANIFESTS, PolicyHistory
from agent.export.soa_pages import SoaVersion

KINDS = (("rule_pack", "Rule packs"), ("rule_code", "Python rule code"), ("soa", "Statement of Applicability"),
         ("exceptions", "Exceptions files"))


def render_policy(policy: PolicyHistory, period: dict[str, Any]) -> str:
    return _env().get_template("policy.html").render(
        period=period, kinds=KINDS, versions={k: policy.of_kind(k) for k, _ in KINDS},
        unrecorded=policy.unrecorded, runs_file=RUN_MANIFESTS)


def render_soa_versions(versions: list[SoaVersion], used: dict[str, Any], period: dict[str, Any]) -> str:
    items = []
    for s in versions:
        entries = s.record.entries.values() if s.record else []
        applicable = sum(1 for e in entries if e.applicable)
        items.append({"version": s.version, "record": s.record, "error": s.error, "changes": s.changes,
                      "text_diff": s.text_diff, "applicable": applicable,
                      "excluded": (len(s.record.entries) - applicable) if s.record else 0})
    return _env().get_template("soa-versions.html").render(period=period, versions=items, used=used)


def render_exceptions(register: Register, period: dict[str, Any], exported: Iterable[str]) -> str:
    return _env().get_template("exceptions.html").render(
        period=period, rows=page_rows(register), problems=register.problems, exported=set(exported))
