"""Policy inputs over a period: an SoA changed, a rule changed and an exception expiring mid-period.

Three runs: run 1 with SoA v1, rule pack v1 and risk acceptance RA-1 active; then the SoA (A.8.24's owner,
A.7.4 excluded) and the rule (``testkit.widget.encrypted`` now also needs a KMS key) change; run 2; then
the clock moves past RA-1's expiry; run 3. The bundle must show both versions of each, which findings
each rule version produced, the exception register, OSCAL risks, and `verify` must catch an edited rule file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tests.support.testkit  # noqa: F401  (registers the test collector)
from agent.catalogue import load_catalogue
from agent.cli.app import App
from agent.cli.cmd_run import execute_run
from agent.export.bundle import export_bundle
from agent.export.history import Period
from agent.export.verify import check_bundle
from agent.soa import configured_soa
from agent.store.timeutil import utcnow
from tests.agent.export.conftest import read, rewrite
from tests.agent.export.test_html import CHROMIUM_FLAGS, EXTERNAL, chromium
from tests.agent.export.test_oscal import validate
from tests.conftest import SUPPORT, World, write_config

HOSTILE = '=HYPERLINK("http://evil.example/x","click") <script>alert(1)</script>'
RULE = "testkit.widget.encrypted"


def soa_text(version: str, owner: str, *, exclude_a74: bool, justification: str = "Needed for our cloud estate"
             ) -> str:
    lines = [f'version: "{version}"', "approved_by: ciso@acme.example", "approved_on: 2026-01-15", "controls:"]
    for c in load_catalogue().controls:
        if c.id == "A.7.4" and exclude_a74:
            lines.append(f'  {c.id}: {{applicable: false, justification: "No premises of our own"}}')
            continue
        who = owner if c.id == "A.8.24" else "ISMS team"
        text = HOSTILE.replace('"', "'") if c.id == "A.5.1" else justification
        lines.append(f'  {c.id}: {{applicable: true, implementation: implemented, owner: "{who}", '
                     f'justification: "{text}", risks: [R-1]}}')
    return "\n".join(lines) + "\n"


def exceptions_text(expires: datetime) -> str:
    return f"""exceptions:
  - id: RA-1
    rule: {RULE}
    resource: w-legacy
    justification: "@SUM(1+1) legacy widget <b>kept</b> until the migration"
    owner: data-owner@acme.example
    approved_by: ciso@acme.example
    approved_on: 2026-01-10
    expires: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}
  - id: RA-2
    rule: testkit.widget.no_public_ports
    justification: Withdrawn when the bastion went live
    owner: net@acme.example
    approved_by: ciso@acme.example
    approved_on: 2026-01-10
    expires: 2099-12-31
    revoked_on: 2026-02-01
    revoked_reason: Bastion in place
"""


@dataclass
class Built:
    folder: Path
    config: Path
    marks: list[datetime]
    expiry: datetime


def _app(built: Built) -> App:
    return App(str(built.config))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("policy")
    rules = folder / "rules"
    rules.mkdir()
    shutil.copy(SUPPORT / "rules" / "testkit.yaml", rules / "testkit.yaml")
    world = World(folder / "world.json")
    config = write_config(folder, world, extra="soa: soa.yaml\nexceptions: exceptions.yaml\n")
    config.write_text(config.read_text().replace(str(SUPPORT / "rules"), str(rules)))
    expiry = utcnow() + timedelta(hours=1)
    (folder / "soa.yaml").write_text(soa_text("1", "Platform team", exclude_a74=False))
    (folder / "exceptions.yaml").write_text(exceptions_text(expiry))
    world.add("testkit.widget", "w-legacy", {"encryption": {"enabled": False}}, region="r1", account="111")
    world.add("testkit.widget", "w-new", {"encryption": {"enabled": True}}, region="r1", account="111")
    built = Built(folder, config, [], expiry)
    marks = built.marks

    def run() -> None:
        app = _app(built)
        store = app.store()
        try:
            execute_run(app, quiet=True, store=store)
        finally:
            store.close()
        marks.append(utcnow())

    run()
    (folder / "soa.yaml").write_text(soa_text("2", "Security team", exclude_a74=True))
    pack = (rules / "testkit.yaml").read_text()
    changed = pack.replace('assert: "encryption.enabled == `true`"',
                           'assert: "encryption.enabled == `true` && encryption.kms == `true`"', 1)
    assert changed != pack
    (rules / "testkit.yaml").write_text(changed)
    run()
    old = os.environ.get("ANNEXA_NOW")
    os.environ["ANNEXA_NOW"] = (expiry + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        run()
    finally:
        if old is None:
            os.environ.pop("ANNEXA_NOW", None)
        else:
            os.environ["ANNEXA_NOW"] = old
    return built


def export(built: Built, out: Path, period: Period | None = None) -> Path:
    app = _app(built)
    store = app.store()
    try:
        now = utcnow()
        export_bundle(store=store, catalogue=app.catalogue, rules=app.active_rules(),
                      soa=configured_soa(app.config, app.catalogue), out=out,
                      period=period or Period(now - timedelta(days=1), built.expiry + timedelta(hours=2)))
    finally:
        store.close()
    return out


@pytest.fixture(scope="module")
def bundle(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(built, tmp_path_factory.mktemp("out") / "audit.zip")


def rows(zip_path: Path, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read(zip_path, name).decode("utf-8"))))


def manifest(zip_path: Path) -> dict[str, Any]:
    return json.loads(read(zip_path, "manifest.json"))


def versions(zip_path: Path, kind: str, path: str | None = None) -> list[dict[str, Any]]:
    return [v for v in manifest(zip_path)["policy_inputs"]["versions"]
            if v["kind"] == kind and (path is None or v["path"] == path)]


def test_runs_seal_their_policy_inputs(built: Built) -> None:
    app = _app(built)
    store = app.store()
    try:
        runs = sorted(store.runs(), key=lambda r: r["id"])
    finally:
        store.close()
    inputs = [r["manifest"]["policy_inputs"] for r in runs]
    assert len(inputs) == 3
    assert inputs[0]["rule_set"] != inputs[1]["rule_set"] == inputs[2]["rule_set"]
    assert inputs[0]["soa"]["sha256"] != inputs[1]["soa"]["sha256"] == inputs[2]["soa"]["sha256"]
    assert inputs[0]["soa"]["path"] == "soa.yaml"
    assert len({i["exceptions"]["sha256"] for i in inputs}) == 1


def test_bundle_holds_both_rule_versions_and_which_findings_each_produced(bundle: Path) -> None:
    packs = sorted(versions(bundle, "rule_pack", "rules/testkit.yaml"), key=lambda v: v["first_run"])
    assert [(v["first_run"], v["last_run"]) for v in packs] == [(1, 1), (2, 3)]
    old, new = (v["sha256"] for v in packs)
    assert b"encryption.kms" in read(bundle, packs[1]["file"])
    assert b"encryption.kms" not in read(bundle, packs[0]["file"])
    findings = [r for r in rows(bundle, "controls/A.8.24/findings.csv") if r["rule"] == RULE]
    by_resource = {(r["resource_id"], r["status"]): r["rule_version"] for r in findings}
    assert by_resource[("w-new", "pass")] == old       # judged by version 1
    assert by_resource[("w-new", "fail")] == new       # version 2 needs a KMS key
    assert by_resource[("w-legacy", "excepted")] == old
    assert by_resource[("w-legacy", "fail")] == new    # after RA-1 expired, under version 2
    page = read(bundle, "controls/A.8.24/index.html").decode()
    assert 'id="procedures"' in page
    assert "passes when <code>encryption.enabled == `true`</code>" in page  # version 1's logic
    assert "passes when <code>encryption.enabled == `true` &amp;&amp; encryption.kms == `true`</code>" in page
    assert "<code>encryption.enabled</code>" in page  # the evidence field the rule reads
    assert old[7:19] in page and new[7:19] in page
    guidance = load_catalogue().get("A.8.24").guidance
    assert guidance.implementation[:60].replace("'", "&#39;") in page
    assert guidance.automation[:40].replace("'", "&#39;") in page


def test_soa_versions_with_dates_approval_and_diff(bundle: Path) -> None:
    soas = versions(bundle, "soa")
    assert len(soas) == 2
    page = read(bundle, "soa-versions.html").decode()
    assert "ciso@acme.example" in page and "2026-01-15" in page
    assert "Platform team" in page and "Security team" in page  # the owner change of A.8.24
    assert 'data-control="A.7.4"' in page
    used = manifest(bundle)["soa"]
    assert used["version"] == "2" and used["approved_by"] == "ciso@acme.example"
    soa = {r["id"]: r for r in rows(bundle, "soa.csv")}
    assert soa["A.8.24"]["owner"] == "Security team" and soa["A.7.4"]["applicable"] == "no"
    assert soa["A.8.24"]["justification"] == "Needed for our cloud estate" and soa["A.8.24"]["risks"] == "R-1"


def test_an_old_period_shows_the_soa_of_that_period_not_todays_file(built: Built, tmp_path: Path) -> None:
    soa = built.folder / "soa.yaml"
    saved = soa.read_text()
    soa.write_text(soa_text("3", "Today team", exclude_a74=False))
    try:
        start = built.marks[0] - timedelta(minutes=5)
        first = export(built, tmp_path / "first.zip", Period(start, built.marks[0]))
        whole = export(built, tmp_path / "whole.zip")
    finally:
        soa.write_text(saved)
    assert {r["id"]: r for r in rows(first, "soa.csv")}["A.8.24"]["owner"] == "Platform team"
    assert {r["id"]: r for r in rows(first, "soa.csv")}["A.7.4"]["applicable"] == "yes"
    assert {r["id"]: r for r in rows(whole, "soa.csv")}["A.8.24"]["owner"] == "Security team"


def test_exception_register(bundle: Path, built: Built) -> None:
    register = {r["id"]: r for r in rows(bundle, "exceptions.csv")}
    ra1 = register["RA-1"]
    assert ra1["risk_owner"] == "data-owner@acme.example" and ra1["approved_by"] == "ciso@acme.example"
    assert ra1["approved_on"] == "2026-01-10" and ra1["controls"] == "A.8.24"
    assert ra1["justification"].startswith("'@SUM")  # inert in a spreadsheet
    assert ra1["status_at_period_end"] == "expired"
    assert ra1["status_over_period"].startswith("active until ") and ra1["status_over_period"].endswith("expired")
    assert int(ra1["findings_covered"]) == 1 and ra1["resources_covered"] == "1"
    ra2 = register["RA-2"]
    assert ra2["status_at_period_end"] == "revoked" and ra2["revoked_reason"] == "Bastion in place"
    covered = rows(bundle, "exceptions-findings.csv")
    assert [(c["exception"], c["resource_id"]) for c in covered] == [("RA-1", "w-legacy")]
    assert covered[0]["rule_version"].startswith("sha256:")
    page = read(bundle, "exceptions.html").decode()
    assert "<b>kept</b>" not in page and "&lt;b&gt;kept&lt;/b&gt;" in page
    control = read(bundle, "controls/A.8.24/index.html").decode()
    assert 'href="../../exceptions.html#ex-RA-1"' in control


def test_oscal_risks_are_linked_from_findings_and_validate(bundle: Path) -> None:
    doc = json.loads(read(bundle, "oscal/assessment-results.json"))
    validate(doc)
    result = doc["assessment-results"]["results"][0]
    risks = {next(p["value"] for p in r["props"] if p["name"] == "exception-id"): r for r in result["risks"]}
    assert risks["RA-1"]["status"] == "open" and risks["RA-1"]["deadline"].endswith("Z")
    assert risks["RA-2"]["status"] == "open"
    finding = next(f for f in result["findings"] if f["target"]["target-id"] == "A.8.24_obj")
    assert {"risk-uuid": risks["RA-1"]["uuid"]} in finding["related-risks"]


def test_verify_passes_then_names_an_edited_rule_file(bundle: Path, tmp_path: Path) -> None:
    assert check_bundle(bundle).ok
    pack = sorted(versions(bundle, "rule_pack", "rules/testkit.yaml"), key=lambda v: v["first_run"])[0]
    edited = read(bundle, pack["file"]).replace(b"encryption.enabled == `true`", b"`true`")
    # a careful tamperer also rewrites manifest.json and SHA256SUMS to match, and drops the zip comment
    import hashlib

    from agent.export import manifest as mf

    doc = manifest(bundle)
    for f in doc["files"]:
        if f["path"] == pack["file"]:
            f["sha256"], f["size"] = hashlib.sha256(edited).hexdigest(), len(edited)
    raw = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    sums = mf.render_sums(mf.sums_entries([(f["path"], f["sha256"]) for f in doc["files"]],
                                          hashlib.sha256(raw).hexdigest(), None))
    forged = rewrite(bundle, tmp_path / "forged.zip", change={pack["file"]: edited, "manifest.json": raw,
                                                              "SHA256SUMS": sums}, keep_comment=False)
    report = check_bundle(forged)
    assert not report.ok
    assert report.problems[0]["file"] == pack["file"]
    assert "rule pack version" in report.problems[0]["problem"]
    plain = rewrite(bundle, tmp_path / "plain.zip", change={pack["file"]: edited})
    first = check_bundle(plain).problems[0]
    assert first["file"] == pack["file"] and "sealed by runs 1-1" in first["problem"]


def test_verify_catches_a_run_manifest_rewritten_to_name_another_rule_set(bundle: Path, tmp_path: Path) -> None:
    lines = read(bundle, "policy/run-manifests.jsonl").splitlines()
    doc = json.loads(lines[0])
    doc["policy_inputs"]["rule_set"] = "sha256:" + "0" * 64
    lines[0] = json.dumps(doc).encode()
    report = check_bundle(rewrite(bundle, tmp_path / "x.zip", change={
        "policy/run-manifests.jsonl": b"\n".join(lines) + b"\n"}))
    assert report.problems[0]["file"] == "policy/run-manifests.jsonl"
    assert "does not hash to the run's sealed hash" in report.problems[0]["problem"]


@pytest.mark.parametrize("page", ["policy.html", "soa-versions.html", "exceptions.html",
                                  "controls/A.8.24/index.html"])
def test_new_pages_render_offline_in_chromium(bundle: Path, tmp_path: Path, page: str) -> None:
    binary = chromium()
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(folder)
    text = (folder / page).read_text(encoding="utf-8")
    for pattern in EXTERNAL:
        assert not pattern.search(text), pattern.pattern
    result = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (folder / page).as_uri()], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<script>alert" not in dom and "<b>kept</b>" not in dom
    expected = {"policy.html": "rules/testkit.yaml", "soa-versions.html": "Security team",
                "exceptions.html": 'id="ex-RA-1"', "controls/A.8.24/index.html": 'id="rule-testkit.widget.encrypted"'}
    assert expected[page] in dom
