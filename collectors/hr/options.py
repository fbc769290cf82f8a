"""Settings shared by the HR sources: which status words mean "has left"."""

from __future__ import annotations

from agent.identity.join import DEFAULT_LEFT_STATUSES


def left_statuses(value: list[str] | None) -> list[str] | None:
    """Validate `left_statuses`: non-empty words, compared case-insensitively."""
    if value is None:
        return value
    words = [str(v).strip() for v in value]
    if not words or any(not w for w in words):
        raise ValueError("expected a non-empty list of status words, e.g. [terminated, inactive]")
    return words

def left_status_set(value: list[str] | None) -> frozenset[str]:
    return frozenset(w.casefold() for w in (value or DEFAULT_LEFT_STATUSES))

