"""Property-based tests (hypothesis) of the CLI on hostile input: exit 0 or 2, never 70 or a traceback;
on exit 2 exactly one error line; on failure nothing written (store rows, blobs and files unchanged).

The CLI runs in this process through its real entry point (agent.cli.main), so hundreds of inputs
take seconds; tests/agent/cli/test_hostile_input.py and test_cli.py cover the installed script.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from tests.conftest import SUPPORT
from tests.support.hostile import CONFIG_DOCS, EXCEPTION_DOCS, RULE_DOCS, SOA_DOCS, as_file_bytes
from tests.support.inproc import Outcome, run_annexa

PROPERTY = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


class Workspace:
    """A folder with a config, a store that already holds evidence, and a document to attach."""

    def __init__(self, root: Path):
        self.root = root
        self.store = root / "store"
        self.config = root / "annexa.yaml"
        self.config.write_text(f"store:\n  url: sqlite:///{self.store}/annexa.db\n  evidence: {self.store}/ev\n"
                               f"rules:\n  paths: [{SUPPORT / 'rules'}]\n")
        self.doc = root / "policy.pdf"
        self.doc.write_bytes(b"%PDF-1.4 security policy\n")
        first = run_annexa("--config", str(self.config), "evidence", "add", "--control", "A.5.1",
                           "--file", str(self.doc), "--valid-for", "1y")
        assert first.code == 0, first.stderr

    def snapshot(self) -> dict[str, Any]:
        """What a failed command must leave unchanged: the store's rows, the blob files, the other files."""
        engine = create_engine(f"sqlite:///{self.store}/annexa.db")
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT * FROM manual_evidence ORDER BY id")).all()
                runs = conn.execute(text("SELECT count(*) FROM runs")).scalar()
        finally:
            engine.dispose()
        files = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("annexa.db") and path.parent.name not in ("inputs",
                                                                                                  "uploads"):
                files[os.fsencode(path.relative_to(self.root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"rows": [tuple(r) for r in rows], "runs": runs, "files": files}

    def annexa(self, *args: str) -> Outcome:
        return run_annexa("--config", str(self.config), *args)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Workspace]:
    import tests.support.testkit  # noqa: F401  (the test collector's resource types, for the rule packs)

    with tempfile.TemporaryDirectory(prefix="annexa-cli-props-") as name, pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("ANNEXA_")]:  # set up before the per-test clean env
            mp.delenv(key)
        yield Workspace(Path(name))


def assert_clean_outcome(result: Outcome) -> None:
    assert result.code in (0, 2), (result.code, result.stderr[:1000])
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if result.code == 2:
        assert len(result.error_lines) == 1, result.stderr[:2000]
        assert result.error_lines[0].startswith("annexa: error: ")
        assert len(result.error_lines[0]) <= 1000


def check_file_command(ws: Workspace, name: str, data: bytes, *args: str, config: bool = True) -> Outcome:
    path = ws.root / "inputs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    before = ws.snapshot()
    full = [a.replace("{path}", str(path)) for a in args]
    result = ws.annexa(*full) if config else run_annexa(*full)
    after = ws.snapshot()
    path.unlink()
    assert_clean_outcome(result)
    assert after == before
    return result


@PROPERTY
@given(data=as_file_bytes(CONFIG_DOCS), command=st.sampled_from([("soa", "validate"), ("rules", "list"),
                                                                   ("exceptions", "list")]))
def test_cli_on_any_config(workspace: Workspace, data: bytes, command: tuple[str, str]) -> None:
    check_file_command(workspace, "annexa.yaml", data, "--config", "{path}", *command, config=False)


@PROPERTY
@given(data=as_file_bytes(SOA_DOCS))
def test_cli_on_any_soa(workspace: Workspace, data: bytes) -> None:
    check_file_command(workspace, "soa.yaml", data, "soa", "validate", "{path}")


@PROPERTY
@given(data=as_file_bytes(EXCEPTION_DOCS))
def test_cli_on_any_exceptions_file(workspace: Workspace, data: bytes) -> None:
    check_file_command(workspace, "exceptions.yaml", data, "exceptions", "validate", "{path}")


@PROPERTY
@given(data=as_file_bytes(RULE_DOCS))
def test_cli_on_any_rule_pack(workspace: Workspace, data: bytes) -> None:
    check_file_command(workspace, "pack.yaml", data, "rules", "validate", "{path}")


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Three times in four a good value, else a hostile one: so that successes are exercised too."""
    return st.integers(0, 3).flatmap(lambda pick: bad if pick == 0 else good)


HOSTILE_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["", " ", "\x00", "a\nb", "\udcff", "x" * 300,
                                                                "\x1b[31mred", "5.10", "-1", "--help"]))
OPTIONAL_TEXT = mostly(st.one_of(st.none(), st.sampled_from(["CISO", "reviewed yearly", "ünïcødé ✓"])), HOSTILE_TEXT)
CONTROLS = mostly(st.sampled_from(["A.5.1", "5.10", "8.30", "A.9.4.2", " a.5.2 "]),
                  st.one_of(st.sampled_from(["A.5.99", "5", "9" * 50, "A.5.1.1", ""]), st.text(max_size=12)))
DURATIONS = mostly(st.sampled_from([None, "30d", "1y", "100y", "12w"]),
                   st.one_of(st.sampled_from(["9000y", "0d", "36501d", "1" + "0" * 30 + "d", "9" * 5000 + "d", "-3d",
                                              "1.5y"]), st.text(max_size=8)))
_names = mostly(st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=20).map(
    lambda t: (t + ".pdf").encode("utf-8")), st.one_of(st.sampled_from([b"\xff\xfe.pdf", b"a\nb.txt"]),
                                                      st.binary(min_size=1, max_size=60)))
FILE_NAMES = _names.filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..") and len(b) < 200)


def test_evidence_add_with_any_options(workspace: Workspace) -> None:
    outcomes: set[int] = set()

    @settings(PROPERTY, max_examples=60)
    @given(controls=st.lists(CONTROLS, min_size=1, max_size=2), valid_for=DURATIONS, note=OPTIONAL_TEXT,
           by=OPTIONAL_TEXT, name=FILE_NAMES, content=mostly(st.binary(min_size=1, max_size=64), st.just(b"")))
    def evidence_add(controls: list[str], valid_for: str | None, note: str | None, by: str | None, name: bytes,
                     content: bytes) -> None:
        uploads = os.fsencode(workspace.root / "uploads")
        os.makedirs(uploads, exist_ok=True)
        raw = uploads + b"/" + name
        with open(raw, "wb") as fh:
            fh.write(content)
        args = [a for c in controls for a in ("--control", c)] + ["--file", os.fsdecode(raw)]
        for option, value in (("--valid-for", valid_for), ("--note", note), ("--by", by)):
            if value is not None:
                args += [option, value]
        before = workspace.snapshot()
        result = workspace.annexa("evidence", "add", *args)
        after = workspace.snapshot()
        os.unlink(raw)
        assert_clean_outcome(result)
        outcomes.add(result.code)
        if result.code == 2:
            assert after == before
        else:
            assert len(after["rows"]) > len(before["rows"])

    evidence_add()
    assert outcomes == {0, 2}, "the examples must include accepted and refused input"


def test_evidence_remove_with_any_id(workspace: Workspace) -> None:
    for _ in range(6):  # records to remove
        assert workspace.annexa("evidence", "add", "--control", "A.5.1", "--file", str(workspace.doc)).code == 0
    outcomes: set[int] = set()

    @settings(PROPERTY, max_examples=60)
    @given(evidence_id=mostly(st.integers(min_value=1, max_value=8).map(str), st.one_of(
               st.integers(min_value=-(10**40), max_value=10**40).map(str), st.text(max_size=12))),
           reason=OPTIONAL_TEXT, by=OPTIONAL_TEXT)
    def evidence_remove(evidence_id: str, reason: str | None, by: str | None) -> None:
        args = ["evidence", "remove", "--", evidence_id]
        for option, value in (("--reason", reason), ("--by", by)):
            if value is not None:
                args[2:2] = [option, value]
        before = workspace.snapshot()
        result = workspace.annexa(*args)
        assert_clean_outcome(result)
        outcomes.add(result.code)
        after = workspace.snapshot()
        if result.code == 2:
            assert after == before
        else:
            removed = [r for r in after["rows"] if str(r[0]) == evidence_id.strip()]
            assert removed and removed[0] not in before["rows"]

    evidence_remove()
    assert outcomes == {0, 2}, "the examples must include accepted and refused input"
