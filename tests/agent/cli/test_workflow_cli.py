"""The compliance workflow through the installed `annexa` script: SoA, manual evidence, risk acceptances."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
from pathlib import Path

from openpyxl import load_workbook

from agent.soa import SOA_COLUMNS
from agent.store.blobs import open_blob_store
from tests.conftest import ROOT, World, write_config


def annexa(cfg: Path, *args: str, now: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "USER": "tester"}
    if now:
        env["ANNEXA_NOW"] = now
    return subprocess.run(["annexa", "--config", str(cfg), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def controls_json(cfg: Path, now: str | None = None) -> dict[str, dict]:
    out = annexa(cfg, "controls", "--format", "json", now=now)
    assert out.returncode == 0, out.stderr
    return {c["id"]: c for c in json.loads(out.stdout)}


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def failing_widgets(world: World) -> None:
    world.add("testkit.widget", "w-legacy-1", {"encryption": {"enabled": False}})
    world.add("testkit.widget", "w-new", {"encryption": {"enabled": False}})


# -- Statement of Applicability ---------------------------------------------------------------------

def test_soa_init_validate_and_exclusion_without_justification(tmp_path: Path, world: World) -> None:
    cfg = write_config(tmp_path, world, extra="soa: soa.yaml\n")
    out = annexa(cfg, "soa", "init", "--out", str(tmp_path / "soa.yaml"))
    assert out.returncode == 0, out.stderr
    assert annexa(cfg, "soa", "init", "--out", str(tmp_path / "soa.yaml")).returncode == 2  # no overwrite
    out = annexa(cfg, "soa", "validate")
    assert out.returncode == 0 and "93 controls, 93 applicable" in out.stdout

    text = (tmp_path / "soa.yaml").read_text()
    line_no = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("  A.7.4:"))) + 1
    (tmp_path / "soa.yaml").write_text(text.replace(
        next(x for x in text.splitlines() if x.startswith("  A.7.4:")), "  A.7.4: {applicable: false}"))
    message = one_line_error(annexa(cfg, "soa", "validate"))
    assert f"soa.yaml:{line_no}: controls.A.7.4.justification" in message and "A.7.4" in message
    one_line_error(annexa(cfg, "controls", "--format", "json"))  # posture refuses a broken SoA too


def test_not_applicable_controls_never_count_as_failing(tmp_path: Path, world: World) -> None:
    failing_widgets(world)
    cfg = write_config(tmp_path, world, extra="soa: soa.yaml\n")
    (tmp_path / "soa.yaml").write_text(
        "controls:\n"
        '  A.8.24: {applicable: false, justification: "Widgets hold public data only"}\n'
        "  A.5.1: {applicable: true, implementation: implemented, owner: CISO}\n")
    assert annexa(cfg, "run", "--quiet").returncode == 0
    controls = controls_json(cfg)
    a824 = controls["A.8.24"]
    assert a824["status"] == "not_applicable" and a824["applicable"] is False
    assert a824["failing"] == 2  # the findings are still reported, they just do not make the control fail
    assert all(c["status"] != "failing" for c in controls.values())
    out = annexa(cfg, "controls", "--status", "failing", "--format", "json")
    assert json.loads(out.stdout) == []

    out = annexa(cfg, "soa", "export", "--format", "csv")
    assert out.returncode == 0, out.stderr
    table = list(csv.reader(io.StringIO(out.stdout)))
    assert table[0] == list(SOA_COLUMNS) and len(table) == 94
    rows = {r[0]: dict(zip(SOA_COLUMNS, r, strict=True)) for r in table[1:]}
    assert rows["A.8.24"]["applicable"] == "no" and rows["A.8.24"]["status"] == "not_applicable"
    assert rows["A.8.24"]["justification"] == "Widgets hold public data only"
    assert rows["A.8.24"]["failing"] == "2"
    assert rows["A.5.1"]["implementation"] == "implemented" and rows["A.5.1"]["owner"] == "CISO"

    xlsx = tmp_path / "soa.xlsx"
    out = annexa(cfg, "soa", "export", "--format", "xlsx", "--out", str(xlsx))
    assert out.returncode == 0, out.stderr
    ws = load_workbook(xlsx).active
    cells = [["" if c.value is None else str(c.value) for c in row] for row in ws.iter_rows()]
    assert cells == table
    assert ws.freeze_panes == "A2" and ws["A1"].font.bold

    assert annexa(cfg, "soa", "export", "--format", "csv", "--out", str(tmp_path / "s.csv")).returncode == 0
    assert (tmp_path / "s.csv").read_text() == annexa(cfg, "soa", "export").stdout
    assert annexa(cfg, "soa", "export", "--format", "xlsx").returncode == 2  # xlsx needs --out


# -- manual evidence ---------------------------------------------------------------------------------

def test_manual_evidence_add_list_remove_and_expiry(tmp_path: Path, world: World) -> None:
    cfg = write_config(tmp_path, world)
    doc = tmp_path / "awareness-training-2026.pdf"
    doc.write_bytes(b"%PDF-1.4 training completion records\n")

    out = annexa(cfg, "evidence", "add", "--control", "6.3", "--file", str(doc), "--valid-for", "30d",
                 "--note", "all staff completed")
    assert out.returncode == 0, out.stderr
    assert "added evidence 1: A.6.3 awareness-training-2026.pdf" in out.stdout
    out = annexa(cfg, "evidence", "add", "--control", "A.7.4", "--file", str(doc), "--by", "facilities")
    assert out.returncode == 0 and "no --valid-for" in out.stderr

    listed = json.loads(annexa(cfg, "evidence", "list", "--format", "json").stdout)
    assert [(r["id"], r["control"], r["state"], r["uploaded_by"]) for r in listed] == [
        (1, "A.6.3", "current", "tester"), (2, "A.7.4", "current", "facilities")]
    assert listed[0]["valid_until"] is not None and listed[1]["valid_until"] is None
    sha = listed[0]["sha256"]
    blobs = open_blob_store(str(tmp_path / "evidence"))
    assert blobs.get_bytes(sha) == doc.read_bytes() and listed[1]["sha256"] == sha  # content-addressed: one blob
    assert sum(1 for d in blobs.iter_digests() if d == sha) == 1
    blobs.close()

    assert controls_json(cfg)["A.6.3"]["status"] == "manual"
    later = controls_json(cfg, now="2099-01-01T00:00:00Z")
    assert later["A.6.3"]["status"] == "failing" and later["A.6.3"]["manual_evidence"] == 0
    assert later["A.7.4"]["status"] == "manual"
    expired = json.loads(annexa(cfg, "evidence", "list", "--format", "json", now="2099-01-01").stdout)
    assert expired[0]["state"] == "expired"

    verify = annexa(cfg, "verify", "--store")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    out = annexa(cfg, "evidence", "remove", "2", "--reason", "moved to new office")
    assert out.returncode == 0, out.stderr
    assert "2" not in {str(r["id"]) for r in json.loads(annexa(cfg, "evidence", "list", "--format", "json").stdout)}
    every = json.loads(annexa(cfg, "evidence", "list", "--all", "--format", "json").stdout)
    assert every[1]["state"] == "removed" and every[1]["removed_by"] == "tester"
    assert "moved to new office" in every[1]["note"]
    assert controls_json(cfg)["A.7.4"]["status"] == "unknown"
    only = annexa(cfg, "evidence", "list", "--control", "A.6.3", "--format", "csv").stdout
    assert only.splitlines()[0].startswith("id,control,filename,sha256") and len(only.splitlines()) == 2
    assert annexa(cfg, "verify", "--store").returncode == 0

    db = sqlite3.connect(tmp_path / "annexa.db")
    with db:
        db.execute("UPDATE manual_evidence SET control = 'A.5.1' WHERE id = 1")
    db.close()
    tampered = annexa(cfg, "verify", "--store")
    assert tampered.returncode == 1
    assert "manual_evidence row 1" in tampered.stdout


def test_manual_evidence_input_errors(tmp_path: Path, world: World) -> None:
    cfg = write_config(tmp_path, world)
    message = one_line_error(annexa(cfg, "evidence", "add", "--control", "A.5.1", "--file",
                                    str(tmp_path / "missing.pdf")))
    assert "missing.pdf: file not found" in message
    doc = tmp_path / "p.txt"
    doc.write_text("policy")
    assert "--valid-for" in annexa(cfg, "evidence", "add", "--control", "A.5.1", "--file", str(doc),
                                   "--valid-for", "soon").stderr
    assert "A.5.99" in one_line_error(annexa(cfg, "evidence", "add", "--control", "A.5.99", "--file", str(doc)))
    assert "no manual evidence with id 7" in one_line_error(annexa(cfg, "evidence", "remove", "7"))

    out = annexa(cfg, "evidence", "add", "--control", "A.9.4.2", "--file", str(doc))  # a 2013 id
    assert out.returncode == 0 and "A.8.5" in out.stderr and "2013" in out.stderr
    assert json.loads(annexa(cfg, "evidence", "list", "--format", "json").stdout)[0]["control"] == "A.8.5"


# -- risk acceptances --------------------------------------------------------------------------------

EXCEPTIONS = """\
exceptions:
  - id: EX-001
    rule: testkit.widget.*
    resource: "w-legacy-*"
    justification: Legacy widget being replaced in Q3
    owner: alice@acme.com
    approved_by: ciso@acme.com
    expires: 2026-12-31
  - id: EX-002
    rule: testkit.widget.encrypted
    resource: "/annexa:collection/.*/"
    justification: Should never apply to errors
    owner: alice@acme.com
    approved_by: ciso@acme.com
    expires: 2026-12-31
"""


def test_exceptions_through_run_findings_and_expiry(tmp_path: Path, world: World) -> None:
    failing_widgets(world)
    world.fail.append({"type": "testkit.widget", "message": "AccessDenied", "region": "eu-1"})
    world.save()
    (tmp_path / "exceptions.yaml").write_text(EXCEPTIONS)
    cfg = write_config(tmp_path, world, extra="exceptions: exceptions.yaml\n")

    assert annexa(cfg, "run", "--quiet", now="2026-12-01T00:00:00Z").returncode == 3  # partial: widget error
    excepted = json.loads(annexa(cfg, "findings", "--status", "excepted", "--format", "json").stdout)
    assert [(f["rule"], f["resource"]["id"], f["exception"]) for f in excepted] == [
        ("testkit.widget.encrypted", "w-legacy-1", "EX-001")]
    assert excepted[0]["message"].endswith("(excepted: EX-001 until 2026-12-31, approved by ciso@acme.com)")
    errors = json.loads(annexa(cfg, "findings", "--status", "error", "--format", "json").stdout)
    assert errors and all(f["exception"] is None for f in errors)
    assert controls_json(cfg)["A.8.24"]["excepted"] == 1

    listed = json.loads(annexa(cfg, "exceptions", "list", "--format", "json", now="2026-12-01T00:00:00Z").stdout)
    assert [(e["id"], e["state"], e["days_left"]) for e in listed] == [("EX-001", "active", 31),
                                                                         ("EX-002", "active", 31)]

    assert annexa(cfg, "run", "--quiet", now="2027-01-01T00:00:01Z").returncode == 3
    assert json.loads(annexa(cfg, "findings", "--status", "excepted", "--format", "json").stdout) == []
    failing = json.loads(annexa(cfg, "findings", "--status", "fail", "--format", "json").stdout)
    assert {f["resource"]["id"] for f in failing} == {"w-legacy-1", "w-new"}
    listed = json.loads(annexa(cfg, "exceptions", "list", "--format", "json", now="2027-01-01").stdout)
    assert {e["state"] for e in listed} == {"expired"}


def test_bad_exceptions_file_stops_the_run_with_exit_2(tmp_path: Path, world: World) -> None:
    failing_widgets(world)
    (tmp_path / "exceptions.yaml").write_text(EXCEPTIONS.replace("rule: testkit.widget.*", "rule: nosuch.provider.*"))
    cfg = write_config(tmp_path, world, extra="exceptions: exceptions.yaml\n")
    message = one_line_error(annexa(cfg, "run", "--quiet"))
    assert "exceptions.yaml:3: exceptions[0].rule:" in message and "no known rule" in message
    assert "exceptions.yaml:3" in one_line_error(annexa(cfg, "exceptions", "validate"))
    (tmp_path / "exceptions.yaml").write_text(EXCEPTIONS.replace("    approved_by: ciso@acme.com\n", "", 1))
    assert "exceptions[0].approved_by" in one_line_error(annexa(cfg, "run", "--quiet"))
