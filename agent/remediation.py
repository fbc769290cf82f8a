"""Remediation timeliness: how long failures took to fix, from the finding intervals, against SLAs.

For each (source, rule, resource) key, its intervals in time order form episodes: an episode starts at
the first interval with status ``fail`` and ends at the first later interval that is not a failure:

* ``pass`` -> outcome ``fixed`` at that interval's ``first_seen`` (the run that saw it fixed);
* ``excepted`` -> outcome ``excepted`` (a risk acceptance took over; not a fix, not overdue);
* the key's last interval is closed (the resource or rule disappeared) -> outcome ``removed`` at its
  ``last_seen``;
* otherwise the episode is ``open``; its age runs to the moment of evaluation.

``error`` intervals inside an episode do not end it: an unreadable resource is not a fixed one.
The SLA of an episode is that of the severity it first failed with (``remediation.sla_days``).
All store reads are in ``failure_intervals`` (one query), so they can follow a store redesign.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from agent.store.schema import findings
from agent.store.timeutil import as_utc

DAY = 86400.0
OUTCOMES = ("fixed", "open", "excepted", "removed")


@dataclass
class Episode:
    """One failure of one rule on one resource, from its first `fail` to its outcome."""

    rule: str
    title: str
    severity: str
    controls: list[str]
    source: str
    resource_id: str
    resource_type: str
    resource_name: str
    account: str | None
    region: str | None
    failed_at: datetime
    ended_at: datetime | None
    outcome: str
    sla_days: float | None

    def seconds(self, now: datetime) -> float:
        """Time to remediate (closed episodes) or age so far (open ones, measured at `now`)."""
        end = self.ended_at if self.ended_at is not None else now
        return max((end - self.failed_at).total_seconds(), 0.0)

    @property
    def due(self) -> datetime | None:
        return None if self.sla_days is None else self.failed_at + timedelta(days=self.sla_days)

    def past_sla(self, now: datetime) -> bool:
        """Open past its due date at `now`, or fixed after its due date."""
        due = self.due
        if due is None or self.outcome in ("excepted", "removed"):
            return False
        return (self.ended_at if self.outcome == "fixed" else now) > due  # type: ignore[operator]


def failure_intervals(store: Any, rules: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every interval of the keys that ever failed, ordered by key then time (streamed)."""
    c = findings.c
    failed = select(c.key).where(c.status == "fail")
    if rules is not None:
        failed = failed.where(c.rule_id.in_(list(rules)))
    query = (select(c.key, c.source, c.rule_id, c.title, c.severity, c.controls, c.resource_id, c.resource_type,
                    c.resource_name, c.account, c.region, c.status, c.first_seen, c.last_seen, c.open, c.id)
             .where(c.key.in_(failed.distinct().scalar_subquery()))
             .order_by(c.key, c.first_run, c.first_seen, c.id))
    with store.engine.connect() as conn:
        for row in conn.execute(query, execution_options={"yield_per": 2000}).mappings():
            yield dict(row)


def episodes(rows: Iterable[dict[str, Any]], sla_for: Any) -> Iterator[Episode]:
    """Fold intervals (grouped by key, time-ordered) into failure episodes. `sla_for(severity)` -> days."""
    key: str | None = None
    current: Episode | None = None
    last: dict[str, Any] | None = None

    def finish() -> Iterator[Episode]:
        if current is not None and last is not None:
            if not last["open"]:
                current.outcome, current.ended_at = "removed", as_utc(last["last_seen"])
            yield current

    for row in rows:
        if row["key"] != key:
            yield from finish()
            key, current = row["key"], None
        last = row
        status = row["status"]
        if current is None:
            if status == "fail":
                current = Episode(
                    rule=row["rule_id"], title=row["title"], severity=row["severity"],
                    controls=list(row["controls"] or []), source=row["source"], resource_id=row["resource_id"],
                    resource_type=row["resource_type"], resource_name=row["resource_name"],
                    account=row["account"], region=row["region"], failed_at=as_utc(row["first_seen"]),
                    ended_at=None, outcome="open", sla_days=sla_for(row["severity"]))
            continue
        if status in ("pass", "excepted"):
            current.outcome = "fixed" if status == "pass" else "excepted"
            current.ended_at = as_utc(row["first_seen"])
            yield current
            current = None
    yield from finish()


def store_episodes(store: Any, sla_for: Any, rules: Iterable[str] | None = None) -> Iterator[Episode]:
    return episodes(failure_intervals(store, rules), sla_for)


def in_period(ep: Episode, start: datetime, end: datetime) -> bool:
    """The episode was under way at some point of [start, end]."""
    return ep.failed_at <= end and (ep.ended_at is None or ep.ended_at >= start)


def as_of(ep: Episode, end: datetime) -> Episode:
    """The episode as it stood at `end` (an outcome after `end` is not known yet then)."""
    if ep.ended_at is not None and ep.ended_at > end:
        return Episode(**{**ep.__dict__, "ended_at": None, "outcome": "open"})
    return ep
