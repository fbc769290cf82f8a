"""UTC timestamps that survive the round trip through SQLite (which drops the zone)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts_text(value: datetime | None) -> str | None:
    """`2026-11-28T05:14:00.123456Z`: the one textual form used in hashes and JSON output."""
    dt = as_utc(value)
    return None if dt is None else dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
