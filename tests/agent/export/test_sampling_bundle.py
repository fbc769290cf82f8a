"""Sampling in the bundle, on a store with four runs over 45 days (tests/agent/export/sampling_store.py):
population vs collection errors, the complete timeline, snapshots by resource, per-interval OSCAL,
remediation timeliness (CSV, page, metrics), sample dates, and a per-control bundle that verifies alone."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.cli.app import App
from agent.export.bundle import export_bundle
from agent.export.history import Period
from agent.soa import configured_soa
from tests.agent.export.sampling_store import HOSTILE, NOW, T0, SamplingStore, build
from tests.agent.export.test_cli import annexa, main, one_line_error
from tests.agent.export.test_html import CHROMIUM_FLAGS, EXTERNAL, chromium
from tests.agent.export.test_oscal import validate

PERIOD = ("2025-12-01", "2026-02-20")
SCOPE = "annexa:collection/kit/-/r9/testkit.widget"
DAY = 86400.0


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> SamplingStore:
    return build(tmp_path_factory.mktemp("sampling-bundle"))


@pytest.fixture(scope="module")
def full(sampled: SamplingStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full") / "audit.zip"
    proc = annexa("--config", str(sampled.config), "export", "--out", str(out), "--from", PERIOD[0], "--to",
                  PERIOD[1], "--sample-date", "2026-01-05", "--sample-date", "2026-01-15T12:00:00Z")
    assert proc.returncode == 0, proc.stderr
    return out


def rows(bundle: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(bundle) as zf:
        return list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8"))))


def names(bundle: Path) -> set[str]:
    with zipfile.ZipFile(bundle) as zf:
        return set(zf.namelist())


def test_population_holds_resources_and_collection_errors_are_apart(full: Path) -> None:
    population = rows(full, "controls/A.8.24/population.csv")
    assert sorted(r["resource_id"] for r in population) == ["w-fix", "w-late", "w-ok", "w-srv"]
    errors = rows(full, "controls/A.8.24/collection-errors.csv")
    assert [(e["scope"], e["resource_type"], e["region"]) for e in errors] == [(SCOPE, "testkit.widget", "r9")]
    assert errors[0]["message"] and errors[0]["status_at_period_end"] == "not_observed"
    assert float(errors[0]["days_error"]) == pytest.approx(10, abs=0.01)  # run 2 until run 3
    hostile = next(r for r in population if r["resource_id"] == "w-fix")
    assert hostile["resource_name"] == "'" + HOSTILE  # inert in a spreadsheet


def test_timeline_is_complete_and_paged(sampled: SamplingStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        full: Path) -> None:
    changes = rows(full, "controls/A.8.24/timeline.csv")
    findings = rows(full, "controls/A.8.24/findings.csv")
    assert len(changes) == len(findings)  # every interval started inside the period here
    assert [c["from"] for c in changes] == sorted((c["from"] for c in changes), reverse=True)
    assert {(c["rule"], c["resource_id"], c["status"]) for c in changes} >= {
        ("testkit.widget.encrypted", "w-fix", "fail"), ("testkit.widget.encrypted", "w-fix", "pass"),
        ("testkit.widget.encrypted", SCOPE, "error")}

    import agent.export.timeline as timeline

    monkeypatch.setattr(timeline, "PAGE_SIZE", 2)  # a small page to see the paging on a small store
    app = App(str(sampled.config))
    store = app.store()
    out = tmp_path / "paged.zip"
    try:
        export_bundle(store=store, catalogue=app.catalogue, rules=app.active_rules(),
                      soa=configured_soa(app.config, app.catalogue), out=out,
                      period=Period(T0 - timedelta(days=1), NOW), controls=["A.8.24"])
    finally:
        store.close()
    total = len(rows(out, "controls/A.8.24/timeline.csv"))
    pages = sorted(n for n in names(out) if n.startswith("controls/A.8.24/timeline") and n.endswith(".html"))
    assert total > 4 and len(pages) == -(-total // 2)
    with zipfile.ZipFile(out) as zf:
        listed = sum(zf.read(p).decode().count('<tr><td class="num">') for p in pages)
        last = zf.read(f"controls/A.8.24/timeline-{len(pages)}.html").decode()
    assert listed == total
    assert 'href="timeline-2.html"' in zf_text(out, "controls/A.8.24/timeline.html")
    assert "next page" not in last and "previous page" in last


def zf_text(bundle: Path, name: str) -> str:
    with zipfile.ZipFile(bundle) as zf:
        return zf.read(name).decode("utf-8")


def test_snapshots_are_listed_by_resource_with_each_version(full: Path) -> None:
    snaps = rows(full, "controls/A.8.24/snapshots.csv")
    by = {}
    for r in snaps:
        by.setdefault(r["resource_id"], []).append(r)
    assert sorted(by) == ["w-fix", "w-late", "w-ok", "w-srv"]
    assert [v["version"] for v in by["w-fix"]] == ["1", "2"] and [v["version"] for v in by["w-ok"]] == ["1"]
    assert by["w-fix"][0]["evidence_file"] != by["w-fix"][1]["evidence_file"]
    files = names(full)
    assert all(f"controls/A.8.24/{r['evidence_file']}" in files for r in snaps)
    page = zf_text(full, "controls/A.8.24/snapshots.html")
    assert page.count('href="evidence/') == len(snaps)
    assert "&#34;" in page or "&quot;" in page or HOSTILE not in page  # escaped
    assert 'href="snapshots.html"' in zf_text(full, "controls/A.8.24/index.html")


def test_oscal_has_one_observation_per_interval_with_inventory_subjects(full: Path) -> None:
    doc = json.loads(zf_text(full, "oscal/assessment-results.json"))
    validate(doc)
    result = doc["assessment-results"]["results"][0]
    inventory = {i["uuid"]: i for i in result["local-definitions"]["inventory-items"]}
    ids = {next(p["value"] for p in i["props"] if p["name"] == "resource-id") for i in inventory.values()}
    assert ids == {"w-fix", "w-late", "w-ok", "w-srv"}  # one item per resource, none for a collection scope
    per_interval = [o for o in result["observations"] if any(p["name"] == "rule" for p in o.get("props", []))]
    intervals = {(r["rule"], r["resource_id"], r["first_run"]) for cid in ("A.8.24", "A.8.20", "A.5.17")
                 for r in rows(full, f"controls/{cid}/findings.csv")}
    assert len(per_interval) == len(intervals)
    for o in per_interval:
        assert o["methods"] == ["TEST"]
        subject = o["subjects"][0]
        assert subject["type"] in ("inventory-item", "component")
        if subject["type"] == "inventory-item":
            assert subject["subject-uuid"] in inventory
    every_method = {m for o in result["observations"] for m in o["methods"]}
    assert every_method <= {"EXAMINE", "INTERVIEW", "TEST"}
    related = {r["observation-uuid"] for f in result["findings"] for r in f.get("related-observations", [])}
    errors = [o for o in per_interval if {"name": "status", "ns": o["props"][0]["ns"], "value": "error"} in o["props"]]
    assert errors and not {o["uuid"] for o in errors} & related  # errors support no satisfied/not-satisfied
    assert all("remarks" in o for o in errors)
    fails = [o for o in per_interval if any(p["name"] == "status" and p["value"] == "fail" for p in o["props"])]
    assert fails and {o["uuid"] for o in fails} <= related


def _remediation(bundle: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["rule"], r["resource_id"]): r for r in rows(bundle, "remediation.csv")}


def test_remediation_csv_against_the_slas(full: Path) -> None:
    rem = _remediation(full)
    fixed = rem[("testkit.widget.encrypted", "w-fix")]
    assert (fixed["outcome"], fixed["severity"], fixed["sla_days"], fixed["sla_met"]) == ("fixed", "high", "30", "yes")
    assert float(fixed["days"]) == pytest.approx(10, abs=0.01)
    assert fixed["resource_name"] == "'" + HOSTILE
    late = rem[("testkit.widget.encrypted", "w-late")]
    assert (late["outcome"], late["sla_met"]) == ("fixed", "no") and float(late["days"]) == pytest.approx(45, abs=0.01)
    still = rem[("testkit.widget.no_public_ports", "w-srv")]
    assert (still["outcome"], still["severity"], still["sla_days"], still["sla_met"]) == ("open", "critical", "7", "no")
    end = datetime(2026, 2, 20, 23, 59, 59, tzinfo=UTC)
    assert float(still["days"]) == pytest.approx((end - T0).total_seconds() / DAY, abs=0.01)
    assert still["resolved_at"] == "" and still["due"].startswith("2026-01-08")
    assert not any(k[1].startswith("annexa:") for k in rem)  # errors never start a failure
    manifest = json.loads(zf_text(full, "manifest.json"))
    assert manifest["remediation"]["open_past_sla"] == 1 and manifest["remediation"]["failures"] == 3
    page = zf_text(full, "remediation.html")
    assert "Open past SLA (1)" in page and "no_public_ports" in page


def test_remediation_as_it_stood_at_the_end_of_an_earlier_period(sampled: SamplingStore, tmp_path: Path) -> None:
    out = tmp_path / "january.zip"
    proc = annexa("--config", str(sampled.config), "export", "--out", str(out), "--from", "2025-12-01",
                  "--to", "2026-01-31")
    assert proc.returncode == 0, proc.stderr
    late = _remediation(out)[("testkit.widget.encrypted", "w-late")]
    assert (late["outcome"], late["resolved_at"], late["sla_met"]) == ("open", "", "no")  # fixed only in February


def test_sample_dates_in_the_bundle(full: Path) -> None:
    day5 = {(r["rule"], r["resource_id"]): r["status"] for r in rows(full, "samples/2026-01-05T235959Z/findings.csv")}
    day15 = {(r["rule"], r["resource_id"]): r["status"]
             for r in rows(full, "samples/2026-01-15T120000Z/findings.csv")}
    assert day5[("testkit.widget.encrypted", "w-fix")] == "fail"
    assert day15[("testkit.widget.encrypted", "w-fix")] == "pass"
    assert day15[("testkit.widget.encrypted", SCOPE)] == "error" and SCOPE not in {k[1] for k in day5}
    controls = {r["control"]: r for r in rows(full, "samples/2026-01-05T235959Z/controls.csv")}
    assert controls["A.8.24"]["status"] == "failing" and controls["A.8.24"]["failing"] == "2"
    assert "A.7.4" not in controls  # excluded by the SoA: not exported
    assert 'href="samples/index.html"' in zf_text(full, "index.html")


def test_bad_sample_date_is_one_line_exit_2(sampled: SamplingStore, tmp_path: Path) -> None:
    line = one_line_error(main("--config", str(sampled.config), "export", "--out", str(tmp_path / "x.zip"),
                               "--sample-date", "last tuesday"))
    assert "--sample-date" in line and not (tmp_path / "x.zip").exists()


def test_control_bundle_holds_only_those_controls_and_verifies(sampled: SamplingStore, tmp_path: Path) -> None:
    out = tmp_path / "request.zip"
    proc = annexa("--config", str(sampled.config), "export", "--out", str(out), "--from", PERIOD[0], "--to",
                  PERIOD[1], "--control", "A.8.24", "--control", "8.20")
    assert proc.returncode == 0, proc.stderr
    files = names(out)
    folders = {n.split("/")[1] for n in files if n.startswith("controls/")}
    assert folders == {"A.8.24", "A.8.20"}
    for cid in folders:
        for name in ("index.html", "findings.csv", "population.csv", "collection-errors.csv", "timeline.html",
                     "timeline.csv", "snapshots.html"):
            assert f"controls/{cid}/{name}" in files
        assert any(n.startswith(f"controls/{cid}/evidence/") for n in files)
    doc = json.loads(zf_text(out, "oscal/assessment-results.json"))
    validate(doc)
    result = doc["assessment-results"]["results"][0]
    assert [c["control-id"] for c in result["reviewed-controls"]["control-selections"][0]["include-controls"]] == [
        "A.8.20", "A.8.24"]
    assert {f["target"]["target-id"] for f in result["findings"]} == {"A.8.20_obj", "A.8.24_obj"}
    hrefs = {e["href"] for o in result["observations"] for e in o.get("relevant-evidence", [])}
    assert hrefs <= files
    assert {r["rule"] for r in rows(out, "remediation.csv")} == {"testkit.widget.encrypted",
                                                                "testkit.widget.no_public_ports"}
    verify = annexa("verify", str(out))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # and it is checked on its own: a changed population file is named
    from tests.agent.export.conftest import rewrite

    bad = rewrite(out, tmp_path / "bad.zip", change={"controls/A.8.24/population.csv": b"source\n"})
    failed = annexa("verify", str(bad))
    assert failed.returncode != 0 and "controls/A.8.24/population.csv" in failed.stdout + failed.stderr


def test_unknown_control_is_exit_2(sampled: SamplingStore, tmp_path: Path) -> None:
    line = one_line_error(main("--config", str(sampled.config), "export", "--out", str(tmp_path / "x.zip"),
                               "--control", "A.8.5", "--control", "A.9.99"))
    assert "--control" in line and "A.9.99" in line


def test_remediation_metrics(sampled: SamplingStore) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    proc = annexa("--config", str(sampled.config), "metrics", "show", env={"ANNEXA_NOW": NOW.isoformat()})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), s.value))

    def value(name: str, **labels: str) -> float:
        return next(v for lab, v in samples[name] if all(lab.get(k) == x for k, x in labels.items()))

    assert value("annexa_remediation_duration_seconds_count", severity="high") == 2
    assert value("annexa_remediation_duration_seconds_sum", severity="high") == pytest.approx(55 * DAY, rel=1e-4)
    assert value("annexa_remediation_duration_seconds_bucket", severity="high", le="1.2096e+06") == 1  # 14 days
    assert value("annexa_remediation_duration_seconds_bucket", severity="high", le="5.184e+06") == 2  # 60 days
    assert value("annexa_remediation_duration_seconds_count", severity="critical") == 0
    assert value("annexa_findings_past_sla", severity="critical") == 1
    assert value("annexa_findings_past_sla", severity="high") == 0
    assert value("annexa_remediation_sla_seconds", severity="critical") == 7 * DAY
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is required (apt-get install prometheus)")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("page", ["remediation.html", "controls/A.8.24/timeline.html",
                                  "controls/A.8.24/snapshots.html", "samples/index.html"])
def test_new_pages_render_offline_in_chromium(full: Path, tmp_path: Path, page: str) -> None:
    binary = chromium()
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(full) as zf:
        zf.extractall(folder)
    text = (folder / page).read_text(encoding="utf-8")
    for pattern in EXTERNAL:
        assert not pattern.search(text), pattern.pattern
    result = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                             (folder / page).as_uri()], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<table" in dom and "<img" not in dom
    expected: dict[str, Any] = {"remediation.html": "no_public_ports", "controls/A.8.24/timeline.html": "w-late",
                                "controls/A.8.24/snapshots.html": "w-srv", "samples/index.html": "2026-01-15"}
    assert expected[page] in dom
