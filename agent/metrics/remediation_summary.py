"""Remediation figures kept per source at the end of each run, so a scrape does not fold the whole history.

Folding every interval of every key that ever failed (agent.remediation) grows with the history: about
3 s of CPU per scrape at a year of four runs a day over 10,000 resources. Instead the runner calls
`record_remediation` after sealing a run, and a scrape adds up one small summary per source:

* ``fixed``: per severity, the number of fixed failures, the sum of their durations (integer
  microseconds, so that adding and subtracting stays exact) and how many fall in each histogram bucket;
* ``open``: per severity, how many failure episodes are under way, by the time they first failed (an
  open episode's age, and so whether it is past its SLA, depends on the moment of the scrape).

A summary describes the store as of its ``through`` run: every run of the source up to that id was
finished when it was computed. The next run updates it from the keys whose intervals opened or closed
after ``through`` (their history folded as of before and as of after), so an unchanged run costs one
indexed query. A source without a current summary — a store written by an older Annexa, a run still
going, an interrupted one — is folded live at scrape time, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from agent.remediation import episodes
from agent.store.schema import cursors, findings, run_sources

log = logging.getLogger(__name__)

KEY = "annexa.remediation-summary/v2"  # in the per-source `cursors` table: no schema change
BUCKETS_DAYS = (1, 3, 7, 14, 30, 60, 90, 180, 365)
BUCKET_US = tuple(d * 86400 * 1_000_000 for d in BUCKETS_DAYS)
_CHUNK = 500
_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class SeverityFigures:
    fixed: int = 0
    fixed_us: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_US))
    open: dict[int, int] = field(default_factory=dict)  # first-fail time (Unix microseconds) -> episodes

    def add_fixed(self, us: int, sign: int = 1) -> None:
        self.fixed += sign
        self.fixed_us += sign * us
        for i, bound in enumerate(BUCKET_US):
            if us <= bound:
                self.buckets[i] += sign

    def add_open(self, failed_us: int, sign: int = 1) -> None:
        n = self.open.get(failed_us, 0) + sign
        if n:
            self.open[failed_us] = n
        else:
            self.open.pop(failed_us, None)


@dataclass
class RemediationSummary:
    through: int
    by_severity: dict[str, SeverityFigures] = field(default_factory=dict)

    def figures(self, severity: str) -> SeverityFigures:
        return self.by_severity.setdefault(severity, SeverityFigures())

    def merge(self, other: RemediationSummary, sign: int = 1) -> None:
        for severity, fig in other.by_severity.items():
            mine = self.figures(severity)
            mine.fixed += sign * fig.fixed
            mine.fixed_us += sign * fig.fixed_us
            mine.buckets = [a + sign * b for a, b in zip(mine.buckets, fig.buckets, strict=True)]
            for at, n in fig.open.items():
                mine.add_open(at, sign * n)

    def as_json(self) -> dict[str, Any]:
        return {"through": self.through, "severities": {
            sev: {"fixed": f.fixed, "fixed_us": f.fixed_us, "buckets": f.buckets,
                  "open": [[at, n] for at, n in sorted(f.open.items())]}
            for sev, f in sorted(self.by_severity.items())}}

    @classmethod
    def from_json(cls, value: Any) -> RemediationSummary | None:
        try:
            out = cls(int(value["through"]))
            for sev, f in value["severities"].items():
                buckets = [int(b) for b in f["buckets"]]
                if len(buckets) != len(BUCKET_US):
                    return None
                out.by_severity[str(sev)] = SeverityFigures(int(f["fixed"]), int(f["fixed_us"]), buckets,
                                                            {int(at): int(n) for at, n in f["open"]})
            return out
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _US


def fold(rows: Iterable[dict[str, Any]], as_of: int | None, through: int = 0) -> RemediationSummary:
    """Fold intervals (grouped by key, in time order) into figures, as the store stood after run `as_of`
    (None: as it stands now). Rows opened later are left out; rows closed later count as open."""
    def visible() -> Iterator[dict[str, Any]]:
        for row in rows:
            if as_of is None:
                yield row
            elif row["first_run"] <= as_of:
                closed = row["closed_run"]
                yield {**row, "open": closed is None or closed > as_of}

    out = RemediationSummary(through)
    for ep in episodes(visible(), lambda _severity: None):
        if ep.outcome == "fixed" and ep.ended_at is not None:
            out.figures(ep.severity).add_fixed(max((ep.ended_at - ep.failed_at) // _US, 0))
        elif ep.outcome == "open":  # to the second: one entry per second in which failures started
            out.figures(ep.severity).add_open(_micros(ep.failed_at) // 1_000_000 * 1_000_000)
    return out


def _columns() -> list[Any]:
    c = findings.c
    return [c.key, c.source, c.rule_id, c.title, c.severity, c.controls, c.resource_id, c.resource_type,
            c.resource_name, c.account, c.region, c.status, c.first_seen, c.last_seen, c.open, c.id,
            c.first_run, c.closed_run]


def _order() -> list[Any]:
    c = findings.c
    return [c.key, c.first_run, c.first_seen, c.id]


def source_rows(conn: Connection, source: str) -> Iterator[dict[str, Any]]:
    """Every interval of the source's keys that ever failed, by key then time (streamed)."""
    c = findings.c
    failed = select(c.key).where(c.source == source, c.status == "fail").distinct().scalar_subquery()
    query = select(*_columns()).where(c.source == source, c.key.in_(failed)).order_by(*_order())
    for row in conn.execute(query, execution_options={"yield_per": 2000}).mappings():
        yield dict(row)


def _key_rows(conn: Connection, keys: list[str]) -> Iterator[dict[str, Any]]:
    c = findings.c
    for i in range(0, len(keys), _CHUNK):
        query = select(*_columns()).where(c.key.in_(keys[i:i + _CHUNK])).order_by(*_order())
        for row in conn.execute(query).mappings():
            yield dict(row)


def finished_through(conn: Connection, source: str) -> int | None:
    """The highest run id of the source such that no run of it up to that id is still running."""
    rs = run_sources.c
    running = conn.execute(select(func.min(rs.run_id)).where(rs.source == source, rs.status == "running")).scalar()
    if running is not None:
        below = conn.execute(select(func.max(rs.run_id)).where(rs.source == source, rs.run_id < running)).scalar()
        return None if below is None else int(below)
    top = conn.execute(select(func.max(rs.run_id)).where(rs.source == source)).scalar()
    return None if top is None else int(top)


def latest_finished(conn: Connection) -> dict[str, int]:
    """{source: its newest run id that is not running}: a summary must reach it to be current."""
    rs = run_sources.c
    return {src: int(n) for src, n in conn.execute(
        select(rs.source, func.max(rs.run_id)).where(rs.status != "running").group_by(rs.source))}


def stored(conn: Connection, sources: Iterable[str] | None = None) -> dict[str, RemediationSummary]:
    query = select(cursors.c.source, cursors.c.value).where(cursors.c.key == KEY)
    if sources is not None:
        query = query.where(cursors.c.source.in_(list(sources)))
    out: dict[str, RemediationSummary] = {}
    for src, value in conn.execute(query):
        summary = RemediationSummary.from_json(value)
        if summary is not None:
            out[src] = summary
    return out


def updated(conn: Connection, source: str, previous: RemediationSummary | None,
            through: int) -> RemediationSummary:
    """The source's summary as of run `through`: from `previous` and what changed after it, or folded whole."""
    if previous is None:
        return fold(source_rows(conn, source), through, through)
    c = findings.c
    since = previous.through
    touched = list(conn.execute(select(c.key).where(c.source == source, or_(
        and_(c.first_run > since, c.first_run <= through),
        and_(c.closed_run > since, c.closed_run <= through))).distinct()).scalars())
    summary = RemediationSummary(through)
    summary.merge(previous)
    if touched:
        rows = list(_key_rows(conn, sorted(touched)))
        summary.merge(fold(rows, since), sign=-1)
        summary.merge(fold(rows, through))
    return summary


def record_remediation(store: Any, run_id: int) -> None:
    """Bring the remediation summary of every source of a finished run up to date (never fails the run)."""
    try:
        with store.engine.begin() as conn:
            names = list(conn.execute(select(run_sources.c.source).where(run_sources.c.run_id == run_id)).scalars())
            previous = stored(conn, names)
            for name in names:
                through = finished_through(conn, name)
                before = previous.get(name)
                if through is None or (before is not None and before.through >= through):
                    continue
                store.save_cursors(conn, name, {KEY: updated(conn, name, before, through).as_json()})
    except SQLAlchemyError as exc:
        log.warning("could not record the remediation summary of run %s: %s", run_id, exc)


def current(store: Any) -> dict[str, RemediationSummary]:
    """Per source: its stored summary when it reaches the source's newest finished run, else folded live."""
    with store.engine.connect() as conn:
        latest = latest_finished(conn)
        out = {src: s for src, s in stored(conn).items() if src in latest and s.through >= latest[src]}
        for src in sorted(set(latest) - set(out)):
            out[src] = fold(source_rows(conn, src), None, latest[src])
        if not latest:  # intervals without any run_sources row: only a hand-made store
            live = fold(_all_rows(conn), None)
            if live.by_severity:
                out[""] = live
    return out


def _all_rows(conn: Connection) -> Iterator[dict[str, Any]]:
    c = findings.c
    failed = select(c.key).where(c.status == "fail").distinct().scalar_subquery()
    for row in conn.execute(select(*_columns()).where(c.key.in_(failed)).order_by(*_order())).mappings():
        yield dict(row)
