"""Prometheus alert rules (deploy/prometheus/alerts.yaml) and the Alertmanager example."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.deploy_paths import DEPLOY
from tests.deploy.promql import KNOWN_METRICS, metric_names, rule_queries

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yaml"
ALERTMANAGER = DEPLOY / "prometheus" / "alertmanager.example.yaml"
README = DEPLOY / "README.md"

REQUIRED_ALERTS = {
    "AnnexaSourceStale",
    "AnnexaSourceFailed",
    "AnnexaSourceDegraded",
    "AnnexaStoreVerifyFailed",
    "AnnexaStoreVerifyStale",
    "AnnexaStoreNeverVerified",
    "AnnexaRiskAcceptanceExpiring",
    "AnnexaRiskAcceptanceExpired",
    "AnnexaControlRegressed",
    "AnnexaManualEvidenceExpiring",
    "AnnexaExporterDown",
    "AnnexaEvidenceStale",
    "AnnexaStoreUnreachable",
    "AnnexaSourceNeverSucceeded",
}


def alert_rules() -> list[dict]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules(promtool: str) -> None:
    proc = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in proc.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    proc = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ALERT_TESTS.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_tests_catch_a_broken_threshold(promtool: str, tmp_path: Path) -> None:
    """The unit tests are not vacuous: a changed threshold makes them fail."""
    broken = ALERTS.read_text(encoding="utf-8").replace(
        "annexa_source_last_success_timestamp_seconds > 43200",
        "annexa_source_last_success_timestamp_seconds > 86400",
    )
    assert broken != ALERTS.read_text(encoding="utf-8")
    (tmp_path / "alerts.yaml").write_text(broken, encoding="utf-8")
    (tmp_path / "alerts.test.yaml").write_text(ALERT_TESTS.read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yaml"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode != 0
    assert "AnnexaSourceStale" in proc.stdout + proc.stderr


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    fired: set[str] = set()
    silent: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested not firing"


def test_required_alerts_and_their_metadata() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    assert set(names) >= REQUIRED_ALERTS
    readme = README.read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-")) for h in re.findall(r"^#+ (.+)$", readme, re.M)
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), rule["alert"]
        url = annotations["runbook_url"]
        assert url.endswith(f"deploy/README.md#{rule['alert'].lower()}"), url
        assert rule["alert"].lower() in anchors, f"deploy/README.md has no runbook section {rule['alert']}"


def test_alerts_use_only_contract_metrics() -> None:
    for query in rule_queries(ALERTS):
        names = metric_names(query.expr)
        assert names, f"no metric found in {query}"
        assert names <= KNOWN_METRICS, f"{query.origin}: unknown metrics {names - KNOWN_METRICS}"


def test_metric_name_extraction_sees_every_selector() -> None:
    assert metric_names('sum by (x) (annexa_findings{status="fail"}) / annexa_foo') == {"annexa_findings", "annexa_foo"}
    assert metric_names("time() - annexa_bar > 3") == {"annexa_bar"}
    assert metric_names('up{job=~".*annexa_x.*"} == 0') == {"up"}


def test_alert_expressions_run_on_a_real_prometheus(prometheus_with_data) -> None:  # type: ignore[no-untyped-def]
    """Each rule expression is accepted and evaluated by Prometheus against exporter-shaped data."""
    for query in rule_queries(ALERTS):
        answer = prometheus_with_data.query_raw(query.expr)
        assert answer["status"] == "success", f"{query.origin}: {answer.get('error')}"
        assert answer["data"]["resultType"] == "vector"


def test_alert_conditions_on_fixture_data(prometheus_with_data) -> None:  # type: ignore[no-untyped-def]
    """On the fixture data (collected on 2026-01-01), the rules single out what they should."""
    by_name = {q.origin.split()[-1]: q.expr for q in rule_queries(ALERTS)}
    prom = prometheus_with_data

    def labels(name: str, key: str) -> set[str]:
        return {r["metric"].get(key, "") for r in prom.query(by_name[name])["result"]}

    assert labels("AnnexaSourceStale", "source") == {"aws-main", "gh"}  # fixture timestamps are in the past
    # A.5.1 / A.6.3 are manual and A.7.4 not applicable: excluded although their evidence is old.
    # Evidence timestamps are in the past too; manual/not-applicable controls stay excluded.
    assert labels("AnnexaEvidenceStale", "control") == {"A.5.15", "A.8.5", "A.8.15", "A.8.16"}
    assert prom.query(by_name["AnnexaExporterDown"])["result"] == []
    assert labels("AnnexaSourceFailed", "source") == {"gcp-new"}
    assert labels("AnnexaSourceDegraded", "source") == {"gh"}
    assert prom.query(by_name["AnnexaStoreVerifyFailed"])["result"] == []  # annexa_store_verify_ok 1
    # The fixture exporter has a verification timestamp: not "never verified".
    assert prom.query(by_name["AnnexaStoreNeverVerified"])["result"] == []
    assert labels("AnnexaRiskAcceptanceExpiring", "state") == {"expiring"}
    assert labels("AnnexaRiskAcceptanceExpired", "state") == {"expired"}
    # gcp-new has run (with errors) but has no success timestamp; aws-main and gh have one.
    assert labels("AnnexaSourceNeverSucceeded", "source") == {"gcp-new"}
    assert prom.query(by_name["AnnexaStoreUnreachable"])["result"] == []  # annexa_store_up 1


def test_alertmanager_example_is_valid(amtool: str) -> None:
    proc = subprocess.run([amtool, "check-config", str(ALERTMANAGER)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_alertmanager_example_has_slack_and_email_and_no_inline_secret() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    receivers = {r["name"]: r for r in config["receivers"]}
    assert any("slack_configs" in r for r in receivers.values())
    assert any("email_configs" in r for r in receivers.values())
    assert "slack_api_url" not in config["global"] and "smtp_auth_password" not in config["global"]
    assert config["global"]["slack_api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert config["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    for receiver in receivers.values():
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack
        for mail in receiver.get("email_configs", []):
            assert "auth_password" not in mail

    def route_receivers(route: dict) -> set[str]:
        return {route["receiver"]} | {n for child in route.get("routes", []) for n in route_receivers(child)}

    assert route_receivers(config["route"]) <= set(receivers)


@pytest.mark.parametrize(
    ("good", "bad"),
    [("smtp_auth_password_file:", "smtp_auth_pasword_file:"), ("slack_api_url_file:", "slack_api_url_fil:")],
)
def test_amtool_rejects_a_misspelt_key(amtool: str, tmp_path: Path, good: str, bad: str) -> None:
    """check-config is strict, so the success above means something."""
    text = ALERTMANAGER.read_text(encoding="utf-8")
    assert good in text
    broken = tmp_path / "am.yaml"
    broken.write_text(text.replace(good, bad), encoding="utf-8")
    proc = subprocess.run([amtool, "check-config", str(broken)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0


@pytest.mark.parametrize(
    ("alertname", "receiver"),
    [
        ("AnnexaExporterDown", "platform-oncall"),
        ("AnnexaStoreUnreachable", "platform-oncall"),
        ("AnnexaSourceNeverSucceeded", "compliance-slack"),
        ("AnnexaControlRegressed", "isms-owner-email-and-slack"),
    ],
)
def test_alertmanager_example_routes(amtool: str, alertname: str, receiver: str) -> None:
    """Infrastructure alerts go to platform on-call, compliance alerts to the compliance team."""
    proc = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", f"alertname={alertname}"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == receiver
