"""Point-in-time queries: the state of every (rule, resource) at an instant, from the finding intervals.

What "the state at T" means: each source's observations take effect when that source's run completes.
At T, the state of a source is what its latest run that had completed (status complete or partial,
``run_sources.finished_at <= T``) observed: the intervals of that source with ``first_run <= R`` that
were still open at R (``open`` or ``last_run >= R``). This is the rule the export timeline uses
(agent.export.history: an interval covers the runs from ``first_run`` to the next run of its source
after ``last_run``), so a sample date in a bundle and ``annexa findings --as-of`` agree with its
per-run status. A source that had not completed a run by T has no state at T.

Every store read of this module is in this one file (``source_runs_at``, ``findings_at``), so a change
of the store's interval representation only needs these two queries adapted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from agent.errors import AnnexaError
from agent.store.schema import findings, run_sources
from agent.store.timeutil import as_utc

COMPLETED = ("complete", "partial")


def parse_as_of(value: str, option: str = "--as-of") -> datetime:
    """A date (its end: 2026-03-01 means 2026-03-01T23:59:59.999999Z) or an ISO 8601 datetime (naive = UTC).

    A date means the end of that day, so "as of 1 March" includes the runs of 1 March.
    """
    from agent.cli.cmd_export import parse_bound
    from agent.clock import now

    try:
        at = parse_bound(value, option, end=True)
    except OverflowError:
        raise AnnexaError(f"{option}: {value!r} is out of range (years 1 to 9999)") from None
    current = now()
    # A date names its whole day, so today's date is allowed although its end is still to come.
    if at > current and not (at.date() == current.date() and len(value.strip()) == 10):
        raise AnnexaError(f"{option}: {value.strip()[:40]!r} is in the future (now is "
                          f"{current.isoformat(timespec='seconds')}); nothing is known about it yet")
    return at


def source_runs_at(store: Any, at: datetime) -> dict[str, int]:
    """source -> id of its latest run that had completed by `at`."""
    at = as_utc(at)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(run_sources.c.source, func.max(run_sources.c.run_id))
            .where(run_sources.c.status.in_(COMPLETED), run_sources.c.finished_at.is_not(None),
                   run_sources.c.finished_at <= at)
            .group_by(run_sources.c.source)).all()
    return {source: int(run_id) for source, run_id in rows}


def findings_at(store: Any, at: datetime, *, rules: Iterable[str] | None = None, status: str | None = None,
                source: str | None = None) -> Iterator[dict[str, Any]]:
    """The finding intervals in force at `at`, streamed, ordered by rule and resource."""
    latest = source_runs_at(store, at)
    if source is not None:
        latest = {s: r for s, r in latest.items() if s == source}
    if not latest:
        return
    c = findings.c
    in_force = or_(*(and_(c.source == s, c.first_run <= r, or_(c.open.is_(True), c.last_run >= r))
                     for s, r in sorted(latest.items())))
    query = select(findings).where(in_force)
    if rules is not None:
        query = query.where(c.rule_id.in_(list(rules)))
    if status:
        query = query.where(c.status == status)
    query = query.order_by(c.rule_id, c.resource_id, c.source)
    with store.engine.connect() as conn:
        for row in conn.execute(query, execution_options={"yield_per": 1000}).mappings():
            yield dict(row)


def counts_at(store: Any, at: datetime) -> dict[str, dict[str, int]]:
    """{rule: {status: n}} at `at` (what store.counts_by_rule() is for the present)."""
    out: dict[str, dict[str, int]] = {}
    for row in findings_at(store, at):
        by = out.setdefault(row["rule_id"], {})
        by[row["status"]] = by.get(row["status"], 0) + 1
    return out


def newest_at(rows: Iterable[dict[str, Any]], at: datetime | None = None) -> dict[str, datetime]:
    """rule -> its newest observation, no later than `at`."""
    out: dict[str, datetime] = {}
    for row in rows:
        seen = as_utc(row["last_seen"])
        if at is not None and seen is not None:
            seen = min(seen, at)
        if seen is not None and (row["rule_id"] not in out or seen > out[row["rule_id"]]):
            out[row["rule_id"]] = seen
    return out


def control_states_at(store: Any, at: datetime, *, catalogue: Any, rules: Iterable[Any],
                      applicability: dict[str, tuple[bool, str | None]]) -> list[Any]:
    """Every control's state at `at`: findings in force then, documents current then."""
    from agent.export.bundle import manual_states_at, relevant_manual
    from agent.export.history import Period
    from agent.manual import manual_evidence_rows
    from agent.status import control_states

    rows = list(findings_at(store, at))
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        by = counts.setdefault(row["rule_id"], {})
        by[row["status"]] = by.get(row["status"], 0) + 1
    docs = relevant_manual(manual_evidence_rows(store, include_removed=True), Period(at, at))
    return control_states(catalogue.controls, rules, counts, applicability=applicability,
                          manual=manual_states_at(docs, at), newest=newest_at(rows, at))
