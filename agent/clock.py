"""The one clock for time-dependent decisions (evidence expiry, exception expiry).

``ANNEXA_NOW`` (an ISO 8601 timestamp, e.g. ``2027-01-15T00:00:00Z``) replaces the current time when
evaluating; tests use it to move past an expiry, and an operator can use it to ask "what will the
posture be on that date?". It never changes the times written to the store.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from agent.errors import AnnexaError

ENV = "ANNEXA_NOW"


class InstantOutOfRange(ValueError):
    """A well-formed timestamp that cannot be represented in UTC (past year 9999 or before year 1)."""


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or timestamp as an aware UTC datetime (naive means UTC). Raises ValueError."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    try:
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is past the last representable instant
        raise InstantOutOfRange(f"{text.strip()!r} is out of range") from None


def now() -> datetime:
    """The current time in UTC, or ``$ANNEXA_NOW`` when it is set."""
    override = os.environ.get(ENV, "").strip()
    if not override:
        return datetime.now(UTC)
    try:
        return parse_instant(override)
    except ValueError:
        raise AnnexaError(f"{ENV}={override!r} is not an ISO 8601 timestamp "
                          "such as 2027-01-15T00:00:00Z") from None
