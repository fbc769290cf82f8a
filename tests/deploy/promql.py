"""Extract the PromQL that Annexa's dashboards and alert rules run, ready to send to Prometheus.

Reusable by any test that wants to run the shipped queries against a real Prometheus, e.g.::

    from tests.deploy.promql import dashboard_queries
    for expr in dashboard_queries(DEPLOY / "grafana" / "annexa-overview.json"):
        prom.query(expr)

``dashboard_targets`` / ``rule_queries`` return the same with where each query comes from.

Grafana macros and template variables are substituted with fixed values so that the result is
plain PromQL: ``$__rate_interval`` -> 5m, ``$__interval`` -> 1m, ``$__range`` -> 1h, multi-value
query variables -> ``.*`` (they are only used in ``=~`` matchers), custom/constant variables ->
their current value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Grafana's built-in macros and the value each is replaced with.
MACROS: dict[str, str] = {
    "__rate_interval": "5m",
    "__interval_ms": "60000",
    "__interval": "1m",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__range": "1h",
}

#: The metric names of the contract (shared/spec/contract.md), the planned ones, and Prometheus'
#: own ``up``. A query on any other name would silently return nothing.
KNOWN_METRICS: frozenset[str] = frozenset(
    {
        "annexa_control_status",
        "annexa_findings",
        "annexa_rule_findings",
        "annexa_source_last_success_timestamp_seconds",
        "annexa_source_errors_total",
        "annexa_collection_duration_seconds",
        "annexa_control_evidence_timestamp_seconds",
        "annexa_build_info",
        "annexa_manual_evidence_expiry_timestamp_seconds",
        "annexa_control_info",
        "annexa_source_last_run_timestamp_seconds",
        "annexa_source_last_ok_timestamp_seconds",
        "annexa_source_outcome",
        "annexa_source_uncollected_types",
        "annexa_source_collection_errors",
        "annexa_source_runs_total",
        "annexa_exceptions",
        "annexa_exception_expiry_timestamp_seconds",
        "annexa_exception_expired_findings",
        "annexa_store_verify_timestamp_seconds",
        "annexa_store_verify_ok",
        "annexa_store_verify_last_ok_timestamp_seconds",
        "annexa_store_up",
        "up",
    }
)

_METRIC_RE = re.compile(r"\b(annexa_[a-z_]+|up)\b(?!\s*\()")
_VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>\w+)\s*\)\s*$", re.S)


@dataclass(frozen=True)
class Query:
    """One PromQL query found in a dashboard or a rule file."""

    origin: str  # "<file>: panel 3 'Title' refId A", "<file>: variable theme", "<file>: alert X"
    raw: str  # as written in the file
    expr: str  # with macros and variables substituted: plain PromQL
    name: str = ""  # panel title, variable name, or alert/record name
    ref_id: str = ""  # a panel target's refId

    def __str__(self) -> str:
        return f"{self.origin}: {self.expr}"


def metric_names(expr: str) -> set[str]:
    """The ``annexa_*`` (and ``up``) metric names an expression selects."""
    return {m.group(1) for m in _METRIC_RE.finditer(_STRING_RE.sub('""', expr))}


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels") or [])


def template_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """The value each template variable is replaced with when a query is extracted."""
    values: dict[str, str] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        name, kind = var["name"], var.get("type")
        if kind in ("custom", "constant", "textbox", "interval"):
            current = var.get("current", {}).get("value")
            if isinstance(current, list):
                current = current[0] if current else ""
            values[name] = str(current if current not in (None, "") else var.get("query", ""))
        else:  # query / datasource / adhoc: only used in regex matchers (or as the data source)
            values[name] = ".*"
    return values


def substitute(expr: str, variables: dict[str, str] | None = None) -> str:
    """Replace Grafana macros and template variables in *expr*.

    Raises KeyError for a variable that is neither a macro nor in *variables*: a query that
    refers to a variable the dashboard does not define is broken.
    """
    variables = {**MACROS, **(variables or {})}

    def repl(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        if name not in variables:
            raise KeyError(f"undefined template variable ${name} in {expr!r}")
        return variables[name]

    return _VAR_RE.sub(repl, expr)


def _variable_query(var: dict[str, Any]) -> str | None:
    query = var.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    return query or var.get("definition") or None


def dashboard_queries(path: str | Path, *, include_variables: bool = True) -> list[str]:
    """All PromQL queries of a Grafana dashboard JSON file as plain PromQL (see module doc)."""
    return [q.expr for q in dashboard_targets(path, include_variables=include_variables)]


def dashboard_targets(path: str | Path, *, include_variables: bool = True) -> list[Query]:
    """All PromQL queries of a Grafana dashboard JSON file, substituted (see module doc).

    Panel targets come first, in panel order; then the variables' ``label_values(selector,
    label)`` / ``query_result(expr)`` queries, turned into the selector / expression they
    evaluate. Targets that are hidden (``hide: true``) are still returned: they must parse too.
    """
    path = Path(path)
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    values = template_values(dashboard)
    queries: list[Query] = []
    for panel in iter_panels(dashboard.get("panels", [])):
        for target in panel.get("targets") or []:
            raw = target.get("expr")
            if raw is None:
                continue
            origin = f"{path.name}: panel {panel.get('id')} {panel.get('title')!r} refId {target.get('refId')}"
            queries.append(
                Query(origin, raw, substitute(raw, values), str(panel.get("title", "")), str(target.get("refId", "")))
            )
    if include_variables:
        for var in dashboard.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            raw = _variable_query(var)
            if not raw:
                continue
            inner = raw.strip()
            if m := _LABEL_VALUES_RE.match(inner):
                inner = m["selector"]
            elif inner.startswith("query_result(") and inner.endswith(")"):
                inner = inner[len("query_result(") : -1]
            elif inner.startswith("label_values(") or inner.startswith("label_names("):
                continue  # label_values(label) / label_names(): no PromQL to check
            queries.append(Query(f"{path.name}: variable {var['name']}", raw, substitute(inner, values), var["name"]))
    return queries


def rule_groups(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule groups of a Prometheus rule file or of a PrometheusRule custom resource."""
    if document.get("kind") == "PrometheusRule":
        return document.get("spec", {}).get("groups", [])
    return document.get("groups", [])


def rule_expressions(path: str | Path) -> list[str]:
    """Every rule expression in a rule file (or PrometheusRule manifests)."""
    return [q.expr for q in rule_queries(path)]


def rule_queries(path: str | Path) -> list[Query]:
    """Every alerting/recording rule expression in a rule file (or PrometheusRule manifests)."""
    path = Path(path)
    queries: list[Query] = []
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not document:
            continue
        for group in rule_groups(document):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                kind = "alert" if "alert" in rule else "record"
                queries.append(Query(f"{path.name}: {kind} {name}", rule["expr"], rule["expr"], str(name)))
    return queries
