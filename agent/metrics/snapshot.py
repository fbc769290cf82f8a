"""What the exporter knows at one instant: every number it publishes, read from the store in a few queries.

The snapshot is plain data so that computing it (SQL) and exposing it (Prometheus families) stay apart,
and so that one computation can serve many scrapes.

Counting every open finding at each scrape grows with the store (0.8 s at 200,000 resources, several
seconds at 1M). So at the end of each run the runner calls `record_summaries`, which stores per source
a small summary — open findings by (rule, status, severity) with their newest `last_seen`, and the
number of open resources — and a scrape adds up those summaries. A source whose latest run has no
summary (an interrupted run, a store written by an older Annexa) is counted live, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from agent.health import real_errors
from agent.model import Severity, Status
from agent.status import control_states
from agent.store.schema import cursors, findings, resource_states, run_sources
from agent.store.timeutil import as_utc

if TYPE_CHECKING:
    from agent.catalogue import Control
    from agent.rules.spec import Rule
    from agent.status import ManualEvidenceState
    from agent.store.store import EvidenceStore

log = logging.getLogger(__name__)

FINDING_STATUSES = tuple(s.value for s in Status)
NO_EVIDENCE = (Status.ERROR.value, Status.NOT_APPLICABLE.value)  # findings that rest on no evidence read
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
    evidence_at: float | None = None  # Unix time of the newest current evidence
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
    ops: Any = None  # agent.metrics.ops.OpsFigures, added by the exporter


def _ts(value: Any) -> float | None:
    dt = as_utc(value)
    return None if dt is None else dt.timestamp()


def catalogue_rows(controls: Iterable[Control]) -> list[ControlRow]:
    return [ControlRow(c.id, c.theme, c.title) for c in controls]


def store_down(controls: Iterable[Control], now: float | None = None) -> Snapshot:
    """What can be said without the store: the catalogue, and that the store is unreachable."""
    return Snapshot(computed_at=now or time.time(), store_up=False, controls=catalogue_rows(controls))


SUMMARY_KEY = "annexa.metrics-summary/v2"  # per-source `cursors` table; v1 took a stale last_seen as newest


@dataclass
class SourceSummary:
    """Open findings and resources of one source, as of the end of one run."""
    run_id: int | None
    findings: list[tuple[str, str, str, int, float | None]]  # rule, status, severity, n, newest last_seen
    resources: int

    def as_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "resources": self.resources, "findings": [list(f) for f in self.findings]}

    @classmethod
    def from_json(cls, value: Any) -> SourceSummary | None:
        try:
            return cls(int(value["run_id"]), [(str(r), str(st), str(sev), int(n), None if t is None else float(t))
                                              for r, st, sev, n, t in value["findings"]], int(value["resources"]))
        except (KeyError, TypeError, ValueError):
            return None


def _live_summaries(conn: Connection, sources: list[str] | None,
                    cover: dict[str, tuple[int, Any]]) -> dict[str, SourceSummary]:
    """Summaries computed from the open rows themselves (`sources` None: every source).

    An open interval's `last_seen` is not written run after run: it is the end of the newest sealed run
    that covered its source (`cover`, EvidenceStore.coverage) once that run is at least as new as the
    interval, else the interval's own `first_seen`; the newest of a group follows from its oldest
    `first_run` and newest `first_seen`.
    """
    out: dict[str, SourceSummary] = {}
    query = (select(findings.c.source, findings.c.rule_id, findings.c.status, findings.c.severity, func.count(),
                    func.min(findings.c.first_run), func.max(findings.c.first_seen))
             .where(findings.c.open.is_(True))
             .group_by(findings.c.source, findings.c.rule_id, findings.c.status, findings.c.severity))
    res = select(resource_states.c.source, func.count()).where(resource_states.c.open.is_(True))
    if sources is not None:
        query = query.where(findings.c.source.in_(sources))
        res = res.where(resource_states.c.source.in_(sources))
    for src, rule, st, sev, n, oldest_run, newest_opened in conn.execute(query):
        seen = _ts(newest_opened)
        covered = cover.get(src)
        if covered is not None and covered[0] >= oldest_run:
            at = _ts(covered[1])
            seen = at if seen is None or (at is not None and at > seen) else seen
        out.setdefault(src, SourceSummary(None, [], 0)).findings.append((rule, st, sev, int(n), seen))
    for src, n in conn.execute(res.group_by(resource_states.c.source)):
        out.setdefault(src, SourceSummary(None, [], 0)).resources = int(n)
    return out


def record_summaries(store: EvidenceStore, run_id: int) -> None:
    """Store the summary of every source of a finished run (called by the runner after sealing it).

    Never fails the run: without a summary, a scrape counts that source live.
    """
    try:
        _record(store, run_id)
    except SQLAlchemyError as exc:
        log.warning("could not record the metrics summary of run %s: %s", run_id, exc)


def _record(store: EvidenceStore, run_id: int) -> None:
    with store.engine.begin() as conn:
        names = list(conn.execute(select(run_sources.c.source).where(run_sources.c.run_id == run_id)).scalars())
        if not names:
            return
        live = _live_summaries(conn, names, store.coverage(conn))
        for name in names:
            summary = live.get(name) or SourceSummary(None, [], 0)
            summary.run_id = run_id
            store.save_cursors(conn, name, {SUMMARY_KEY: summary.as_json()})


def summaries(store: EvidenceStore) -> dict[str, SourceSummary]:
    """Per source: its stored summary if it describes the source's latest run, else a live count."""
    with store.engine.connect() as conn:
        latest = dict(conn.execute(select(run_sources.c.source, func.max(run_sources.c.run_id))
                                   .group_by(run_sources.c.source)).all())
        out: dict[str, SourceSummary] = {}
        for src, value in conn.execute(select(cursors.c.source, cursors.c.value).where(cursors.c.key == SUMMARY_KEY)):
            summary = SourceSummary.from_json(value)
            if summary is not None and src in latest and summary.run_id == latest[src]:
                out[src] = summary
        stale = sorted(set(latest) - set(out))
        if stale:
            out.update(_live_summaries(conn, stale, store.coverage(conn)))
        elif not latest:  # rows without any run_sources row: only a hand-made store
            out.update(_live_summaries(conn, None, store.coverage(conn)))
    return out


def finding_counts(store: EvidenceStore, sources: Iterable[str],
                   summary: dict[str, SourceSummary] | None = None) -> dict[tuple[str, str, str], int]:
    """Current findings by (status, severity, source); every combination present for each known source."""
    counts: dict[tuple[str, str, str], int] = {}
    seen = set(sources)
    for src, sm in (summaries(store) if summary is None else summary).items():
        for _rule, st, sev, n, _t in sm.findings:
            counts[(st, sev, src)] = counts.get((st, sev, src), 0) + n
            seen.add(src)
    for src in seen:
        for st in FINDING_STATUSES:
            for sev in SEVERITIES:
                counts.setdefault((st, sev, src), 0)
    return counts


def by_rule_and_newest(summary: dict[str, SourceSummary]) -> tuple[dict[str, dict[str, int]], dict[str, Any]]:
    """{rule: {status: n}} and {rule: newest last_seen of its non-error findings}, from the summaries."""
    by_rule: dict[str, dict[str, int]] = {}
    newest: dict[str, float] = {}
    for sm in summary.values():
        for rule, st, _sev, n, seen in sm.findings:
            statuses = by_rule.setdefault(rule, {})
            statuses[st] = statuses.get(st, 0) + n
            if st not in NO_EVIDENCE and seen is not None and seen > newest.get(rule, float("-inf")):
                newest[rule] = seen
    return by_rule, {rule: datetime.fromtimestamp(t, UTC) for rule, t in newest.items()}


def rule_counts(by_rule: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    """(rule, status) for every rule with a current finding; the other statuses of such a rule are 0."""
    out: dict[tuple[str, str], int] = {}
    for rule, statuses in by_rule.items():
        for st in FINDING_STATUSES:
            out[(rule, st)] = int(statuses.get(st, 0))
    return out


def source_stats(store: EvidenceStore, configured: Iterable[str],
                 summary: dict[str, SourceSummary] | None = None) -> dict[str, SourceStats]:
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
            stats.errors += len(real_errors(errors)) + (1 if status == "failed" else 0)  # expected gaps excluded
    for src, sm in (summaries(store) if summary is None else summary).items():
        out.setdefault(src, SourceStats()).resources = sm.resources
    return out


def newest_evidence(store: EvidenceStore) -> dict[str, Any]:
    """{rule: newest last_seen} over current findings that rest on evidence.

    `error` and `not_applicable` findings are left out: they say the resource could not be read (an
    expected gap is still unread), so they must not make a control's evidence look fresh.
    """
    return store.newest_evidence_by_rule(skip_errors=True)  # last_seen of open intervals is derived


def compute(store: EvidenceStore, controls: list[Control], rules: list[Rule], *,
            applicability: dict[str, tuple[bool, str | None]],
            manual: dict[str, ManualEvidenceState], configured_sources: Iterable[str],
            now: float | None = None) -> Snapshot:
    """Read everything the exporter publishes from the store. Raises on database errors."""
    started = time.monotonic()
    now = time.time() if now is None else now
    summary = summaries(store)
    by_rule, newest = by_rule_and_newest(summary)
    states = control_states(controls, rules, by_rule, applicability=applicability, manual=manual,
                            newest=newest)
    rows = catalogue_rows(controls)
    for row, state in zip(rows, states, strict=True):
        row.status = state.status
        newest = _ts(state.newest_evidence)
        row.evidence_age = None if newest is None else max(0.0, now - newest)
        row.evidence_at = newest
        row.manual_expiry = _ts(state.manual.earliest_expiry) if state.manual.current else None
    sources = source_stats(store, configured_sources, summary)
    snap = Snapshot(computed_at=now, store_up=True, controls=rows, findings=finding_counts(store, sources, summary),
                    rule_findings=rule_counts(by_rule), sources=sources)
    snap.compute_seconds = time.monotonic() - started
    return snap
