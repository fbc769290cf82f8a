"""What the bundle contains: layout, manifest, SHA256SUMS, SoA files, findings history, population, evidence."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from agent.catalogue import load_catalogue
from agent.export.bundle import NoDataError
from agent.export.history import Period
from agent.export.verify import check_bundle
from agent.store.timeutil import utcnow
from tests.agent.export.conftest import HOSTILE_NAME, NOT_APPLICABLE, History, export, read


def csv_rows(zip_path: Path, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read(zip_path, name).decode("utf-8"))))


def test_fresh_bundle_verifies_and_sha256sum_accepts_it(bundle: Path, tmp_path: Path) -> None:
    report = check_bundle(bundle)
    assert report.ok, report.problems
    assert report.signature == "unchecked"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(tmp_path / "unzipped")
        names = zf.namelist()
    result = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=tmp_path / "unzipped",
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = [line for line in result.stdout.splitlines() if line.endswith(": OK")]
    assert len(checked) == len(names) - 1  # every file but SHA256SUMS itself
    assert "manifest.json: OK" in result.stdout and "manifest.sig: OK" in result.stdout


def test_layout_and_manifest_lists_every_other_file(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        listed = {f["path"]: f for f in manifest["files"]}
        for name in names:
            if name in ("manifest.json", "SHA256SUMS", "manifest.sig"):
                assert name not in listed
                continue
            data = zf.read(name)
            assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()
            assert listed[name]["size"] == len(data)
    assert set(listed) == set(names) - {"manifest.json", "SHA256SUMS", "manifest.sig"}
    for required in ("index.html", "soa.csv", "soa.xlsx", "oscal/assessment-results.json",
                     "controls/A.8.24/findings.csv", "controls/A.8.24/population.csv", "controls/A.8.24/index.html"):
        assert required in names
    assert not any(n.startswith(f"controls/{cid}/") for cid in NOT_APPLICABLE for n in names)
    assert manifest["kind"] == "annexa.export-manifest/v1"
    assert len(manifest["runs"]) == 3
    assert [r["seq"] for r in manifest["runs"]] == [1, 2, 3]
    assert all(r["hash"].startswith("sha256:") and r["sources"][0]["name"] == "kit" for r in manifest["runs"])
    head = manifest["store"]["chain_head"]  # manual evidence added after the runs is sealed into the chain too
    assert head["seq"] > 3 and head["hash"].startswith("sha256:") and head["hash"] != manifest["runs"][-1]["hash"]
    assert manifest["runs"][1]["prev_hash"] == manifest["runs"][0]["hash"]
    assert manifest["sources"] == [{"name": "kit", "type": "testkit", "runs": 3, "collection_errors": 1,
                                    "statuses": {"complete": 2, "partial": 1}, "last_status": "partial"}]
    assert len(manifest["controls"]) == 91 and "A.8.24" in manifest["controls"]
    assert {e["id"] for e in manifest["excluded_controls"]} == set(NOT_APPLICABLE)
    assert manifest["signature"]["algorithm"] == "Ed25519"
    assert manifest["period"]["from"].endswith("Z") and manifest["generated_at"].endswith("Z")


def test_no_secrets_or_config_values_in_the_bundle(bundle: Path, history: History) -> None:
    import re

    with zipfile.ZipFile(bundle) as zf:
        blob = b"".join(zf.read(n) for n in zf.namelist())
        # Rule packs and their procedures are published text: their guidance may name annexa.yaml.
        own = b"".join(re.sub(rb'<section id="procedures">.*?</section>', b"", zf.read(n), flags=re.S)
                       for n in zf.namelist() if not n.startswith("policy/"))
    for private in (str(history.folder).encode(), b"world.json", b"sqlite:"):
        assert private not in blob
    assert b"annexa.yaml" not in own


def test_soa_xlsx_matches_soa_csv_and_shows_exclusions(bundle: Path, tmp_path: Path) -> None:
    rows = csv_rows(bundle, "soa.csv")
    assert len(rows) == 93
    (tmp_path / "soa.xlsx").write_bytes(read(bundle, "soa.xlsx"))
    sheet = load_workbook(tmp_path / "soa.xlsx", read_only=True).active
    xrows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    with io.StringIO(read(bundle, "soa.csv").decode()) as fh:
        assert xrows == list(csv.reader(fh))
    by_id = {r["id"]: r for r in rows}
    assert by_id["A.7.4"]["applicable"] == "no" and by_id["A.7.4"]["status"] == "not_applicable"
    assert "No premises" in by_id["A.7.4"]["justification"]
    assert by_id["A.8.22"]["status"] == "not_applicable"
    assert by_id["A.8.24"]["status"] == "failing" and by_id["A.8.24"]["owner"] == "CISO"
    assert by_id["A.8.24"]["excepted"] == "1" and by_id["A.8.24"]["failing"] == "1"
    assert by_id["A.5.1"]["status"] == "manual" and by_id["A.5.1"]["manual_evidence"] == "2"
    assert by_id["A.5.37"]["status"] == "failing"  # its only document expired


def test_findings_history_has_every_interval_with_exceptions(bundle: Path) -> None:
    rows = csv_rows(bundle, "controls/A.8.24/findings.csv")
    plain = [(r["status"], r["first_run"], r["last_run"], r["open"]) for r in rows if r["resource_id"] == "w-plain"]
    assert plain == [("fail", "1", "1", "no"), ("pass", "2", "2", "no"), ("fail", "3", "3", "yes")]
    [exc] = [r for r in rows if r["resource_id"] == "w-exc"]
    assert exc["status"] == "excepted" and exc["exception"] == "RA-7"
    gone = [r for r in rows if r["resource_id"] == "w-gone"]
    assert [(g["status"], g["open"]) for g in gone] == [("pass", "no")]
    errors = [r for r in rows if r["status"] == "error"]
    assert errors and all(r["resource_id"].startswith("annexa:collection/") for r in errors)
    enc = next(r for r in rows if r["resource_id"] == "w-enc")
    assert enc["resource_name"] == HOSTILE_NAME and enc["account"] == "111" and enc["region"] == "r1"
    for r in rows:
        assert r["from"] <= r["to"]
        assert r["rule"] and r["title"] and r["source"] == "kit"
        if r["evidence"]:
            assert r["evidence_file"] == f"evidence/{r['evidence'].removeprefix('sha256:')}.json"


def test_evidence_covers_every_snapshot_of_the_period_not_only_the_latest(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        evidence = [n for n in zf.namelist() if n.startswith("controls/A.8.24/evidence/")]
        docs = [json.loads(zf.read(n)) for n in evidence]
        for name in evidence:  # each file is named by the SHA-256 of its bytes
            assert name.rsplit("/", 1)[1] == hashlib.sha256(zf.read(name)).hexdigest() + ".json"
    by_resource: dict[str, list[dict]] = {}
    for doc in docs:
        by_resource.setdefault(doc["resource"]["id"], []).append(doc["data"])
    assert len(by_resource["w-enc"]) == 2  # the tags change made a second snapshot
    assert sorted(d["encryption"]["enabled"] for d in by_resource["w-plain"]) == [False, True]
    assert len(by_resource["w-gone"]) == 1
    referenced = {r["evidence_file"] for r in csv_rows(bundle, "controls/A.8.24/findings.csv") if r["evidence_file"]}
    assert {f"controls/A.8.24/{p}" for p in referenced} <= set(evidence)


def test_population_lists_every_resource_in_scope_with_its_status(bundle: Path) -> None:
    rows = {r["resource_id"]: r for r in csv_rows(bundle, "controls/A.8.24/population.csv")}
    assert {"w-enc", "w-plain", "w-srv", "w-exc", "w-gone"} <= set(rows)
    assert rows["w-plain"]["statuses_seen"] == "fail pass" and rows["w-plain"]["status_at_period_end"] == "fail"
    assert rows["w-plain"]["intervals"] == "3"
    assert rows["w-gone"]["status_at_period_end"] == "not_observed"
    assert rows["w-exc"]["status_at_period_end"] == "excepted"
    assert float(rows["w-plain"]["days_fail"]) >= 0 and float(rows["w-enc"]["days_pass"]) >= 0
    srv = {r["resource_id"]: r for r in csv_rows(bundle, "controls/A.8.20/population.csv")}
    assert srv["w-srv"]["statuses_seen"] == "fail pass" and srv["w-srv"]["status_at_period_end"] == "pass"


def test_manual_evidence_files_sanitised_and_deduplicated(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        assert zf.read("controls/A.5.1/manual/policy_v1.pdf").endswith(b"version 1")
        assert zf.read("controls/A.5.1/manual/policy_v1-2.pdf").endswith(b"version 1.1")
    assert "controls/A.6.3/manual/training_2026_.csv" in names
    assert "controls/A.5.37/manual/expired.txt" in names  # expired during the period: still shown
    assert not any(n.startswith("controls/A.5.10/manual/") for n in names)  # removed before the period


def test_controls_filter_accepts_2013_ids_and_limits_the_bundle(history: History, tmp_path: Path) -> None:
    from agent.cli.app import App

    ids = App(str(history.config)).control_ids(("A.10.1.1", "8.20"))  # 2013 cryptography -> A.8.24
    assert ids == ["A.8.24", "A.8.20"]
    result = export(history, tmp_path / "two.zip", controls=ids)
    assert result.controls == ["A.8.20", "A.8.24"]
    with zipfile.ZipFile(tmp_path / "two.zip") as zf:
        folders = {n.split("/")[1] for n in zf.namelist() if n.startswith("controls/")}
        manifest = json.loads(zf.read("manifest.json"))
    assert folders == {"A.8.20", "A.8.24"} and manifest["controls"] == ["A.8.20", "A.8.24"]
    assert len(csv_rows(tmp_path / "two.zip", "soa.csv")) == 93  # the SoA stays complete
    assert check_bundle(tmp_path / "two.zip").ok


def test_period_with_no_data_writes_nothing(history: History, tmp_path: Path) -> None:
    out = tmp_path / "empty.zip"
    start = utcnow() - timedelta(days=5000)
    with pytest.raises(NoDataError, match=r"nothing to export.*store holds 3 run"):
        export(history, out, period=Period(start, start + timedelta(days=30)))
    assert list(tmp_path.iterdir()) == []  # no zip, no partial file


def test_period_starting_between_runs_carries_the_state_in_force(history: History, tmp_path: Path) -> None:
    """A period that starts after run 1 still shows what held at its start, clipped to it."""
    start = history.marks[0] + (history.marks[1] - history.marks[0]) / 2
    out = tmp_path / "late.zip"
    result = export(history, out, period=Period(start, utcnow()), controls=["A.8.24"])
    assert result.runs == 2
    rows = csv_rows(out, "controls/A.8.24/findings.csv")
    enc = next(r for r in rows if r["resource_id"] == "w-enc")  # open since run 1
    assert enc["first_run"] == "1" and enc["from"] == start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    plain = [(r["status"], r["first_run"]) for r in rows if r["resource_id"] == "w-plain"]
    assert plain == [("fail", "1"), ("pass", "2"), ("fail", "3")]  # run 1's failure held at the start
    assert check_bundle(out).ok


def test_every_exported_control_has_a_page_and_all_ids_are_catalogue_ids(bundle: Path) -> None:
    catalogue_ids = {c.id for c in load_catalogue().controls}
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = set(zf.namelist())
    assert set(manifest["controls"]) == catalogue_ids - set(NOT_APPLICABLE)
    for cid in manifest["controls"]:
        assert f"controls/{cid}/index.html" in names and f"controls/{cid}/findings.csv" in names


def test_the_manifest_carries_the_stores_verified_checkpoint(tmp_path: Path) -> None:
    from agent.cli.app import App
    from agent.verifystatus import verify_and_record
    from tests.agent.export.conftest import make_history

    history = make_history(tmp_path / "h", runs=2)
    export(history, tmp_path / "before.zip")
    assert json.loads(read(tmp_path / "before.zip", "manifest.json"))["store"]["verified"] is None
    store = App(str(history.config)).store()
    assert verify_and_record(store).ok
    export(history, tmp_path / "after.zip")
    manifest = json.loads(read(tmp_path / "after.zip", "manifest.json"))
    verified = manifest["store"]["verified"]
    assert verified["seq"] == manifest["store"]["chain_head"]["seq"]
    assert verified["hash"] == manifest["store"]["chain_head"]["hash"] and verified["full_at"] == verified["at"]
    assert check_bundle(tmp_path / "after.zip").ok
