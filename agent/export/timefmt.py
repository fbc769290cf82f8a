"""Timestamp text for the bundle, memoised: a year's export formats the same run instants millions of times.

Runs write their intervals in batches that share one instant, so the distinct values are few; the
caches are bounded all the same. The text is exactly agent.store.timeutil's.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from agent.store.timeutil import as_utc
from agent.store.timeutil import ts_text as _ts_text


@lru_cache(maxsize=1 << 15)
def _cached(value: datetime) -> str | None:
    return _ts_text(value)


def ts_text(value: datetime | None) -> str | None:
    """`2026-11-28T05:14:00.123456Z` (agent.store.timeutil.ts_text, memoised)."""
    if value is None:
        return None
    return _cached(value)


@lru_cache(maxsize=1 << 15)
def minute_text(value: datetime) -> str:
    """`2026-11-28 05:14 UTC`: how the pages show an instant."""
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")  # type: ignore[union-attr]
