"""JMESPath functions Annexa adds for compliance rules (dates, regexes). Time is injectable."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import jmespath
from jmespath import functions


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string or epoch seconds/milliseconds as an aware datetime; None if not a time."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (ValueError, OverflowError, OSError):  # NaN, infinity, beyond year 9999: not a time
            return None
    if isinstance(value, str):
        text = value.strip()
        if not text or text.upper() in ("N/A", "NO_INFORMATION", "NOT_SUPPORTED"):
            return None
        text = text.replace("Z", "+00:00").replace("z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


_PARAMS: ContextVar[Mapping[str, Any] | None] = ContextVar("annexa_rule_params", default=None)


class UnknownParameter(ValueError):
    """`param(name)` named a parameter the rule does not declare."""


@contextmanager
def rule_params(values: Mapping[str, Any]) -> Iterator[None]:
    """Make `values` what `param(name)` returns while one rule is evaluated."""
    token = _PARAMS.set(values)
    try:
        yield
    finally:
        _PARAMS.reset(token)


class AnnexaFunctions(functions.Functions):
    """Custom functions. `days_since`/`days_until` return null for values that are not times."""

    def __init__(self, now: datetime | None = None):
        super().__init__()
        self.now = now or datetime.now(UTC)

    @functions.signature({"types": []})
    def _func_now(self) -> str:
        return self.now.isoformat()

    @functions.signature({"types": ["string", "number", "null"]})
    def _func_days_since(self, value: Any) -> float | None:
        when = parse_time(value)
        return None if when is None else (self.now - when).total_seconds() / 86400

    @functions.signature({"types": ["string", "number", "null"]})
    def _func_days_until(self, value: Any) -> float | None:
        when = parse_time(value)
        return None if when is None else (when - self.now).total_seconds() / 86400

    @functions.signature({"types": ["string", "null"]}, {"types": ["string"]})
    def _func_regex_match(self, value: str | None, pattern: str) -> bool:
        return value is not None and re.search(pattern, value) is not None

    @functions.signature({"types": ["string", "null"]})
    def _func_lower(self, value: str | None) -> str | None:
        return None if value is None else value.lower()

    @functions.signature({"types": ["array", "null"]}, {"types": ["array"]})
    def _func_contains_any(self, haystack: list[Any] | None, needles: list[Any]) -> bool:
        return bool(haystack) and any(item in haystack for item in needles)  # type: ignore[operator]

    @functions.signature({"types": ["string"]})
    def _func_param(self, name: str) -> Any:
        values = _PARAMS.get() or {}
        if name not in values:
            raise UnknownParameter(f"param({name!r}): the rule declares no such parameter "
                                   f"(declared: {', '.join(sorted(values)) or 'none'})")
        return _plain_json(values[name])

    @functions.signature({"types": ["array", "null"]}, {"types": ["array"]})
    def _func_overlaps(self, ranges: list[Any] | None, values: list[Any]) -> bool:
        """True if a number (or `[low, high]` pair) in `values` falls in one of the `[low, high]` `ranges`."""
        spans = [_span(r) for r in ranges or []]
        wanted = [_span(v) for v in values]
        return any(a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]
                   for a in spans for b in wanted)

    @functions.signature({"types": ["array", "null"]}, {"types": ["array"]})
    def _func_ports_in(self, specs: list[Any] | None, ports: list[Any]) -> list[Any]:
        """The ports of `ports` that any port spec covers, in the order given.

        A spec is a port number, "22", a range "1000-2000", or "*" / "all" for every port (the
        forms firewall and security-group APIs use). Specs that are none of these match nothing.
        """
        ranges = [r for r in (port_range(spec) for spec in specs or []) if r is not None]
        return [p for p in ports if isinstance(p, int | float) and not isinstance(p, bool)
                and any(low <= p <= high for low, high in ranges)]

    @functions.signature({"types": ["object", "null"]})
    def _func_to_entries(self, value: dict[str, Any] | None) -> list[dict[str, Any]]:
        return [{"key": k, "value": v} for k, v in (value or {}).items()]


# Custom functions whose argument at this index is a regular expression (checked when rules load).
PATTERN_ARGUMENTS: dict[str, int] = {"regex_match": 1}
MAX_EXPRESSION_DEPTH = 100


def expression_problems(parsed: dict[str, Any], params: Mapping[str, Any] | None = None) -> Iterator[str]:
    """Problems in a compiled JMESPath AST: nesting past MAX_EXPRESSION_DEPTH, invalid regex literals,
    and (when `params` is given) `param('name')` naming a parameter the rule does not declare.

    Walks the tree iteratively (a hostile expression must not hit the recursion limit here either).
    Only literal patterns can be checked now; a pattern taken from the data is checked when evaluated.
    """
    stack: list[tuple[Any, int]] = [(parsed, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        if depth > MAX_EXPRESSION_DEPTH:
            yield f"expression nested more than {MAX_EXPRESSION_DEPTH} levels deep"
            return
        children = node.get("children") or []
        index = PATTERN_ARGUMENTS.get(node.get("value")) if node.get("type") == "function_expression" else None
        if index is not None and index < len(children) and children[index].get("type") == "literal":
            pattern = children[index].get("value")
            if isinstance(pattern, str):
                problem = regex_problem(pattern)
                if problem:
                    yield f"invalid regular expression {pattern!r} in {node['value']}(): {problem}"
        if params is not None and node.get("type") == "function_expression" and node.get("value") == "param" \
                and children and children[0].get("type") == "literal" and children[0].get("value") not in params:
            yield (f"param({children[0].get('value')!r}) names no declared parameter "
                   f"(declared in `params`: {', '.join(sorted(params)) or 'none'})")
        stack.extend((child, depth + 1) for child in children)


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable regular expression, or None."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    except (RecursionError, OverflowError, ValueError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _plain_json(value: Any) -> Any:
    """Plain lists and dicts: JMESPath type-checks by exact type, and YAML loaders hand out subclasses."""
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    return value


def _span(value: Any) -> tuple[float, float] | None:
    """`5` -> (5, 5); `[1, 9]` -> (1, 9); anything else -> None (ignored, never a match)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), float(value)
    if isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return float(min(value)), float(max(value))
    return None


def port_range(spec: Any) -> tuple[int, int] | None:
    """(low, high) of a port spec: 22, "22", "1000-2000", "*" or "all"; None if it is not one."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int | float):
        return int(spec), int(spec)
    if not isinstance(spec, str):
        return None
    text = spec.strip().lower()
    if text in ("*", "all"):
        return 0, 65535
    low, sep, high = text.partition("-")
    if not low.strip().isdigit() or (sep and not high.strip().isdigit()):
        return None
    return (int(low), int(high)) if sep else (int(low), int(low))


def options(now: datetime | None = None) -> jmespath.Options:
    return jmespath.Options(custom_functions=AnnexaFunctions(now))


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, "", [] and {} are false; every number (even 0) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
