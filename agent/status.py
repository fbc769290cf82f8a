"""Control status: from current findings of the rules mapped to a control, the SoA and manual evidence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.catalogue import Control
from agent.rules.spec import Rule

CONTROL_STATUSES = ("passing", "failing", "unknown", "manual", "not_applicable")


@dataclass
class ManualEvidenceState:
    current: int = 0
    expired: int = 0
    newest: datetime | None = None
    earliest_expiry: datetime | None = None


@dataclass
class ControlState:
    control: Control
    applicable: bool = True
    justification: str | None = None
    status: str = "unknown"
    rules: list[str] = field(default_factory=list)
    passing: int = 0
    failing: int = 0
    errors: int = 0
    excepted: int = 0
    manual: ManualEvidenceState = field(default_factory=ManualEvidenceState)
    newest_evidence: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        c = self.control
        return {
            "id": c.id, "title": c.title, "theme": c.theme,
            "attributes": {k: list(v) for k, v in c.attributes.items()},
            "iso27001_2013": list(c.iso27001_2013), "guidance": c.guidance_text(),
            "applicable": self.applicable, "status": self.status, "rules": len(self.rules),
            "passing": self.passing, "failing": self.failing, "errors": self.errors,
            "excepted": self.excepted, "manual_evidence": self.manual.current,
            "evidence_mode": c.evidence_mode, "new_in_2022": c.new_in_2022,
        }


def rules_by_control(rules: Iterable[Rule]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rule in rules:
        for cid in rule.controls:
            out.setdefault(cid, []).append(rule.id)
    return out


def decide(state: ControlState) -> str:
    """The one place that turns counts into a control status."""
    if not state.applicable:
        return "not_applicable"
    if state.failing:
        return "failing"
    if state.errors:
        return "unknown"
    if state.passing or state.excepted:
        return "passing"
    if state.manual.current:
        return "manual"
    if state.manual.expired:
        return "failing"
    return "unknown"


def control_states(controls: Iterable[Control], rules: Iterable[Rule],
                   counts: Mapping[str, Mapping[str, int]], *,
                   applicability: Mapping[str, tuple[bool, str | None]] | None = None,
                   manual: Mapping[str, ManualEvidenceState] | None = None,
                   newest: Mapping[str, datetime | None] | None = None) -> list[ControlState]:
    """One ControlState per control, in catalogue order."""
    mapping = rules_by_control(rules)
    out: list[ControlState] = []
    for control in controls:
        state = ControlState(control=control, rules=mapping.get(control.id, []))
        if applicability and control.id in applicability:
            state.applicable, state.justification = applicability[control.id]
        for rule_id in state.rules:
            c = counts.get(rule_id, {})
            state.passing += c.get("pass", 0)
            state.failing += c.get("fail", 0)
            state.errors += c.get("error", 0)
            state.excepted += c.get("excepted", 0)
            seen = (newest or {}).get(rule_id)
            if seen and (state.newest_evidence is None or seen > state.newest_evidence):
                state.newest_evidence = seen
        if manual and control.id in manual:
            state.manual = manual[control.id]
            if state.manual.newest and (state.newest_evidence is None or state.manual.newest > state.newest_evidence):
                state.newest_evidence = state.manual.newest
        state.status = decide(state)
        out.append(state)
    return out
