"""Every shipped dashboard query, run by a real Prometheus scraping a real `annexa metrics serve`.

The exporter reads a store filled by real runs of the test collector (failing, passing, unknown,
manual and not-applicable controls; a source with collection errors; a manual document that
expires). Each panel and variable query must succeed and return data; and every `annexa_*`
metric that a dashboard or an alert rule names must be one the exporter really publishes.

The same Prometheus also scrapes a second exporter whose store is unreachable, and loads
alerts.yaml: the alerts that only make sense on real exporter output (store unreachable, a
source that never succeeded) must go pending for exactly the right targets.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.agent.metrics import demo_store
from tests.deploy.deploy_paths import DEPLOY
from tests.deploy.prometheus_server import PrometheusServer, free_port
from tests.deploy.promql import dashboard_targets, rule_queries
from tests.support.annexa_process import AnnexaProcess, http_get

DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
METRIC_NAME = re.compile(r"\bannexa_[a-z0-9_]+\b")


@dataclass
class Live:
    prom: PrometheusServer
    exposition: str
    target: str  # the exporter reading the demo store
    store_down_target: str  # an exporter whose PostgreSQL does not answer


EXCEPTION = """\
  - id: {id}
    rule: testkit.widget.encrypted
    resource: "{resource}"
    justification: Widget being replaced
    owner: ops@example.com
    approved_by: ciso@example.com
    expires: {expires}
"""


def add_operational_state(config: Path) -> None:
    """What the demo store lacks for the operational panels and alerts: a source whose runs all fail
    (kit-d), one expiring and one expired risk acceptance, and a recorded store verification."""
    from agent.cli.app import App
    from agent.cli.cmd_run import execute_run
    from agent.verifystatus import verify_and_record

    folder = config.parent
    world = folder / "world-kit-d.json"
    world.write_text('{"resources": [], "fail": [{"type": "testkit.person", "message": "AccessDenied: all"}]}')
    today = datetime.now(UTC).date()
    (folder / "exceptions.yaml").write_text(
        "exceptions:\n"
        + EXCEPTION.format(id="EX-SOON", resource="arn:widget:a1", expires=today + timedelta(days=5))
        + EXCEPTION.format(id="EX-OLD", resource="arn:widget:a3", expires=today - timedelta(days=5)))
    text = config.read_text().replace("sources:\n", "exceptions: exceptions.yaml\nsources:\n", 1)
    config.write_text(text + f"  - name: kit-d\n    type: testkit\n    world: {world}\n")
    app = App(str(config))
    store = app.store()
    try:
        execute_run(app, ("kit-d",), quiet=True, store=store)
        verify_and_record(store)
    finally:
        store.close()


def store_down_config(folder: Path) -> Path:
    """annexa.yaml whose store is a PostgreSQL port that nothing listens on."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "annexa.yaml"
    config.write_text(f"store:\n  url: postgresql+psycopg://annexa@127.0.0.1:{free_port()}/annexa\n"
                      f"  evidence: {folder / 'evidence'}\nsources: []\n")
    return config


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is required in CI (scripts/install-deploy-tools.sh)")
        pytest.skip("prometheus is not installed: run scripts/install-deploy-tools.sh")
    folder = tmp_path_factory.mktemp("live")
    config = demo_store.build(folder / "demo", f"sqlite:///{folder / 'annexa.db'}")
    add_operational_state(config)
    down_config = store_down_config(folder / "down")
    with (
        AnnexaProcess(config, "metrics", "serve", "--listen", "127.0.0.1:0") as exporter,
        AnnexaProcess(down_config, "metrics", "serve", "--listen", "127.0.0.1:0") as down,
    ):
        target, down_target = exporter.listen_address(), down.listen_address()
        code, _, exposition = http_get(f"http://{target}/metrics")
        assert code == 200
        with PrometheusServer([target, down_target], scrape_interval="1s", binary=binary,
                              rule_files=[ALERTS]) as prom:
            prom.wait_for_scrapes(2)
            yield Live(prom, exposition, target, down_target)


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
    queries += rule_queries(ALERTS)
    unknown = {f"{q.origin}: {name}" for q in queries for name in METRIC_NAME.findall(q.expr) if name not in published}
    assert not unknown, "\n".join(sorted(unknown))


def test_alert_expressions_evaluate(live: Live) -> None:
    assert ALERTS.exists(), "deploy/prometheus/alerts.yaml is missing"
    for query in rule_queries(ALERTS):
        answer = live.prom.query_raw(query.expr)
        assert answer.get("status") == "success", f"{query.origin}: {answer}"


def pending_alerts(prom: PrometheusServer, name: str, want: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The label sets of alert *name* (pending or firing), once at least *want* appear or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r["metric"] for r in prom.query(f'ALERTS{{alertname="{name}"}}')["result"]]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_store_unreachable_alert_names_only_the_exporter_without_store(live: Live) -> None:
    """The store-down exporter still answers /metrics, with annexa_store_up 0 and no control data."""
    assert live.prom.query(f'annexa_store_up{{instance="{live.target}"}} == 1')["result"]
    assert not live.prom.query(f'annexa_control_status{{instance="{live.store_down_target}"}}')["result"]
    alerts = pending_alerts(live.prom, "AnnexaStoreUnreachable", 1)
    assert [(a["instance"], a["alertstate"], a["severity"]) for a in alerts] == [
        (live.store_down_target, "pending", "critical")
    ]


def test_never_succeeded_alert_names_the_source_whose_runs_all_failed(live: Live) -> None:
    """kit-d's runs all fail (nothing collected): it has a last-run time but no success time. kit-c's
    runs are degraded (one resource type unreadable): that is a success, and no alert."""
    ran = {r["metric"]["source"] for r in live.prom.query("annexa_source_last_run_timestamp_seconds")["result"]}
    assert ran == {"kit-a", "kit-b", "kit-c", "kit-d"}
    alerts = pending_alerts(live.prom, "AnnexaSourceNeverSucceeded", 1)
    assert [(a["source"], a["alertstate"]) for a in alerts] == [("kit-d", "pending")]
    outcomes = {r["metric"]["source"]: r["metric"]["outcome"]
                for r in live.prom.query("annexa_source_outcome == 1")["result"]}
    assert outcomes == {"kit-a": "ok", "kit-b": "ok", "kit-c": "degraded", "kit-d": "failed"}
    # both exporters answer their scrapes: a store problem is not reported as an exporter outage
    assert pending_alerts(live.prom, "AnnexaExporterDown", 1, timeout=0) == []


def test_never_verified_alert_stays_quiet_for_a_verified_store(live: Live) -> None:
    """The real exporter publishes the recorded verification, so the never-verified expression (which
    the promtool tests show firing) finds nothing here; the store-down exporter is not named either."""
    by_name = {q.origin.split()[-1]: q.expr for q in rule_queries(ALERTS)}
    assert live.prom.query(f'annexa_store_verify_timestamp_seconds{{instance="{live.target}"}}')["result"]
    assert live.prom.query(by_name["AnnexaStoreNeverVerified"])["result"] == []
    unless_verified = by_name["AnnexaStoreNeverVerified"].replace("annexa_store_verify_timestamp_seconds",
                                                                  "annexa_no_such_series")
    named = {r["metric"]["instance"] for r in live.prom.query(unless_verified)["result"]}
    assert named == {live.target}  # without the verification series the same expression names it


def test_exporter_content_matches_the_store_picture(live: Live) -> None:
    """A sanity check on the data the dashboards were judged on: it has each status in it."""
    result = live.prom.query("sum by (status) (annexa_control_status == 1)")["result"]
    statuses = {r["metric"]["status"] for r in result}
    assert statuses == {"passing", "failing", "unknown", "manual", "not_applicable"}
