"""Incremental reading of Azure logs and the per-source summary their rules judge.

Each log (a subscription's Activity Log, the tenant's sign-ins, its directory audits) keeps its
position in the source cursor under its own key: `until` (end of the last window read),
`observed_since` (start of unbroken coverage), `seen` (ids read in the overlap before `until`) and
`categories` — for each kind of event that matters, the time of the latest one, daily counts over
the retention period and the few most recent ones. A run reads from `until - overlap` (late
arrivals are read again and skipped by id) to now; the first run looks back `lookback` days. The
cursor only moves when the whole window was read, and the runner saves it only when the source
completes, so no event is ever skipped or counted twice.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

RECENT_KEPT = 20
EVENTS_KEPT_PER_RUN = 200


def utcnow() -> datetime:
    """The collection clock (a seam for tests)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    cleaned = text.strip().replace("Z", "+00:00")
    if "." in cleaned:  # ARM writes seven fractional digits; Python reads at most six
        head, _, tail = cleaned.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        cleaned = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class LogWindow:
    """One log's state for this run: the window to read and the summary to update."""

    key: str
    start: datetime
    end: datetime
    state: dict[str, Any]
    retention: timedelta
    seen_before: dict[str, str] = field(default_factory=dict)  # event id -> time, from the last run's overlap
    seen_now: dict[str, str] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, cursor: Any, key: str, *, lookback: timedelta, overlap: timedelta, retention: timedelta,
             now: datetime | None = None) -> LogWindow:
        now = now or utcnow()
        saved = cursor.get(key) if cursor is not None else None
        state: dict[str, Any] = copy.deepcopy(saved) if isinstance(saved, dict) else {}
        until = parse(state.get("until"))
        floor = now - retention + timedelta(minutes=5)
        if until is None or until < floor:  # first run, or a gap longer than the log keeps
            start = max(now - lookback, floor)
            state = {"observed_since": iso(start), "categories": {}}
        else:
            start = max(until - overlap, floor)
        seen = state.get("seen")
        window = cls(key, start, now, state, retention, seen_before=dict(seen) if isinstance(seen, dict) else {})
        window.state.setdefault("categories", {})
        return window

    def add(self, event_id: str, when: datetime, categories: Iterable[str], summary: dict[str, Any]) -> bool:
        """Count one event under each category; False if it was already counted. Returns whether it is new."""
        if event_id in self.seen_before or event_id in self.seen_now:
            return False
        self.seen_now[event_id] = iso(when)
        day = when.strftime("%Y-%m-%d")
        for name in categories:
            cat = self.state["categories"].setdefault(name, {"Last": None, "Days": {}, "Recent": []})
            if cat["Last"] is None or parse(cat["Last"]) < when:  # type: ignore[operator]
                cat["Last"] = iso(when)
            cat["Days"][day] = cat["Days"].get(day, 0) + 1
            cat["Recent"] = sorted([*cat["Recent"], summary], key=lambda e: str(e.get("Time")),
                                   reverse=True)[:RECENT_KEPT]
        return True

    def keep(self, category: str) -> bool:
        """Whether to emit one more event of `category` as its own resource this run (capped)."""
        count = self.kept.get(category, 0)
        self.kept[category] = count + 1
        return count < EVENTS_KEPT_PER_RUN

    def close(self, cursor: Any, overlap: timedelta) -> dict[str, Any]:
        """Prune what is older than the retention, save the cursor, return the summary to store."""
        oldest = (self.end - self.retention).strftime("%Y-%m-%d")
        for cat in self.state["categories"].values():
            cat["Days"] = {d: n for d, n in cat["Days"].items() if d >= oldest}
            cat["Count"] = sum(cat["Days"].values())
            if cat["Last"] and cat["Last"][:10] < oldest:
                cat["Last"] = None
        boundary = self.end - overlap
        merged = {**self.seen_before, **self.seen_now}
        self.state["until"] = iso(self.end)
        self.state["seen"] = {i: t for i, t in sorted(merged.items()) if (parse(t) or self.end) >= boundary}
        if cursor is not None:
            cursor.set(self.key, self.state)
        # Nothing per run (the read-until time, the window's start): an unchanged log stores no new interval.
        return {"ObservedSince": self.state.get("observed_since"), "Categories": self.state["categories"]}
