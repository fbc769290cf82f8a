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
        return datetime.fromtimestamp(seconds, UTC)
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


def _plain_json(value: Any) -> Any:
    """Plain lists and dicts: JMESPath type-checks by exact type, and YAML loaders hand out subclasses."""
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    return value


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
