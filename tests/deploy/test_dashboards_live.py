"""Every shipped dashboard query, run by a real Prometheus scraping a real `annexa metrics serve`.

The exporter reads a store filled by real runs of the test collector (failing, passing, unknown,
manual and not-applicable controls; a source with collection errors; a manual document that
expires). Each panel and variable query must succeed and return data; and every `annexa_*`
metric that a dashboard or an alert rule names must be one the exporter really publishes.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.agent.metrics import demo_store
from tests.deploy.deploy_paths import DEPLOY
from tests.deploy.prometheus_server import PrometheusServer
from tests.deploy.promql import dashboard_targets, rule_queries
from tests.support.annexa_process import AnnexaProcess, http_get

DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
METRIC_NAME = re.compile(r"\bannexa_[a-z0-9_]+\b")


@dataclass
class Live:
    prom: PrometheusServer
    exposition: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is required in CI (scripts/install-deploy-tools.sh)")
        pytest.skip("prometheus is not installed: run scripts/install-deploy-tools.sh")
    folder = tmp_path_factory.mktemp("live")
    config = demo_store.build(folder / "demo", f"sqlite:///{folder / 'annexa.db'}")
    with AnnexaProcess(config, "metrics", "serve", "--listen", "127.0.0.1:0") as exporter:
        target = exporter.listen_address()
        code, _, exposition = http_get(f"http://{target}/metrics")
        assert code == 200
        with PrometheusServer([target], scrape_interval="1s", binary=binary) as prom:
            prom.wait_for_scrapes(2)
            yield Live(prom, exposition)


def test_dashboards_exist() -> None:
    assert DASHBOARDS, "no dashboards in deploy/grafana"


def test_every_dashboard_query_returns_data(live: Live) -> None:
    problems = []
    count = 0
    for path in DASHBOARDS:
        for query in dashboard_targets(path):
            count += 1
            answer = live.prom.query_raw(query.expr)
            if answer.get("status") != "success":
                problems.append(f"{query.origin}: {answer.get('errorType')}: {answer.get('error')}")
            elif not answer["data"]["result"]:
                problems.append(f"{query.origin}: empty result for {query.expr!r}")
    assert count > 10
    assert not problems, "\n".join(problems)


def test_dashboards_and_alerts_only_name_published_metrics(live: Live) -> None:
    published = {s.name for f in text_string_to_metric_families(live.exposition) for s in f.samples}
    queries = [q for path in DASHBOARDS for q in dashboard_targets(path)]
    queries += rule_queries(ALERTS) if ALERTS.exists() else []
    unknown = {f"{q.origin}: {name}" for q in queries for name in METRIC_NAME.findall(q.expr) if name not in published}
    assert not unknown, "\n".join(sorted(unknown))


def test_alert_expressions_evaluate(live: Live) -> None:
    if not ALERTS.exists():
        pytest.skip("no deploy/prometheus/alerts.yaml")
    for query in rule_queries(ALERTS):
        answer = live.prom.query_raw(query.expr)
        assert answer.get("status") == "success", f"{query.origin}: {answer}"


def test_exporter_content_matches_the_store_picture(live: Live) -> None:
    """A sanity check on the data the dashboards were judged on: it has each status in it."""
    result = live.prom.query("sum by (status) (annexa_control_status == 1)")["result"]
    statuses = {r["metric"]["status"] for r in result}
    assert statuses == {"passing", "failing", "unknown", "manual", "not_applicable"}
