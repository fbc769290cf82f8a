"""The part of the Cloud Logging query language the GCP fake evaluates in `entries:list` filters.

Clauses joined by `AND`, each `field OPERATOR value` where the value is a quoted string or a
parenthesised `"a" OR "b"` list. Operators: `=`, `!=`, `:` (has: case-insensitive substring for
text), `>`, `>=`, `<`, `<=` (timestamps compare as times). Anything else is rejected with the
400 the real service sends for a filter it cannot parse, so a collector cannot rely on syntax
the fake would silently ignore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_CLAUSE = re.compile(r'^\s*(?P<field>[A-Za-z_@][\w.@]*)\s*(?P<op>>=|<=|!=|=|:|>|<)\s*(?P<value>.+?)\s*$', re.S)
_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"$')


class FilterError(ValueError):
    """The filter uses syntax outside the supported subset."""


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    values: tuple[str, ...]


def _split_and(text: str) -> list[str]:
    """Top-level ` AND ` separators (not inside quotes or parentheses)."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        char = text[i]
        if char == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(" AND ", i):
            parts.append(text[start:i])
            start = i + 5
            i += 5
            continue
        i += 1
    if quoted or depth:
        raise FilterError("unbalanced quotes or parentheses")
    parts.append(text[start:])
    return [p for p in (part.strip() for part in parts) if p]


def _values(raw: str) -> tuple[str, ...]:
    raw = raw.strip()
    if raw.startswith("(") and raw.endswith(")"):
        items = [item.strip() for item in re.split(r"\s+OR\s+", raw[1:-1].strip())]
    else:
        items = [raw]
    out = []
    for item in items:
        match = _QUOTED.match(item)
        if not match:
            raise FilterError(f"expected a quoted value, got {item!r}")
        out.append(match.group(1).replace('\\"', '"'))
    return tuple(out)


def parse_filter(text: str) -> list[Clause]:
    clauses = []
    for part in _split_and(text.replace("\n", " ")):
        match = _CLAUSE.match(part)
        if not match:
            raise FilterError(f"cannot parse {part!r}")
        clauses.append(Clause(match["field"], match["op"], _values(match["value"])))
    return clauses


def _lookup(entry: dict[str, Any], path: str) -> Any:
    current: Any = entry
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _one(value: Any, op: str, wanted: str) -> bool:
    if value is None:
        return op == "!="
    text = str(value)
    if op == ":":
        return wanted.lower() in text.lower()
    if op in ("=", "!="):
        return (text == wanted) == (op == "=")
    left, right = _time(text), _time(wanted)
    if left is None or right is None:
        left, right = text, wanted  # type: ignore[assignment]
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]  # type: ignore[operator]


def matches(entry: dict[str, Any], clauses: list[Clause]) -> bool:
    for clause in clauses:
        value = _lookup(entry, clause.field)
        if clause.op == "!=":
            if not all(_one(value, "!=", v) for v in clause.values):
                return False
        elif not any(_one(value, clause.op, v) for v in clause.values):
            return False
    return True
