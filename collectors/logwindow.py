"""Incremental reading of an audit log, shared by the Okta System Log and Workspace activity reports.

Each run reads the window from the end of the last completed window (minus an overlap, for events
the provider delivers late or that share the boundary second) to now, or a bounded lookback on
the first run. Events already counted are recognised by id and never counted twice. What rules
judge is a per-category summary carried across runs in the source cursor (last time, daily
counts and the most recent events over the retention period), so an event read 20 days ago still
counts today although today's window read nothing new. The cursor only moves when the whole
window was read, and the runner saves it only when the source completes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

RECENT_KEPT = 20


def utcnow() -> datetime:
    """The collection clock (a seam for tests)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Window:
    start: datetime
    end: datetime
    state: dict[str, Any]   # categories, seen, observed_since (updated by `finish`)


def open_window(previous: dict[str, Any] | None, now: datetime, lookback_days: int, overlap: timedelta,
                retention_days: int) -> Window:
    """The window to read this run, from the cursor's previous state."""
    previous = previous or {}
    until = parse(previous.get("until"))
    floor = now - timedelta(days=min(lookback_days, retention_days))
    state = {"categories": previous.get("categories", {}), "seen": dict(previous.get("seen", {})),
             "observed_since": previous.get("observed_since")}
    if until is None or until - overlap < now - timedelta(days=retention_days):
        start = floor                      # first run, or a gap longer than the log keeps: start over
        state["observed_since"] = iso(start)
    else:
        start = until - overlap
        state["observed_since"] = state["observed_since"] or iso(start)
    return Window(start, now, state)


def is_new(window: Window, event_id: str, when: str) -> bool:
    """True the first time an event id is seen (and remembers it)."""
    if event_id in window.state["seen"]:
        return False
    window.state["seen"][event_id] = when
    return True


def finish(window: Window, new: list[tuple[list[str], dict[str, Any]]], retention_days: int,
           overlap: timedelta) -> dict[str, Any]:
    """Merge newly counted events (`([categories], brief)` with `brief["Time"]`) into the state; return it."""
    cats = window.state.setdefault("categories", {})
    for names, brief in new:
        for cat in names:
            entry = cats.setdefault(cat, {"last": None, "recent": [], "daily": {}})
            entry["recent"].append(brief)
            day = brief["Time"][:10]
            entry["daily"][day] = entry["daily"].get(day, 0) + 1
            if entry["last"] is None or brief["Time"] > entry["last"]:
                entry["last"] = brief["Time"]
    oldest = iso(window.end - timedelta(days=retention_days))
    for entry in cats.values():
        recent = sorted((b for b in entry["recent"] if b["Time"] >= oldest), key=lambda b: b["Time"])
        entry["recent"] = recent[-RECENT_KEPT:]
        entry["daily"] = {d: n for d, n in sorted(entry["daily"].items()) if d >= oldest[:10]}
    keep_after = iso(window.end - overlap - timedelta(minutes=1))
    window.state["seen"] = {k: v for k, v in window.state["seen"].items() if v >= keep_after}
    window.state["until"] = iso(window.end)
    return window.state


def summary(state: dict[str, Any], categories: tuple[str, ...]) -> dict[str, Any]:
    """What rules read per category: `Last`, `Count` (over retention), `DailyCounts`, `Recent` (newest first)."""
    cats = state.get("categories", {})
    out = {}
    for cat in categories:
        entry = cats.get(cat) or {"last": None, "recent": [], "daily": {}}
        out[cat] = {"Last": entry["last"], "Count": sum(entry["daily"].values()), "DailyCounts": entry["daily"],
                    "Recent": list(reversed(entry["recent"]))}
    return out
