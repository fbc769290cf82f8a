"""Period queries over the store's state intervals: which runs, findings and snapshots an export covers.

A finding (or resource snapshot) interval says "from run `first_run` to run `last_run` this key had this
state". It stays the current state until the next run *of the same source* that completed, so an
interval covers every run id in ``[first_run, next_source_run(last_run))`` (open intervals: to infinity).
That is what the per-run timeline and the end-of-period status use. The CSVs report the raw observation
times (``first_seen``/``last_seen``) and those times clipped to the period.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from agent.export.timefmt import ts_text
from agent.health import real_errors
from agent.store.schema import findings, resource_states, run_sources, runs
from agent.store.timeutil import as_utc

INFINITY = 2**62
STATUS_ORDER = ("fail", "error", "excepted", "pass", "not_applicable")  # worst first
COMPLETED = ("complete", "partial")


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str | None]:
        return {"from": ts_text(self.start), "to": ts_text(self.end)}

    def clip(self, value: datetime) -> datetime:
        return min(max(value, self.start), self.end)


@dataclass(frozen=True)
class RuleRef:
    """What control status needs from a rule (agent.status accepts anything with these two fields)."""

    id: str
    controls: tuple[str, ...]


def worst(statuses: Iterable[str]) -> str | None:
    seen = set(statuses)
    for status in STATUS_ORDER:
        if status in seen:
            return status
    return None


def run_status(counts: dict[str, int]) -> str:
    """A control's automated status from finding counts at one run (mirrors agent.status.decide)."""
    if counts.get("fail"):
        return "failing"
    if counts.get("error"):
        return "unknown"
    if counts.get("pass") or counts.get("excepted"):
        return "passing"
    return "none"


@dataclass
class RunIndex:
    """The runs of the store that matter to one export, and the per-source run sequences."""

    period: Period
    in_period: list[dict[str, Any]]  # run rows overlapping the period, oldest first
    source_runs: dict[str, list[int]]  # source -> ids of runs where it completed (all time)
    started: dict[int, datetime]  # run id -> started_at (all runs)
    head: dict[str, Any] | None  # newest sealed run: {seq, hash}
    points: list[int] = field(init=False)  # ids of runs in the period: the timeline's x axis

    def __post_init__(self) -> None:
        self.points = [r["id"] for r in self.in_period]

    @property
    def last_point(self) -> int | None:
        return self.points[-1] if self.points else None

    def next_source_run(self, source: str, run_id: int) -> int:
        ids = self.source_runs.get(source, [])
        i = bisect.bisect_right(ids, run_id)
        return ids[i] if i < len(ids) else INFINITY

    def source_run_before(self, source: str, run_id: int) -> int | None:
        """The last run of `source` that completed before run `run_id` (its state at that moment)."""
        ids = self.source_runs.get(source, [])
        i = bisect.bisect_left(ids, run_id)
        return ids[i - 1] if i else None

    def end_run(self, row: Any) -> int:
        """The first run id no longer covered by an interval row."""
        if row["open"]:
            return INFINITY
        return self.next_source_run(row["source"], row["last_run"])

    def covered_points(self, row: Any) -> tuple[int, int]:
        """Index range [lo, hi) of `points` that the interval covers."""
        lo = bisect.bisect_left(self.points, row["first_run"])
        hi = bisect.bisect_left(self.points, self.end_run(row))
        return lo, hi

    def covers_last(self, row: Any) -> bool:
        last = self.last_point
        return last is not None and row["first_run"] <= last < self.end_run(row)

    def effective_span(self, row: Any, horizon: datetime) -> tuple[datetime, datetime]:
        """When the state held, clipped to the period: until the run that replaced it, or the horizon."""
        start = as_utc(row["first_seen"])
        end_id = self.end_run(row)
        end = horizon if end_id == INFINITY else (self.started.get(end_id) or as_utc(row["last_seen"]))
        end = min(end, horizon)
        return self.period.clip(start), self.period.clip(max(end, start))

    def interval_filter(self, table: Any) -> ColumnElement[bool]:
        """Intervals that overlap the period in time, or were the current state when it began."""
        c = table.c
        carried: list[ColumnElement[bool]] = []
        if self.points:
            first = self.points[0]
            for source in self.source_runs:
                prev = self.source_run_before(source, first)
                if prev is not None:
                    carried.append(and_(c.source == source, c.last_run >= prev))
        return and_(c.first_seen <= self.period.end,
                    or_(c.open.is_(True), c.last_seen >= self.period.start, *carried))


def load_run_index(store: Any, period: Period) -> RunIndex:
    with store.engine.connect() as conn:
        in_period = [dict(r) for r in conn.execute(
            select(runs).where(runs.c.started_at <= period.end, runs.c.kind == "run")
            .order_by(runs.c.id)).mappings()]
        started = {r["id"]: as_utc(r["started_at"]) for r in in_period}
        in_period = [r for r in in_period
                     if (as_utc(r["finished_at"]) or as_utc(r["started_at"])) >= period.start]
        for r in conn.execute(select(runs.c.id, runs.c.started_at).where(runs.c.started_at > period.end,
                                                                         runs.c.kind == "run")):
            started[r.id] = as_utc(r.started_at)
        source_runs: dict[str, list[int]] = {}
        for r in conn.execute(select(run_sources.c.source, run_sources.c.run_id)
                              .where(run_sources.c.status.in_(COMPLETED)).order_by(run_sources.c.run_id)):
            source_runs.setdefault(r.source, []).append(r.run_id)
        head = conn.execute(select(runs.c.seq, runs.c.hash).where(runs.c.seq.is_not(None))
                            .order_by(runs.c.seq.desc()).limit(1)).first()
        ids = [r["id"] for r in in_period]
        per_run: dict[int, list[dict[str, Any]]] = {}
        if ids:
            for s in conn.execute(select(run_sources).where(run_sources.c.run_id.in_(ids))
                                  .order_by(run_sources.c.run_id, run_sources.c.source)).mappings():
                per_run.setdefault(s["run_id"], []).append(dict(s))
    for r in in_period:
        r["run_sources"] = per_run.get(r["id"], [])
    return RunIndex(period=period, in_period=in_period, source_runs=source_runs, started=started,
                    head={"seq": head.seq, "hash": head.hash} if head else None)


def run_entries(index: RunIndex) -> list[dict[str, Any]]:
    """The runs of the period as the manifest lists them."""
    return [{
        "id": r["id"], "seq": r["seq"], "hash": r["hash"], "prev_hash": r["prev_hash"],
        "started_at": ts_text(r["started_at"]), "finished_at": ts_text(r["finished_at"]),
        "status": r["status"], "tool_version": r["tool_version"], "shard": r["shard"],
        "sources": [{"name": s["source"], "type": s["source_type"], "status": s["status"],
                     "resources": s["resources"], "findings": s["findings"], "errors": len(s["errors"] or []),
                     "evidence_root": s["evidence_root"], "findings_root": s["findings_root"]}
                    for s in r["run_sources"]],
    } for r in index.in_period]


def source_entries(index: RunIndex) -> list[dict[str, Any]]:
    """One entry per source seen in the period's runs: its type and how its runs went (no config values)."""
    out: dict[str, dict[str, Any]] = {}
    for r in index.in_period:
        for s in r["run_sources"]:
            entry = out.setdefault(s["source"], {"name": s["source"], "type": s["source_type"], "runs": 0,
                                                 "statuses": {}, "collection_errors": 0, "last_status": None})
            entry["runs"] += 1
            entry["statuses"][s["status"]] = entry["statuses"].get(s["status"], 0) + 1
            entry["collection_errors"] += len(real_errors(s["errors"]))  # an expected gap's record is not one
            entry["last_status"] = s["status"]
    return sorted(out.values(), key=lambda e: e["name"])


def stored_rule_controls(store: Any, index: RunIndex) -> dict[str, set[str]]:
    """rule id -> the controls its stored findings in the period were mapped to."""
    out: dict[str, set[str]] = {}
    with store.engine.connect() as conn:
        for rule_id, controls in conn.execute(
            select(findings.c.rule_id, findings.c.controls).where(index.interval_filter(findings))
            .group_by(findings.c.rule_id, findings.c.controls)
        ):
            out.setdefault(rule_id, set()).update(controls or [])
    return out


def merge_rules(active: Iterable[Any], stored: dict[str, set[str]]) -> list[RuleRef]:
    """Current rules plus rules that only exist in history; the controls of both mappings."""
    merged: dict[str, set[str]] = {}
    for rule in active:
        merged.setdefault(rule.id, set()).update(rule.controls)
    for rule_id, controls in stored.items():
        merged.setdefault(rule_id, set()).update(controls)
    return [RuleRef(rule_id, tuple(sorted(cs))) for rule_id, cs in sorted(merged.items())]


@dataclass
class GlobalHistory:
    end_counts: dict[str, dict[str, int]]  # rule -> status -> n at the period's last run
    timeline: list[dict[str, int]]  # per point: status -> n (all findings of the selected rules)


def global_history(store: Any, index: RunIndex, rule_ids: set[str], timeline_rules: set[str]) -> GlobalHistory:
    """One streamed pass over the period's findings: end-of-period counts by rule (all `rule_ids`) and
    the overall timeline (findings of `timeline_rules`, the exported controls' rules)."""
    n = len(index.points)
    diff = {s: [0] * (n + 1) for s in STATUS_ORDER}
    end_counts: dict[str, dict[str, int]] = {}
    cols = (findings.c.source, findings.c.rule_id, findings.c.status, findings.c.first_run,
            findings.c.last_run, findings.c.open)
    with store.engine.connect() as conn:
        query = select(*cols).where(index.interval_filter(findings))
        for row in conn.execute(query, execution_options={"yield_per": 5000}).mappings():
            if row["rule_id"] not in rule_ids or row["status"] not in diff:
                continue
            lo, hi = index.covered_points(row)
            if lo < hi and row["rule_id"] in timeline_rules:
                diff[row["status"]][lo] += 1
                diff[row["status"]][hi] -= 1
            if index.covers_last(row):
                by = end_counts.setdefault(row["rule_id"], {})
                by[row["status"]] = by.get(row["status"], 0) + 1
    return GlobalHistory(end_counts=end_counts, timeline=prefix_counts(diff, n))


def prefix_counts(diff: dict[str, list[int]], n: int) -> list[dict[str, int]]:
    out: list[dict[str, int]] = [{} for _ in range(n)]
    for status, d in diff.items():
        running = 0
        for i in range(n):
            running += d[i]
            out[i][status] = running
    return out


def control_findings(store: Any, index: RunIndex, rule_ids: list[str],
                     columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """The period's finding intervals of these rules, streamed, grouped by resource.

    `columns`: only these (plus what deriving an open interval's last_seen needs); all by default."""
    if not rule_ids:
        return
    base = select(findings) if columns is None else select(*[findings.c[name] for name in dict.fromkeys(
        [*columns, "open", "source", "first_run", "first_seen"])])
    query = (base.where(findings.c.rule_id.in_(rule_ids), index.interval_filter(findings))
             .order_by(findings.c.source, findings.c.resource_type, findings.c.resource_id,
                       findings.c.rule_id, findings.c.first_seen, findings.c.id))
    from agent.store.store import with_coverage

    with store.engine.connect() as conn:
        cover = store.coverage(conn)  # open intervals: last_seen/last_run derived from run coverage
        for row in conn.execute(query, execution_options={"yield_per": 2000}).mappings():
            yield with_coverage(dict(row), cover)


def snapshot_digests(store: Any, index: RunIndex, keys: Iterable[str], batch: int = 500) -> Iterator[str]:
    """Evidence digests of the resource-state intervals of these resource keys that fall in the period."""
    pending: list[str] = []

    def query(chunk: list[str]) -> Iterator[str]:
        with store.engine.connect() as conn:
            for (digest,) in conn.execute(
                select(resource_states.c.evidence).where(resource_states.c.key.in_(chunk),
                                                         index.interval_filter(resource_states))
            ):
                yield digest

    for key in keys:
        pending.append(key)
        if len(pending) >= batch:
            yield from query(pending)
            pending = []
    if pending:
        yield from query(pending)
