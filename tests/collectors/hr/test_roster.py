"""Reading roster CSVs: formats users really export, whole-roster errors, and bad rows kept as errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.hr.roster import LINE_LIMIT, RosterError, RosterSpec, check_roster, read_people

HEADER = "Work Email,Full Name,Employment Status,Hire Date,Termination Date,Manager,Department,Salary\n"


def write(tmp_path: Path, text: str | bytes, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def people(path: Path, **kw: object) -> list[dict[str, object]]:
    return [p.to_resource().data | {"id": p.origin} for p in read_people(RosterSpec(path=path, **kw))]  # type: ignore[arg-type]


def test_a_typical_export_with_bom_semicolons_and_local_dates(tmp_path: Path) -> None:
    text = ("\ufeffE-Mail;Name;Status;Start Date;End Date\r\n"
            "Alice@Acme.com;Alice;Active;03/01/2022;\r\n"
            "carol@acme.com;Carol;Terminated;01/06/2021;13/02/2026\r\n")
    rows = people(write(tmp_path, text), columns={"email": "E-Mail"}, date_formats=("%d/%m/%Y",))
    assert [(r["email"], r["start_date"], r["end_date"], r["status_left"], r["errors"]) for r in rows] == [
        ("alice@acme.com", "2022-01-03", None, False, []),
        ("carol@acme.com", "2021-06-01", "2026-02-13", True, [])]
    assert rows[0]["row"] == 2 and rows[1]["row"] == 3


def test_default_headers_tabs_and_iso_timestamps(tmp_path: Path) -> None:
    text = "email\tstatus\tend_date\nbob@acme.com\tactive\t2026-05-01T17:00:00Z\n"
    [bob] = people(write(tmp_path, text))
    assert bob["email"] == "bob@acme.com" and bob["end_date"] == "2026-05-01"


def test_ids_survive_reordering_and_only_mapped_columns_are_kept(tmp_path: Path) -> None:
    a = HEADER + "alice@acme.com,Alice,Active,2020-01-01,,,Eng,99000\nbob@acme.com,Bob,Active,2020-01-01,,,Ops,1\n"
    b = HEADER + "bob@acme.com,Bob,Active,2020-01-01,,,Ops,1\nalice@acme.com,Alice,Active,2020-01-01,,,Eng,99000\n"
    first, second = people(write(tmp_path, a, "a.csv")), people(write(tmp_path, b, "a.csv"))
    assert {r["id"] for r in first} == {r["id"] for r in second}
    assert all(r["id"].startswith((tmp_path / "a.csv").as_uri() + "#") for r in first)
    assert "Salary" not in first[0]["extra"]["cells"] and "99000" not in str(first)


def test_bad_rows_are_kept_as_errors_naming_file_and_line(tmp_path: Path) -> None:
    text = (HEADER
            + "alice@acme.com,Alice,Active,2020-01-01,,,,\n"
            + ",Nobody,Active,2020-01-01,,,,\n"                      # line 3: no e-mail
            + "carol@acme.com,Carol,Terminated,2020-01-01,31/02/2026,,,\n"  # line 4: not a date
            + "alice@ACME.com,Alice again,Terminated,2020-01-01,2025-01-01,,,\n"  # line 5: same person
            + "dave@acme.com,Dave,Active,2024-01-01,2023-01-01,,,\n"   # line 6: ends before it starts
            + "not-an-email,X,Active,,,,,\n"                          # line 7
            + "erin@acme.com,Erin,Active,,,,,,extra,cells\n"          # line 8: too many cells
            + "frank@acme.com,Fr\x00ank,Active,,,,,\n")               # line 9: NUL byte
    rows = {r["row"]: r for r in people(write(tmp_path, text))}
    assert rows[2]["errors"] == []
    expect = {3: "no e-mail", 4: "end_date '31/02/2026' is not a date", 5: "the same person (alice@acme.com) as line 2",
              6: "is before start_date", 7: "is not an e-mail address", 8: "has 10 cells but the header has 8",
              9: "NUL byte"}
    for line, fragment in expect.items():
        assert any(f"roster.csv line {line}: " in e and fragment in e for e in rows[line]["errors"]), rows[line]
    assert rows[5]["id"].endswith("#L5") and rows[3]["id"].endswith("#L3")  # never the first alice's id
    assert "\x00" not in str(rows[9]["extra"])


def test_oversized_cells_and_lines_are_bad_rows_not_memory(tmp_path: Path) -> None:
    huge_field = "x" * 200_000
    long_line = "y" * (LINE_LIMIT + 10)
    text = HEADER + f"a@acme.com,{huge_field},Active,,,,,\n{long_line}\nb@acme.com,B,Active,,,,,\n"
    rows = people(write(tmp_path, text))
    assert [r["row"] for r in rows] == [2, 3, 4]
    assert "field larger than field limit" in rows[0]["errors"][0] and "line 2" in rows[0]["errors"][0]
    assert f"longer than {LINE_LIMIT} bytes" in rows[1]["errors"][0]
    assert rows[2]["errors"] == [] and rows[2]["email"] == "b@acme.com"


def test_formula_looking_cells_stay_data(tmp_path: Path) -> None:
    [row] = people(write(tmp_path, HEADER + 'a@acme.com,"=HYPERLINK(""http://x"",""y"")",Active,,,,,\n'))
    assert row["name"] == '=HYPERLINK("http://x","y")' and row["errors"] == []
    # the resource is named by its e-mail, so exported CSVs never start a cell with the formula
    from agent.identity.shape import Person
    assert Person(email="a@acme.com", name="=1+1", status="", origin="x").to_resource().name == "a@acme.com"


@pytest.mark.parametrize(("content", "columns", "message", "field"), [
    (HEADER, {"email": "Mail"}, "column 'Mail' is not in the header", "columns.email"),
    (HEADER, {"end_date": "Leaving"}, "column 'Leaving' is not in the header", "columns.end_date"),
    ("name,department\nAlice,Eng\n", {}, "has no e-mail column", "columns.email"),
    ("email,name\na@acme.com,A\n", {}, "neither a status nor an end-date column", "columns.end_date"),
    ("email,email,status\n", {"email": "email"}, "appears 2 times", "columns.email"),
    ("", {}, "is empty", None),
    ("\n\n\n", {}, "has no header row", None),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", {}, "is not utf-8 text", None),
    (b"\xff\xfee\x00m\x00a\x00i\x00l\x00", {}, "UTF-16", None),
    ("email,status\n" + "a@acme.com,active\n" * 11, {}, "more than 10 rows", None),
])
def test_a_roster_that_cannot_be_read_as_a_whole(tmp_path: Path, content: str | bytes, columns: dict[str, str],
                                                  message: str, field: str | None) -> None:
    path = write(tmp_path, content)
    with pytest.raises(RosterError) as info:
        check_roster(RosterSpec(path=path, columns=columns, max_rows=10))
    assert message in str(info.value) and str(path) in str(info.value)
    assert info.value.field == field


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.encode() + b"alice@acme.com,Al\xe9,Active,,,,,\n" * 3)
    with pytest.raises(RosterError, match=r"line 2 is not utf-8 text"):
        check_roster(RosterSpec(path=path))
    assert check_roster(RosterSpec(path=path, encoding="latin-1")) == 3


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="file not found"):
        check_roster(RosterSpec(path=tmp_path / "nope.csv"))
    with pytest.raises(RosterError, match="is a folder"):
        check_roster(RosterSpec(path=tmp_path))


def test_a_million_rows_is_refused_quickly_not_read_into_memory(tmp_path: Path) -> None:
    import time

    path = tmp_path / "huge.csv"
    with path.open("w") as fh:
        fh.write("email,status\n")
        fh.writelines(f"user{i}@acme.com,active\n" for i in range(1_000_000))
    began = time.monotonic()
    with pytest.raises(RosterError, match="more than 100000 rows"):
        check_roster(RosterSpec(path=path))
    assert time.monotonic() - began < 20
