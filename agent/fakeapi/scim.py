"""SCIM-style filter expressions (RFC 7644 section 3.4.2.2) as Okta's `filter` and `search` use them.

`status eq "ACTIVE" or (profile.login sw "al" and lastUpdated gt "2024-01-01T00:00:00.000Z")`.
Supported: `eq ne co sw ew gt ge lt le pr`, `and`, `or`, `not (...)`, parentheses, string, number,
`true`/`false`/`null` values, dotted attribute paths. A provider fake parses the expression once,
checks which attributes and operators it allows, then matches objects with `matches`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"})
_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()"]+))')


class FilterError(ValueError):
    """The expression cannot be parsed (the provider answers 400)."""


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    inner: Node


Node = Compare | Logical | Not


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"unexpected character at {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse(text: str) -> Node:
    """The expression tree; FilterError if `text` is not a valid expression."""
    tokens = _tokens(text)
    if not tokens:
        raise FilterError("empty expression")
    node, pos = _or(tokens, 0)
    if pos != len(tokens):
        raise FilterError(f"unexpected {tokens[pos][1]!r}")
    return node


def _or(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    left, pos = _and(tokens, pos)
    while pos < len(tokens) and tokens[pos][1].lower() == "or":
        right, pos = _and(tokens, pos + 1)
        left = Logical("or", left, right)
    return left, pos


def _and(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    left, pos = _atom(tokens, pos)
    while pos < len(tokens) and tokens[pos][1].lower() == "and":
        right, pos = _atom(tokens, pos + 1)
        left = Logical("and", left, right)
    return left, pos


def _atom(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    if pos >= len(tokens):
        raise FilterError("expression ends too early")
    kind, text = tokens[pos]
    if kind == "word" and text.lower() == "not":
        inner, pos = _atom(tokens, pos + 1)
        return Not(inner), pos
    if kind == "lp":
        node, pos = _or(tokens, pos + 1)
        if pos >= len(tokens) or tokens[pos][0] != "rp":
            raise FilterError("missing ')'")
        return node, pos + 1
    if kind != "word":
        raise FilterError(f"expected an attribute, got {text!r}")
    if pos + 1 >= len(tokens):
        raise FilterError(f"no operator after {text!r}")
    op = tokens[pos + 1][1].lower()
    if op not in OPERATORS:
        raise FilterError(f"unknown operator {tokens[pos + 1][1]!r}")
    if op == "pr":
        return Compare(text, op), pos + 2
    if pos + 2 >= len(tokens):
        raise FilterError(f"no value after {text} {op}")
    return Compare(text, op, _value(tokens[pos + 2])), pos + 3


def _value(token: tuple[str, str]) -> Any:
    kind, text = token
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise FilterError(f"not a value: {text!r}") from None


def comparisons(node: Node) -> list[Compare]:
    """Every comparison in the tree (to check which attributes and operators a query uses)."""
    if isinstance(node, Compare):
        return [node]
    if isinstance(node, Not):
        return comparisons(node.inner)
    return comparisons(node.left) + comparisons(node.right)


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path; through arrays it collects every element's value (`target.id`)."""
    current = obj
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list):
            current = [item.get(part) for item in current if isinstance(item, dict)]
        else:
            return None
    return current


def matches(node: Node, obj: Any, *, ignore_case: bool = False,
            resolve: Callable[[Any, str], Any] = lookup) -> bool:
    """Does `obj` satisfy the expression? Arrays match when any element does (SCIM semantics)."""
    if isinstance(node, Logical):
        left = matches(node.left, obj, ignore_case=ignore_case, resolve=resolve)
        if node.op == "and":
            return left and matches(node.right, obj, ignore_case=ignore_case, resolve=resolve)
        return left or matches(node.right, obj, ignore_case=ignore_case, resolve=resolve)
    if isinstance(node, Not):
        return not matches(node.inner, obj, ignore_case=ignore_case, resolve=resolve)
    actual = resolve(obj, node.path)
    values = actual if isinstance(actual, list) else [actual]
    return any(_compare(v, node.op, node.value, ignore_case) for v in values)


def _compare(actual: Any, op: str, expected: Any, ignore_case: bool) -> bool:
    if op == "pr":
        return actual not in (None, "", [])
    if isinstance(actual, str) and isinstance(expected, str) and ignore_case:
        actual, expected = actual.lower(), expected.lower()
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    if op in ("co", "sw", "ew"):
        if not (isinstance(actual, str) and isinstance(expected, str)):
            return False
        return {"co": expected in actual, "sw": actual.startswith(expected), "ew": actual.endswith(expected)}[op]
    try:
        return {"gt": actual > expected, "ge": actual >= expected, "lt": actual < expected,
                "le": actual <= expected}[op]
    except TypeError:
        return False
