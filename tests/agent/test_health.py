"""Source health on real stores built by real runs: ok, degraded, failed, and an expected gap before and
after it expires; reason classes; the one summary line per source; config validation of expected gaps."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.cli.app import App
from agent.errors import ConfigError
from agent.health import classify, outcome
from agent.metrics.collector import StoreMetrics, store_registry
from agent.store.schema import run_sources
from tests.support import testkit  # noqa: F401  (registers the test collector)

WIDGET = {"type": "testkit.widget", "id": "arn:widget:w1", "name": "w1", "region": "r1",
          "data": {"encryption": {"enabled": True}, "kind": "server", "rules": []}}


def write(folder: Path, worlds: dict[str, dict[str, Any]], gaps: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sources = ""
    for name, world in worlds.items():
        (folder / f"{name}.json").write_text(json.dumps(world))
        sources += f"  - name: {name}\n    type: testkit\n    world: {folder / (name + '.json')}\n"
    config = folder / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
                      f"sources:\n{sources}{gaps}")
    return config


def run(config: Path) -> None:
    from agent.cli.cmd_run import execute_run

    app = App(str(config))
    store = app.store()
    try:
        execute_run(app, (), quiet=True, store=store)
    finally:
        store.close()


def metrics(config: Path) -> dict[str, list[tuple[dict[str, str], float]]]:
    m = StoreMetrics(App(str(config)), cache_seconds=0)
    try:
        text = generate_latest(store_registry(m, process=False)).decode()
    finally:
        m.close()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def states(m: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str, str]:
    return {la["source"]: la["outcome"] for la, v in m["annexa_source_outcome"] if v == 1}


def stored_errors(config: Path, source: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    app = App(str(config))
    store = app.store()
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(run_sources.c.errors).where(run_sources.c.source == source)
                                .order_by(run_sources.c.run_id.desc())).all()
        return rows[0][0]
    finally:
        store.close()


GUARDDUTY_LIKE = {"type": "testkit.person", "message": "OptInRequired: the service is not subscribed",
                  "region": "eu-west-3"}


def test_ok_degraded_failed_and_summary_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = write(tmp_path, {
        "good": {"resources": [WIDGET]},
        "some": {"resources": [WIDGET], "fail": [
            {"type": "testkit.person", "message": "AccessDenied: not authorized to list users"},
            {"type": "testkit.account", "message": "HTTP 429 Too Many Requests"},
            {"type": "testkit.account", "message": "HTTP 429 Too Many Requests", "region": "r2"}]},
        "none": {"resources": [], "fail": [
            {"type": t, "message": "connection refused"} for t in ("testkit.widget", "testkit.person")]},
    })
    with caplog.at_level(logging.INFO, logger="annexa.runner"):
        run(config)
    m = metrics(config)
    assert states(m) == {"good": "ok", "some": "degraded", "none": "failed"}
    missing = {(la["source"], la["reason"]): v for la, v in m["annexa_source_uncollected_types"]}
    assert missing[("some", "denied")] == 1 and missing[("some", "throttled")] == 1
    assert missing[("none", "unavailable")] == 2 and missing[("good", "denied")] == 0
    errs = {(la["source"], la["resource_type"], la["reason"]): v for la, v in m["annexa_source_collection_errors"]}
    assert errs[("some", "testkit.account", "throttled")] == 2
    success = {la["source"] for la, _ in m["annexa_source_last_success_timestamp_seconds"]}
    assert success == {"good", "some"}  # a degraded-but-working source has succeeded; a failed one has not
    assert {la["source"] for la, _ in m["annexa_source_last_ok_timestamp_seconds"]} == {"good"}
    # One summary line per source, with the counts by reason; details only at debug level.
    lines = [r.getMessage() for r in caplog.records if r.name == "annexa.runner"]
    assert "source some degraded: 2 of 4 resource types not collected (denied 1, throttled 1)" in lines
    assert "source none failed: 2 of 4 resource types not collected (unavailable 2)" in lines
    assert sum(1 for line in lines if line.startswith("source good ok")) == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "collection error" in r.getMessage()]
    assert warnings == []
    assert stored_errors(config, "some")[0]["reason"] == "denied"


def test_expected_gap_before_and_after_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gap = ("expected_gaps:\n  - source: aws-like\n    resource_type: testkit.person\n    region: eu-west-3\n"
           "    reason: GuardDuty is not used in eu-west-3\n    approved_by: ciso@example.com\n"
           "    expires: 2027-03-31\n")
    config = write(tmp_path, {"aws-like": {"resources": [WIDGET], "fail": [GUARDDUTY_LIKE]}}, gap)
    monkeypatch.setenv("ANNEXA_NOW", "2027-03-30T12:00:00Z")
    run(config)
    m = metrics(config)
    assert states(m) == {"aws-like": "ok"}
    assert {la["source"] for la, _ in m["annexa_source_last_ok_timestamp_seconds"]} == {"aws-like"}
    record = stored_errors(config, "aws-like")[0]
    assert record["status"] == "not_applicable" and record["reason"] == "not_enabled"
    assert record["expected_gap"] == {"reason": "GuardDuty is not used in eu-west-3",
                                      "approved_by": "ciso@example.com", "expires": "2027-03-31"}
    app = App(str(config))
    store = app.store()
    try:
        errors = [f for f in store.current_findings(status="error")]
    finally:
        store.close()
    assert errors == []  # not an error while the gap is declared

    monkeypatch.setenv("ANNEXA_NOW", "2027-03-31T00:00:00Z")  # the gap expires: an error again
    run(config)
    m = metrics(config)
    assert states(m) == {"aws-like": "degraded"}
    record = stored_errors(config, "aws-like")[0]
    assert "status" not in record and record["reason"] == "not_enabled"


def test_an_expected_gap_in_another_region_does_not_cover(tmp_path: Path) -> None:
    gap = ("expected_gaps:\n  - {source: s, resource_type: testkit.person, region: us-east-1,"
           " reason: not used there, approved_by: ciso, expires: 2999-01-01}\n")
    config = write(tmp_path, {"s": {"resources": [WIDGET], "fail": [GUARDDUTY_LIKE]}}, gap)
    run(config)
    assert states(metrics(config)) == {"s": "degraded"}


@pytest.mark.parametrize(("entry", "field"), [
    ("{source: nope, resource_type: testkit.person, reason: x y z, approved_by: a, expires: 2027-01-01}",
     "expected_gaps[0].source"),
    ("{source: s, resource_type: aws.nothing, reason: x y z, approved_by: a, expires: 2027-01-01}",
     "expected_gaps[0].resource_type"),
    ("{source: s, resource_type: testkit.person, reason: x y z, approved_by: a, expires: soon}",
     "expected_gaps[0].expires"),
    ("{source: s, resource_type: testkit.person, reason: x y z, expires: 2027-01-01}",
     "expected_gaps[0].approved_by"),
    ("{source: s, resource_type: testkit.person, reason: x y z, approved_by: a, expires: 2027-01-01, typo: 1}",
     "expected_gaps[0].typo"),
])
def test_expected_gap_validation_names_the_field(tmp_path: Path, entry: str, field: str) -> None:
    from agent.config import load_config

    config = write(tmp_path, {"s": {"resources": []}}, f"expected_gaps:\n  - {entry}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.exit_code == 2
    assert field in str(info.value)


@pytest.mark.parametrize(("error", "reason"), [
    ("ListDetectors: AccessDeniedException: User is not authorized", "denied"),
    ("GET https://x/api -> 403 Forbidden", "denied"),
    ("SERVICE_DISABLED: Cloud Asset API has not been used in project 1", "not_enabled"),
    ("SubscriptionRequiredException: the account is not subscribed", "not_enabled"),
    ("OptInRequired: opt in first", "not_enabled"),
    ("ThrottlingException: Rate exceeded", "throttled"),
    ("HTTP 429", "throttled"),
    ("HTTP 503 Service Unavailable", "unavailable"),
    ("Read timed out", "unavailable"),
    ("connection refused", "unavailable"),
    ("invalid_response: unparseable JSON", "invalid_response"),
    ("Expecting value: line 1 column 1 (char 0)", "invalid_response"),
])
def test_classifier(error: str, reason: str) -> None:
    assert classify(error) == reason


def test_classifier_reads_exceptions() -> None:
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"},
                          "ResponseMetadata": {"HTTPStatusCode": 403}}, "ListBuckets")
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "slow down"},
                             "ResponseMetadata": {"HTTPStatusCode": 400}}, "ListBuckets")
    assert classify(denied) == "denied" and classify(throttled) == "throttled"
    assert classify(TimeoutError("read")) == "unavailable"
    assert classify(json_error()) == "invalid_response"


def json_error() -> Exception:
    try:
        json.loads("<html>")
    except ValueError as exc:
        return exc
    raise AssertionError


def test_outcome_mapping() -> None:
    assert outcome("complete", [], 3) == "ok"
    assert outcome("partial", [{"resource_type": "t", "message": "x"}], 3) == "degraded"
    assert outcome("partial", [{"resource_type": "t", "message": "x"}], 0) == "failed"
    assert outcome("failed", [], 0) == "failed"
    assert outcome("complete", [{"resource_type": "t", "status": "not_applicable"}], 1) == "ok"
    assert outcome("incomplete", [], 1) is None and outcome("running", [], 0) is None
