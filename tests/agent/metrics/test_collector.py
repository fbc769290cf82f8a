"""The store collector on real stores (SQLite and PostgreSQL) produced by real runs of the test collector."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.catalogue import load_catalogue
from agent.cli.app import App
from agent.metrics.collector import StoreMetrics, store_registry
from agent.status import CONTROL_STATUSES
from tests.agent.metrics import demo_store
from tests.conftest import ROOT

Samples = dict[str, list[tuple[dict[str, str], float]]]


def exposition(config: Path) -> str:
    metrics = StoreMetrics(App(str(config)), cache_seconds=0)
    try:
        return generate_latest(store_registry(metrics, process=False)).decode()
    finally:
        metrics.close()


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_CONFIG": str(config)}
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo store per backend, shared by the read-only tests of this module."""
    folder = tmp_path_factory.mktemp(f"demo-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'annexa.db'}"
    else:
        url = request.getfixturevalue("postgres").fresh_database()
    return demo_store.build(folder / "demo", url)


def test_metrics_from_a_real_store(demo: Path) -> None:
    text = exposition(demo)
    m = parse(text)

    # State set: every control, every status, exactly one 1 per control.
    status = m["annexa_control_status"]
    catalogue = load_catalogue()
    assert len(status) == len(catalogue.controls) * len(CONTROL_STATUSES) == 93 * 5
    ones = Counter(labels["control"] for labels, value in status if value == 1)
    assert set(ones) == {c.id for c in catalogue.controls} and set(ones.values()) == {1}
    assert {v for _, v in status} == {0.0, 1.0}
    current = {labels["control"]: labels["status"] for labels, value in status if value == 1}
    for control, expected in demo_store.EXPECTED.items():
        assert current[control] == expected, control
    themes = {labels["control"]: labels["theme"] for labels, _ in status}
    assert themes["A.7.4"] == "Physical" and themes["A.8.24"] == "Technological"
    info = {labels["control"]: labels["title"] for labels, _ in m["annexa_control_info"]}
    assert len(info) == 93 and info["A.8.24"] == catalogue.get("A.8.24").title

    # Findings match `annexa findings --format json` (a separate process reading the same store).
    proc = cli(demo, "findings", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    want = Counter((d["status"], d["severity"], d["source"]) for d in docs)
    got = {(la["status"], la["severity"], la["source"]): v for la, v in m["annexa_findings"]}
    assert {k: v for k, v in got.items() if v} == want
    assert sum(got.values()) == len(docs) > 0
    by_rule = Counter((d["rule"], d["status"]) for d in docs)
    got_rule = {(la["rule"], la["status"]): v for la, v in m["annexa_rule_findings"]}
    assert {k: v for k, v in got_rule.items() if v} == by_rule
    assert got_rule[("testkit.widget.encrypted", "fail")] == 2

    # Sources: history-derived values.
    def per_source(name: str) -> dict[str, float]:
        return {la["source"]: v for la, v in m.get(name, [])}

    # kit-c collects its accounts but never its people: degraded, so it has a last success but no last ok.
    success = per_source("annexa_source_last_success_timestamp_seconds")
    assert set(success) == {"kit-a", "kit-b", "kit-c"}
    assert all(abs(time.time() - ts) < 600 for ts in success.values())
    assert set(per_source("annexa_source_last_ok_timestamp_seconds")) == {"kit-a", "kit-b"}
    assert set(per_source("annexa_source_last_run_timestamp_seconds")) == {"kit-a", "kit-b", "kit-c"}
    outcome = {(la["source"], la["outcome"]): v for la, v in m["annexa_source_outcome"]}
    assert outcome[("kit-a", "ok")] == 1 and outcome[("kit-c", "degraded")] == 1
    assert outcome[("kit-c", "ok")] == 0 and outcome[("kit-c", "failed")] == 0
    missing = {(la["source"], la["reason"]): v for la, v in m["annexa_source_uncollected_types"]}
    assert missing[("kit-c", "denied")] == 1 and missing[("kit-a", "denied")] == 0
    errs = {(la["source"], la["resource_type"], la["reason"]): v for la, v in m["annexa_source_collection_errors"]}
    assert errs == {("kit-c", "testkit.person", "denied"): 1}
    runs = {(la["source"], la["outcome"]): v for la, v in m["annexa_source_runs_total"]}
    assert runs[("kit-c", "degraded")] == 2 and runs[("kit-a", "ok")] == 1 and runs[("kit-a", "failed")] == 0
    assert per_source("annexa_source_errors_total") == {"kit-a": 0, "kit-b": 0, "kit-c": 2}
    assert set(per_source("annexa_collection_duration_seconds")) == {"kit-a", "kit-b", "kit-c"}
    assert per_source("annexa_source_resources") == {"kit-a": 3, "kit-b": 4, "kit-c": 1}
    assert not [n for n in m if n.endswith("_created")]  # no creation-time noise

    # Evidence freshness as timestamps, and manual evidence expiry.
    fresh = {la["control"]: v for la, v in m["annexa_control_evidence_timestamp_seconds"]}
    assert 0 <= time.time() - fresh["A.8.24"] < 600 and 0 <= time.time() - fresh["A.5.1"] < 600
    assert "A.8.1" not in fresh  # no evidence at all: no timestamp rather than a made-up one
    assert "A.5.18" not in fresh  # only `error` findings (could not collect): not evidence
    assert "annexa_evidence_age_seconds" not in m
    expiry = {la["control"]: v for la, v in m["annexa_manual_evidence_expiry_timestamp_seconds"]}
    assert set(expiry) == {"A.5.1"}
    assert abs(expiry["A.5.1"] - (time.time() + demo_store.MANUAL_VALID_DAYS * 86400)) < 600
    assert m["annexa_store_up"] == [({}, 1.0)]
    assert m["annexa_build_info"][0][0]["version"]

    # Bounded labels: no resource id (nor resource name) ever becomes a label value.
    resource_values = {d["resource"]["id"] for d in docs} | {d["resource"]["name"] for d in docs}
    label_values = {v for samples in m.values() for labels, _ in samples for v in labels.values()}
    assert not resource_values & label_values


def test_promtool_accepts_the_exposition(demo: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required in CI (apt-get install prometheus)")
        pytest.skip("promtool not installed")
    text = exposition(demo)
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "" and proc.stderr.strip() == "", "promtool has lint remarks"


def test_values_survive_a_restart(demo: Path) -> None:
    """A new process (a fresh exporter) publishes the same numbers: nothing lives in memory."""
    before = parse(exposition(demo))
    proc = cli(demo, "metrics", "show")
    assert proc.returncode == 0, proc.stderr
    after = parse(proc.stdout)
    volatile = {"annexa_metrics_compute_duration_seconds"}
    for name in set(before) | set(after):
        if name in volatile:
            assert {tuple(sorted(la.items())) for la, _ in before[name]} == \
                   {tuple(sorted(la.items())) for la, _ in after[name]}
            continue
        assert sorted(before[name], key=repr) == sorted(after[name], key=repr), name


def test_a_scrape_burst_reads_the_store_once(tmp_path: Path) -> None:
    config = demo_store.build(tmp_path / "demo", f"sqlite:///{tmp_path / 'a.db'}")
    metrics = StoreMetrics(App(str(config)), cache_seconds=30)
    first = metrics.snapshot()
    assert all(metrics.snapshot() is first for _ in range(20))
    metrics.cache_seconds = 0
    assert metrics.snapshot() is not first
    metrics.close()


def test_unreachable_store_is_reported_not_a_500(tmp_path: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    url = postgres.url.rsplit("/", 1)[0] + "/no_such_database"
    config = demo_store.write_demo_config(tmp_path / "demo", url)
    metrics = StoreMetrics(App(str(config)), cache_seconds=0)
    m = parse(generate_latest(store_registry(metrics, process=False)).decode())
    assert m["annexa_store_up"] == [({}, 0.0)]
    assert len(m["annexa_control_info"]) == 93 and m["annexa_build_info"]
    assert "annexa_control_status" not in m and "annexa_findings" not in m  # no made-up numbers
    assert metrics.ping() is False
