"""Check names a user types in the config (service modules, columns) against the known ones.

A misspelt name must not silently select nothing: it is refused with the closest known name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown_name(name: object, known: Iterable[str], what: str = "service") -> str | None:
    """The message for `name` if it is not one of `known`, else None."""
    choices = sorted(set(known))
    if isinstance(name, str) and name in choices:
        return None
    shown = name if isinstance(name, str) else repr(name)
    close = difflib.get_close_matches(str(name).lower(), choices, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    text = shown[:60] + ("…" if len(shown) > 60 else "")
    return f"unknown {what} {text!r}{hint}; known: {', '.join(choices)}"


def check_service_list(value: list[str] | None, known: Iterable[str], *, allow_empty: bool) -> list[str] | None:
    """Validate a `services`/`exclude_services` list; raise ValueError naming the first bad entry."""
    if value is None:
        return value
    if not value and not allow_empty:
        raise ValueError("an empty list selects no service: leave `services` out to read every service")
    known_names = list(known)
    for name in value:
        problem = unknown_name(name, known_names)
        if problem:
            raise ValueError(problem)
    return value
