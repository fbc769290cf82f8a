"""Rule parameters: thresholds a rule declares (`params:`) and a team tunes in `annexa.yaml`.

A rule declares each parameter with its default (`params: {min_approvals: 1}`) and reads it with
the JMESPath function `param('min_approvals')` (or `ctx.params` in a Python rule). Values are
resolved per source, most specific last: the rule's default, then `rules.params` in annexa.yaml
(every source), then the source's own `params`. A map-valued parameter (e.g. days per severity)
is merged key by key, so `{critical: 3}` overrides one severity and keeps the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agent.errors import ConfigError
from agent.rules.spec import Rule


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def merge_value(default: Any, override: Any) -> Any:
    if isinstance(default, dict) and isinstance(override, dict):
        return {**default, **override}
    return override


class ParamResolver:
    """The parameter values each (rule, source) pair sees, computed once and cached."""

    def __init__(self, global_params: Mapping[str, Any] | None = None,
                 source_params: Mapping[str, Mapping[str, Any]] | None = None):
        self.global_params = dict(global_params or {})
        self.source_params = {k: dict(v) for k, v in (source_params or {}).items()}
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def for_rule(self, rule: Rule, source: str = "") -> dict[str, Any]:
        key = (rule.id, source)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        values = dict(rule.params)
        for layer in (self.global_params, self.source_params.get(source, {})):
            for name, value in layer.items():
                if name in values:
                    values[name] = merge_value(values[name], value)
        # Plain lists and dicts: YAML's line-tracking containers are subclasses that JMESPath's
        # function type checks reject ("unknown"), so a list parameter could not reach contains().
        values = json.loads(json.dumps(values))
        self._cache[key] = values
        return values


def check_configured_params(file: str, configured: Iterable[tuple[str, Mapping[str, Any]]],
                            rules: Iterable[Rule]) -> None:
    """Every configured parameter must be declared by some rule, with a value of the same kind.

    `configured` yields (config field, {name: value}) pairs, e.g. ("sources[0].params", {...}).
    """
    declared: dict[str, Any] = {}
    for rule in rules:
        for name, default in rule.params.items():
            declared.setdefault(name, default)
    for field, values in configured:
        for name, value in values.items():
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                raise ConfigError(file, f"no rule declares the parameter {name!r} (declared: {known})",
                                  field=f"{field}.{name}")
            want, got = _kind(declared[name]), _kind(value)
            if want != got:
                raise ConfigError(file, f"parameter {name!r} expects a {want} (got {value!r})",
                                  field=f"{field}.{name}")
            if want == "map":
                for sub, item in value.items():
                    default = declared[name].get(sub)
                    if default is not None and _kind(default) != _kind(item):
                        raise ConfigError(file, f"parameter {name}.{sub} expects a {_kind(default)} "
                                          f"(got {item!r})", field=f"{field}.{name}.{sub}")
