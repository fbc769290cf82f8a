"""Grafana dashboards (deploy/grafana/*.json): structure, and every query run on a real Prometheus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_paths import DEPLOY
from tests.deploy.promql import (
    KNOWN_METRICS,
    dashboard_queries,
    dashboard_targets,
    iter_panels,
    metric_names,
    substitute,
    template_values,
)

DASHBOARD_DIR = DEPLOY / "grafana"
DASHBOARDS = sorted(DASHBOARD_DIR.glob("*.json"))
DS_REFS = {"${datasource}", "$datasource", "${DS_PROMETHEUS}"}
BUILTIN_GRAFANA_DS = "-- Grafana --"  # the built-in annotation source, not a data source


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def walk_datasources(node: Any, where: str = "") -> list[tuple[str, Any]]:
    """Every `datasource` value anywhere in the dashboard, with its JSON path."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append((f"{where}.{key}", value))
            found += walk_datasources(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += walk_datasources(value, f"{where}[{i}]")
    return found


def test_the_two_dashboards_exist() -> None:
    assert {p.name for p in DASHBOARDS} == {"annexa-overview.json", "annexa-sources.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_model(path: Path) -> None:
    d = load(path)
    assert d["schemaVersion"] >= 39
    assert d["uid"] == path.stem and len(d["uid"]) <= 40
    assert d["title"].startswith("Annexa")
    assert "annexa" in d["tags"]
    assert d.get("id") is None, "exported with a database id: import would clash"
    assert "__inputs" not in d or all(i.get("pluginId") == "prometheus" for i in d["__inputs"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_have_unique_ids_and_a_sane_grid(path: Path) -> None:
    panels = list(iter_panels(load(path)["panels"]))
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), f"duplicate panel ids {ids}"
    cells: dict[tuple[int, int], int] = {}
    for p in panels:
        g = p["gridPos"]
        assert {"x", "y", "w", "h"} <= set(g), p["title"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panels {cells.get((x, y))} and {p['id']} overlap"
                cells[(x, y)] = p["id"]
        assert p.get("title"), f"panel {p['id']} has no title"
        if p["type"] != "row":
            assert p.get("description"), f"panel {p['title']!r} has no description"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_target_has_expr_and_unique_refid(path: Path) -> None:
    for panel in iter_panels(load(path)["panels"]):
        if panel["type"] == "row":
            assert not panel.get("targets")
            continue
        targets = panel.get("targets") or []
        assert targets, f"panel {panel['title']!r} has no query"
        refs = [t.get("refId") for t in targets]
        assert all(refs) and len(refs) == len(set(refs)), f"panel {panel['title']!r}: refIds {refs}"
        for t in targets:
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), f"panel {panel['title']!r} {t['refId']}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_datasource_is_a_template_variable(path: Path) -> None:
    d = load(path)
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    refs = walk_datasources(d)
    assert refs, "no datasource references at all"
    for where, ds in refs:
        if where.startswith(".templating.list[0]"):
            continue
        assert isinstance(ds, dict), f"{where}: datasource given by name {ds!r}"
        if ds.get("type") == "grafana":
            assert ds.get("uid") == BUILTIN_GRAFANA_DS, where
            continue
        assert ds.get("type") == "prometheus", where
        assert ds.get("uid") in DS_REFS, f"{where}: hard-coded datasource uid {ds.get('uid')!r}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_queries_use_only_contract_metrics_and_defined_variables(path: Path) -> None:
    queries = dashboard_targets(path)
    assert len(queries) >= 8
    for q in queries:
        names = metric_names(q.expr)
        assert names, f"{q.origin}: no metric"
        assert names <= KNOWN_METRICS, f"{q.origin}: unknown metrics {names - KNOWN_METRICS}"
        assert "$" not in q.expr, f"{q.origin}: unsubstituted variable"


def test_substitution_of_macros_and_variables() -> None:
    values = {"theme": ".*", "source": ".*"}
    assert (
        substitute('rate(x{theme=~"$theme",s=~"${source}"}[$__rate_interval]) [$__range] $__interval', values)
        == 'rate(x{theme=~".*",s=~".*"}[5m]) [1h] 1m'
    )
    with pytest.raises(KeyError):
        substitute('x{a=~"$nope"}', values)


def test_template_values_of_the_dashboards() -> None:
    values = template_values(load(DASHBOARD_DIR / "annexa-overview.json"))
    assert values == {"datasource": ".*", "theme": ".*", "source": ".*"}


def test_overview_covers_the_required_views() -> None:
    exprs = " ".join(dashboard_queries(DASHBOARD_DIR / "annexa-overview.json"))
    panels = {p["title"]: p for p in iter_panels(load(DASHBOARD_DIR / "annexa-overview.json")["panels"])}
    assert 'status="not_applicable"' in exprs  # applicable = all - not applicable
    assert "group_left (title)" in exprs and "annexa_control_info" in exprs  # titles joined in
    assert panels["Failing controls"]["type"] == "table"
    assert any(p["type"] == "timeseries" and "annexa_findings" in p["targets"][0]["expr"] for p in panels.values())
    assert "sum by (severity)" in exprs
    exprs = " ".join(dashboard_queries(DASHBOARD_DIR / "annexa-sources.json"))
    for needle in (
        "time() - max by (source) (annexa_source_last_success_timestamp_seconds",
        "annexa_source_collection_errors",
        "annexa_collection_duration_seconds",
        "annexa_control_evidence_timestamp_seconds",
        "annexa_source_outcome",
        "annexa_source_uncollected_types",
        "annexa_manual_evidence_expiry_timestamp_seconds",
    ):
        assert needle in exprs


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_runs_and_returns_data(path: Path, prometheus_with_data) -> None:  # type: ignore[no-untyped-def]
    """Each panel and variable query, macros substituted, on a real Prometheus that scraped
    exporter-shaped data (tests/deploy/fixtures/annexa-metrics.prom): accepted, and not empty."""
    for q in dashboard_targets(path):
        answer = prometheus_with_data.query_raw(q.expr)
        assert answer["status"] == "success", f"{q.origin}: {answer.get('errorType')}: {answer.get('error')}"
        assert answer["data"]["result"], f"{q.origin}: no data for {q.expr}"


def test_overview_numbers_on_fixture_data(prometheus_with_data) -> None:  # type: ignore[no-untyped-def]
    """The compliance share and the failing-controls join compute what they claim."""
    path = DASHBOARD_DIR / "annexa-overview.json"
    by_title = {q.name: q.expr for q in dashboard_targets(path, include_variables=False) if q.ref_id == "A"}
    prom = prometheus_with_data
    # fixture: 7 controls, 1 not applicable (A.7.4, the only Physical one), 2 passing -> 2/6
    share = prom.query(by_title["Applicable controls passing"])["result"]
    assert float(share[0]["value"][1]) == pytest.approx(2 / 6)
    per_theme = {
        r["metric"]["theme"]: float(r["value"][1])
        for r in prom.query(by_title["Applicable controls passing, by theme"])["result"]
    }
    # a theme without applicable controls has no share at all (not 0 %)
    assert per_theme == pytest.approx({"Organizational": 0.5, "People": 0.0, "Technological": 1 / 3})
    failing = prom.query(by_title["Failing controls"])["result"]
    assert [(r["metric"]["control"], r["metric"].get("title")) for r in failing] == [("A.8.5", "Secure authentication")]
