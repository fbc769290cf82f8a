"""What the exporter knows at one instant: every number it publishes, read from the store in a few queries.

The snapshot is plain data so that computing it (SQL) and exposing it (Prometheus families) stay apart,
and so that one computation can serve many scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from agent.model import Severity, Status
from agent.status import control_states
from agent.store.schema import findings, resource_states, run_sources
from agent.store.timeutil import as_utc

if TYPE_CHECKING:
    from agent.catalogue import Control
    from agent.rules.spec import Rule
    from agent.status import ManualEvidenceState
    from agent.store.store import EvidenceStore

FINDING_STATUSES = tuple(s.value for s in Status)
SEVERITIES = tuple(s.value for s in Severity)
#: A source counts as successfully collected only when its run completed without collection errors.
SUCCESS = ("complete",)
#: Run statuses whose duration is meaningful (the collection reached its end).
FINISHED = ("complete", "partial")


@dataclass
class SourceStats:
    last_success: float | None = None
    last_run: float | None = None
    duration: float | None = None
    errors: int = 0
    resources: int = 0


@dataclass
class ControlRow:
    id: str
    theme: str
    title: str
    status: str | None = None  # None when the store could not be read
    evidence_age: float | None = None
    manual_expiry: float | None = None


@dataclass
class Snapshot:
    computed_at: float
    store_up: bool
    controls: list[ControlRow]
    findings: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (status, severity, source)
    rule_findings: dict[tuple[str, str], int] = field(default_factory=dict)  # (rule, status)
    sources: dict[str, SourceStats] = field(default_factory=dict)
    compute_seconds: float = 0.0


def _ts(value: Any) -> float | None:
    dt = as_utc(value)
    return None if dt is None else dt.timestamp()


def catalogue_rows(controls: Iterable[Control]) -> list[ControlRow]:
    return [ControlRow(c.id, c.theme, c.title) for c in controls]


def store_down(controls: Iterable[Control], now: float | None = None) -> Snapshot:
    """What can be said without the store: the catalogue, and that the store is unreachable."""
    return Snapshot(computed_at=now or time.time(), store_up=False, controls=catalogue_rows(controls))


def finding_counts(store: EvidenceStore, sources: Iterable[str]) -> dict[tuple[str, str, str], int]:
    """Current findings by (status, severity, source); every combination present for each known source."""
    counts: dict[tuple[str, str, str], int] = {}
    seen = set(sources)
    with store.engine.connect() as conn:
        for src, st, sev, n in conn.execute(
            select(findings.c.source, findings.c.status, findings.c.severity, func.count())
            .where(findings.c.open.is_(True))
            .group_by(findings.c.source, findings.c.status, findings.c.severity)
        ):
            counts[(st, sev, src)] = int(n)
            seen.add(src)
    for src in seen:
        for st in FINDING_STATUSES:
            for sev in SEVERITIES:
                counts.setdefault((st, sev, src), 0)
    return counts


def rule_counts(by_rule: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    """(rule, status) for every rule with a current finding; the other statuses of such a rule are 0."""
    out: dict[tuple[str, str], int] = {}
    for rule, statuses in by_rule.items():
        for st in FINDING_STATUSES:
            out[(rule, st)] = int(statuses.get(st, 0))
    return out


def source_stats(store: EvidenceStore, configured: Iterable[str]) -> dict[str, SourceStats]:
    """Per source, from the whole run history: last success, last run, last duration, errors, resources."""
    rs = run_sources.c
    out: dict[str, SourceStats] = {name: SourceStats() for name in configured}
    with store.engine.connect() as conn:
        for src, started in conn.execute(select(rs.source, func.max(rs.started_at)).group_by(rs.source)):
            out.setdefault(src, SourceStats()).last_run = _ts(started)
        for src, finished in conn.execute(select(rs.source, func.max(rs.finished_at))
                                          .where(rs.status.in_(SUCCESS)).group_by(rs.source)):
            out.setdefault(src, SourceStats()).last_success = _ts(finished)
        latest = (select(rs.source.label("source"), func.max(rs.finished_at).label("finished"))
                  .where(rs.status.in_(FINISHED)).group_by(rs.source).subquery())
        for src, seconds in conn.execute(
            select(rs.source, rs.duration_seconds)
            .join(latest, and_(rs.source == latest.c.source, rs.finished_at == latest.c.finished))
        ):
            out.setdefault(src, SourceStats()).duration = float(seconds or 0.0)
        # Errors are summed over the whole history, so the counter only ever grows.
        for src, status, errors in conn.execute(select(rs.source, rs.status, rs.errors)
                                                .where(rs.status.in_(("partial", "failed")))):
            stats = out.setdefault(src, SourceStats())
            stats.errors += len(errors or []) + (1 if status == "failed" else 0)
        for src, n in conn.execute(select(resource_states.c.source, func.count())
                                   .where(resource_states.c.open.is_(True)).group_by(resource_states.c.source)):
            out.setdefault(src, SourceStats()).resources = int(n)
    return out


def newest_evidence(store: EvidenceStore) -> dict[str, Any]:
    """{rule: newest last_seen} over current findings that rest on evidence.

    `error` findings are left out: they say the resource could not be read, so they must not make
    a control's evidence look fresh.
    """
    return store.newest_evidence_by_rule(skip_errors=True)  # last_seen of open intervals is derived


def compute(store: EvidenceStore, controls: list[Control], rules: list[Rule], *,
            applicability: dict[str, tuple[bool, str | None]],
            manual: dict[str, ManualEvidenceState], configured_sources: Iterable[str],
            now: float | None = None) -> Snapshot:
    """Read everything the exporter publishes from the store. Raises on database errors."""
    started = time.monotonic()
    now = time.time() if now is None else now
    by_rule = store.counts_by_rule()
    states = control_states(controls, rules, by_rule, applicability=applicability, manual=manual,
                            newest=newest_evidence(store))
    rows = catalogue_rows(controls)
    for row, state in zip(rows, states, strict=True):
        row.status = state.status
        newest = _ts(state.newest_evidence)
        row.evidence_age = None if newest is None else max(0.0, now - newest)
        row.manual_expiry = _ts(state.manual.earliest_expiry) if state.manual.current else None
    sources = source_stats(store, configured_sources)
    snap = Snapshot(computed_at=now, store_up=True, controls=rows, findings=finding_counts(store, sources),
                    rule_findings=rule_counts(by_rule), sources=sources)
    snap.compute_seconds = time.monotonic() - started
    return snap
