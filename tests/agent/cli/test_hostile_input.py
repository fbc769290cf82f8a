"""Issue 9, point 6: hostile input gets one clear line and exit 2, never `internal error` (exit 70).

Each case was exit 70, a hang or a memory blow-up before the bounded loader; each now names the file,
field or option, exits 2 and writes nothing (no store is created).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SUPPORT
from tests.support.hostile import HOSTILE
from tests.support.inproc import run_annexa


class Case:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.store = tmp / "store"
        self.config = tmp / "annexa.yaml"
        self.config.write_text(f"store:\n  url: sqlite:///{self.store}/annexa.db\n  evidence: {self.store}/ev\n"
                               f"rules:\n  paths: [{SUPPORT / 'rules'}]\n")
        self.doc = tmp / "policy.pdf"
        self.doc.write_bytes(b"%PDF-1.4 policy\n")

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)

    def annexa(self, *args: str) -> list[str]:
        return ["--config", str(self.config), *args]


def _config(kind: str) -> Callable[[Case], tuple[list[str], str]]:
    return lambda c: (["--config", c.file("bad.yaml", HOSTILE[kind]), "rules", "list"], "bad.yaml")


def _rules(kind: str) -> Callable[[Case], tuple[list[str], str]]:
    return lambda c: (c.annexa("rules", "validate", c.file("pack/bad.yaml", HOSTILE[kind])), "bad.yaml")


def _soa(kind: str) -> Callable[[Case], tuple[list[str], str]]:
    return lambda c: (c.annexa("soa", "validate", c.file("soa.yaml", HOSTILE[kind])), "soa.yaml")


def _exceptions(kind: str) -> Callable[[Case], tuple[list[str], str]]:
    return lambda c: (c.annexa("exceptions", "validate", c.file("exc.yaml", HOSTILE[kind])), "exc.yaml")


def _fifo(c: Case) -> tuple[list[str], str]:
    os.mkfifo(c.tmp / "fifo.yaml")
    return ["--config", str(c.tmp / "fifo.yaml"), "rules", "list"], "not a regular file"


def _expires(value: str, needle: str = "exceptions[0].expires") -> Callable[[Case], tuple[list[str], str]]:
    body = ("exceptions:\n  - {rule: 'testkit.*', justification: j, owner: o, approved_by: a, "
            f"expires: {value}}}\n")
    return lambda c: (c.annexa("exceptions", "validate", c.file("exc.yaml", body)), needle)


def _evidence_add(*extra: str, needle: str = "") -> Callable[[Case], tuple[list[str], str]]:
    return lambda c: (c.annexa("evidence", "add", "--control", "A.5.1", "--file", str(c.doc), *extra), needle)


def _non_utf8_name(c: Case) -> tuple[list[str], str]:
    raw = os.fsencode(str(c.tmp)) + b"/\xff\xfe-policy.pdf"
    with open(raw, "wb") as fh:
        fh.write(b"content")
    return c.annexa("evidence", "add", "--control", "A.5.1", "--file", os.fsdecode(raw)), "\\xff\\xfe-policy.pdf"


def _evidence_fifo(c: Case) -> tuple[list[str], str]:
    os.mkfifo(c.tmp / "p.pdf")
    return c.annexa("evidence", "add", "--control", "A.5.1", "--file", str(c.tmp / "p.pdf")), "p.pdf"


CASES: dict[str, Callable[[Case], tuple[list[str], str]]] = {
    **{f"config {k}": _config(k) for k in HOSTILE},
    **{f"rules {k}": _rules(k) for k in HOSTILE},
    **{f"soa {k}": _soa(k) for k in HOSTILE},
    **{f"exceptions {k}": _exceptions(k) for k in HOSTILE},
    "--config /dev/zero": lambda c: (["--config", "/dev/zero", "rules", "list"], "/dev/zero: is not a regular"),
    "--config FIFO": _fifo,
    "expires 9999-12-31": _expires("9999-12-31"),
    "expires past 9999 in UTC": _expires("'9999-12-31T23:00:00-05:00'"),
    "expires 2026-02-30": _expires("2026-02-30", "exc.yaml:2: invalid YAML: invalid date '2026-02-30'"),
    "--valid-for 9000y": _evidence_add("--valid-for", "9000y", needle="--valid-for"),
    "--valid-for 30 digits": _evidence_add("--valid-for", "1" * 30 + "d", needle="--valid-for"),
    "--note NUL": _evidence_add("--note", "a\x00b", needle="--note"),
    "--by non-UTF-8": _evidence_add("--by", "\udcff", needle="--by"),
    "--by too long": _evidence_add("--by", "b" * 500, needle="--by"),
    "non-UTF-8 file name": _non_utf8_name,
    "evidence add FIFO": _evidence_fifo,
    "2013 id, then a missing file": lambda c: (c.annexa("evidence", "add", "--control", "A.9.4.2", "--file",
                                                         str(c.tmp / "missing.pdf")), "missing.pdf: file not found"),
    "evidence remove 30 digits": lambda c: (c.annexa("evidence", "remove", "1" * 30), "EVIDENCE_ID"),
    "evidence remove 5000 digits": lambda c: (c.annexa("evidence", "remove", "7" * 5000), "EVIDENCE_ID"),
    "evidence remove --by NUL": lambda c: (c.annexa("evidence", "remove", "1", "--by", "a\x00"), "--by"),
    "export --out with NUL": lambda c: (c.annexa("export", "--out", "a\x00.zip"), "--out"),
    "export --out name too long": lambda c: (c.annexa("export", "--out", "x" * 300 + ".zip"), "--out"),
    "export keygen --out empty": lambda c: (c.annexa("export", "keygen", "--out", ""), "--out"),
    "verify NUL": lambda c: (c.annexa("verify", "b\x00.zip"), "BUNDLE"),
    "findings --source non-UTF-8": lambda c: (c.annexa("findings", "--source", "\udcff"), "--source"),
    "findings --rule NUL": lambda c: (c.annexa("findings", "--rule", "a\x00"), "--rule"),
    "run --push-gateway bad URL": lambda c: (c.annexa("run", "--push-gateway", "[::1"), "--push-gateway"),
    "config port 5000 digits": lambda c: (["--config", c.file("p.yaml", "metrics:\n  listen: 'h:" + "9" * 5000
                                                              + "'\n"), "rules", "list"], "metrics.listen"),
    "config soa with NUL": lambda c: (["--config", c.file("n.yaml", 'soa: "a\\0b"\n'), "soa", "validate"],
                                      "NUL byte"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(name: str, tmp_path: Path) -> None:
    case = Case(tmp_path)
    args, needle = CASES[name](case)
    before = sorted(p.name for p in tmp_path.iterdir())
    started = time.perf_counter()
    result = run_annexa(*args)
    elapsed = time.perf_counter() - started
    assert result.code == 2, (result.code, result.stderr[:500])
    assert len(result.error_lines) == 1, result.stderr[:2000]
    line = result.error_lines[0]
    assert line.startswith("annexa: error: ") and "internal error" not in line and len(line) <= 1000
    assert needle in line, line
    assert elapsed < 5, elapsed
    assert not case.store.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_notes_are_shown_when_the_command_succeeds(tmp_path: Path) -> None:
    case = Case(tmp_path)
    result = run_annexa(*case.annexa("evidence", "add", "--control", "A.9.4.2", "--file", str(case.doc),
                                     "--valid-for", "1y"))
    assert result.code == 0, result.stderr
    assert result.error_lines == ["note: A.9.4.2 (Secure log-on procedures) is an ISO 27001:2013 control; "
                                  "using its 2022 control(s): A.8.5"]
    assert "added evidence 1: A.8.5 policy.pdf" in result.stdout
