"""remediation.csv and remediation.html: how long the period's failures took to fix, against the SLAs.

Episodes come from agent.remediation (first `fail` to `pass` per rule and resource). The bundle lists
every episode under way during the period, as it stood at the end of the period (an outcome after the
period is not known then), with a summary by severity and by control.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.export.cells import InertCsvWriter
from agent.export.timefmt import ts_text
from agent.export.zipout import BundleWriter
from agent.remediation import DAY, Episode, as_of, in_period, store_episodes

CSV_PATH = "remediation.csv"
HTML_PATH = "remediation.html"
COLUMNS = ("rule", "title", "severity", "controls", "source", "resource_id", "resource_type", "resource_name",
           "account", "region", "first_failed", "resolved_at", "outcome", "days", "sla_days", "due",
           "sla_met")
LIST_CAP = 500


@dataclass
class Group:
    """Summary of the episodes of one severity or one control."""

    name: str
    fixed: int = 0
    fixed_in_sla: int = 0
    fixed_late: int = 0
    open: int = 0
    open_past_sla: int = 0
    excepted: int = 0
    removed: int = 0
    days: list[float] = field(default_factory=list)

    def add(self, ep: Episode, days: float, late: bool) -> None:
        if ep.outcome == "fixed":
            self.fixed += 1
            self.days.append(days)
            if late:
                self.fixed_late += 1
            else:
                self.fixed_in_sla += 1
        elif ep.outcome == "open":
            self.open += 1
            self.open_past_sla += int(late)
        elif ep.outcome == "excepted":
            self.excepted += 1
        else:
            self.removed += 1

    @property
    def median_days(self) -> float | None:
        return round(statistics.median(self.days), 2) if self.days else None

    @property
    def max_days(self) -> float | None:
        return round(max(self.days), 2) if self.days else None

    @property
    def pct_in_sla(self) -> float | None:
        return round(100 * self.fixed_in_sla / self.fixed, 1) if self.fixed else None


@dataclass
class RemediationExport:
    episodes: int = 0
    by_severity: dict[str, Group] = field(default_factory=dict)
    by_control: dict[str, Group] = field(default_factory=dict)
    overdue: list[dict[str, Any]] = field(default_factory=list)  # open past SLA, oldest first (capped)
    overdue_total: int = 0
    sla_days: dict[str, float | None] = field(default_factory=dict)


def write_remediation(writer: BundleWriter, store: Any, *, rule_ids: Iterable[str], controls: Iterable[str],
                      start: datetime, end: datetime, sla_for: Any) -> RemediationExport:
    """Write remediation.csv (every episode of these rules under way in [start, end]) and summarise it."""
    wanted = set(controls)
    out = RemediationExport(sla_days={s: sla_for(s) for s in ("critical", "high", "medium", "low", "info")})
    overdue: list[tuple[datetime, dict[str, Any]]] = []
    with writer.open_text(CSV_PATH) as fh:
        rows = InertCsvWriter(fh)
        rows.writerow(COLUMNS)
        for raw in store_episodes(store, sla_for, sorted(set(rule_ids))):
            if not in_period(raw, start, end):
                continue
            ep = as_of(raw, end)
            days = ep.seconds(end) / DAY
            late = ep.past_sla(end)
            met = "" if ep.due is None or ep.outcome in ("excepted", "removed") else ("no" if late else "yes")
            rows.writerow([ep.rule, ep.title, ep.severity, " ".join(ep.controls), ep.source, ep.resource_id,
                           ep.resource_type, ep.resource_name, ep.account or "", ep.region or "",
                           ts_text(ep.failed_at), ts_text(ep.ended_at) or "", ep.outcome, f"{days:.3f}",
                           "" if ep.sla_days is None else f"{ep.sla_days:g}", ts_text(ep.due) or "", met])
            out.episodes += 1
            out.by_severity.setdefault(ep.severity, Group(ep.severity)).add(ep, days, late)
            for cid in ep.controls:
                if cid in wanted:
                    out.by_control.setdefault(cid, Group(cid)).add(ep, days, late)
            if ep.outcome == "open" and late:
                out.overdue_total += 1
                if len(overdue) < LIST_CAP:
                    overdue.append((ep.failed_at, {"rule": ep.rule, "severity": ep.severity,
                                                   "resource_name": ep.resource_name,
                                                   "resource_id": ep.resource_id, "failed_at": ep.failed_at,
                                                   "due": ep.due, "days": round(days, 1)}))
    out.overdue = [b for _, b in sorted(overdue, key=lambda t: t[0])]
    order = {s: i for i, s in enumerate(("critical", "high", "medium", "low", "info"))}
    out.by_severity = dict(sorted(out.by_severity.items(), key=lambda kv: order.get(kv[0], 99)))
    out.by_control = dict(sorted(out.by_control.items(), key=lambda kv: _control_key(kv[0])))
    return out


def _control_key(cid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in cid.removeprefix("A.").split(".") if p.isdigit())
