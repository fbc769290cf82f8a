"""Statement of Applicability: loading, validation, starter file, export rows, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from agent.catalogue import load_catalogue
from agent.errors import InputError
from agent.soa import (
    IMPLEMENTATION_STATES,
    SOA_COLUMNS,
    SoaEntry,
    configured_soa,
    default_soa,
    load_soa,
    parse_soa_text,
    soa_csv_text,
    soa_rows,
    write_soa_csv,
    write_soa_xlsx,
    write_starter_soa,
)
from agent.status import ManualEvidenceState, control_states

CAT = load_catalogue()


def parse(text: str) -> dict[str, SoaEntry]:
    return parse_soa_text(text, "soa.yaml", CAT)


def error_of(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse(text)
    return info.value


def test_starter_round_trips_through_load_soa(tmp_path: Path) -> None:
    path = tmp_path / "soa.yaml"
    write_starter_soa(path)
    text = path.read_text()
    soa = load_soa(path, CAT)
    assert list(soa) == [c.id for c in CAT.controls]
    assert len(soa) == 93
    for control in CAT.controls:
        entry = soa[control.id]
        assert entry == SoaEntry(control.id, True, None, "planned", None)
        assert f"  {control.id}: " in text and f"# {control.title}" in text


def test_unlisted_controls_default_to_applicable() -> None:
    soa = parse('controls:\n  A.7.4: {applicable: false, justification: "fully remote"}\n')
    assert soa["A.7.4"] == SoaEntry("A.7.4", False, "fully remote", None, None)
    assert soa["A.5.1"] == SoaEntry("A.5.1", True, None, None, None)
    assert sum(not e.applicable for e in soa.values()) == 1


def test_short_ids_are_normalised_and_fields_kept() -> None:
    soa = parse("controls:\n  5.1:\n    applicable: true\n    implementation: implemented\n"
                "    owner: CISO\n    justification: Required by the board\n")
    assert soa["A.5.1"] == SoaEntry("A.5.1", True, "Required by the board", "implemented", "CISO")


@pytest.mark.parametrize("text", ["", "controls:\n", "# nothing yet\n"])
def test_empty_files_mean_every_control_applicable(text: str) -> None:
    assert parse(text) == default_soa(CAT)


def test_exclusion_without_justification_names_control_and_line() -> None:
    err = error_of("controls:\n  A.5.1: {applicable: true}\n  A.7.4: {applicable: false}\n")
    assert err.line == 3
    assert err.field == "controls.A.7.4.justification"
    assert "A.7.4" in str(err) and str(err).startswith("soa.yaml:3:")


def test_blank_justification_counts_as_missing() -> None:
    err = error_of('controls:\n  A.7.4:\n    applicable: false\n    justification: "  "\n')
    assert err.field == "controls.A.7.4.justification"


def test_2013_id_is_rejected_naming_the_2022_mapping() -> None:
    err = error_of("controls:\n  A.9.4.2: {applicable: true}\n")
    assert err.line == 2
    assert "2013" in str(err) and "A.8.5" in str(err)


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("controls:\n  A.5.99: {}\n", 2, "controls.A.5.99", "unknown control"),
    ("controls:\n  policy: {}\n", 2, "controls.policy", "not a control id"),
    ("controls:\n  A.5.1:\n    applicable: true\n    colour: red\n", 4, "controls.A.5.1.colour", "unknown key"),
    ("controls:\n  A.5.1:\n    implementation: done\n", 3, "controls.A.5.1.implementation", "implemented"),
    ("controls:\n  A.5.1:\n    applicable: maybe\n", 3, "controls.A.5.1.applicable", "true or false"),
    ("controls:\n  A.5.1: {}\n  5.1: {}\n", 3, "controls.5.1", "listed twice"),
    ("controls:\n  A.5.1: yes\n", 2, "controls.A.5.1", "mapping"),
    ("revision: 1\ncontrols: {}\n", 1, "revision", "unknown key"),
    ("controls: [A.5.1]\n", 1, "controls", "mapping"),
])
def test_mistakes_name_file_line_and_field(text: str, line: int, field: str, words: str) -> None:
    err = error_of(text)
    assert (err.file, err.line, err.field) == ("soa.yaml", line, field)
    assert words in err.detail


def test_every_implementation_state_is_accepted() -> None:
    for state in IMPLEMENTATION_STATES:
        assert parse(f"controls:\n  A.8.1: {{implementation: {state}}}\n")["A.8.1"].implementation == state


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_soa(tmp_path / "nope.yaml", CAT)


def test_configured_soa_defaults_when_unset(tmp_path: Path) -> None:
    class Cfg:
        soa_path = None

    assert configured_soa(Cfg(), CAT) == default_soa(CAT)  # type: ignore[arg-type]
    Cfg.soa_path = tmp_path / "soa.yaml"  # type: ignore[assignment]
    Cfg.soa_path.write_text('controls:\n  A.7.4: {applicable: false, justification: "remote"}\n')
    assert configured_soa(Cfg(), CAT)["A.7.4"].applicable is False  # type: ignore[arg-type]


def _rows() -> list[dict]:
    soa = parse('controls:\n  A.7.4: {applicable: false, justification: "No premises, \\"remote\\", by design"}\n'
                "  A.8.24: {implementation: partially, owner: Platform team}\n")
    states = control_states(
        CAT.controls, [], {},
        applicability={cid: (e.applicable, e.justification) for cid, e in soa.items()},
        manual={"A.5.1": ManualEvidenceState(current=2)})
    return soa_rows(states, soa)


def test_soa_rows_carry_soa_fields_and_status() -> None:
    rows = {r["id"]: r for r in _rows()}
    assert len(rows) == 93
    assert all(list(r) == list(SOA_COLUMNS) for r in rows.values())
    assert rows["A.7.4"]["applicable"] is False and rows["A.7.4"]["status"] == "not_applicable"
    assert rows["A.7.4"]["justification"] == 'No premises, "remote", by design'
    assert rows["A.8.24"]["implementation"] == "partially" and rows["A.8.24"]["owner"] == "Platform team"
    assert rows["A.5.1"]["status"] == "manual" and rows["A.5.1"]["manual_evidence"] == 2
    assert rows["A.5.2"]["status"] == "unknown" and rows["A.5.2"]["theme"] == "Organizational"


def test_csv_and_xlsx_hold_the_same_cells(tmp_path: Path) -> None:
    rows = _rows()
    write_soa_csv(rows, tmp_path / "soa.csv")
    write_soa_xlsx(rows, tmp_path / "soa.xlsx")
    text = (tmp_path / "soa.csv").read_text(encoding="utf-8")
    assert text == soa_csv_text(rows)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(SOA_COLUMNS) and len(table) == 94
    ws = load_workbook(tmp_path / "soa.xlsx").active
    cells = [["" if c.value is None else str(c.value) for c in row] for row in ws.iter_rows()]
    assert cells == table
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["B"].width > ws.column_dimensions["A"].width
    a74 = next(r for r in table if r[0] == "A.7.4")
    assert a74[SOA_COLUMNS.index("applicable")] == "no"
    assert isinstance(ws.cell(row=2, column=SOA_COLUMNS.index("rules") + 1).value, int)


# --- issue 9, point 5: an unquoted `5.10:` was the float 5.1 -----------------------------------------

@pytest.mark.parametrize("written", ["5.10", "5.20", "5.30", "8.10", "8.20", "8.30"])
def test_unquoted_two_digit_ids_mean_the_control_written(written: str) -> None:
    soa = parse(f"controls:\n  {written}: {{applicable: false, justification: Not used here}}\n")
    assert soa[f"A.{written}"].applicable is False
    assert soa[f"A.{written[:-1]}"].applicable is True  # A.5.1, A.5.2 ... untouched


def test_unquoted_ids_and_their_prefix_ids_are_different_controls() -> None:
    soa = parse("controls:\n  5.1: {owner: CISO}\n  5.10: {owner: Legal}\n  A.8.1: {owner: IT}\n  8.10: {owner: Ops}\n")
    assert soa["A.5.1"].owner == "CISO" and soa["A.5.10"].owner == "Legal"
    assert soa["A.8.1"].owner == "IT" and soa["A.8.10"].owner == "Ops"


def test_validate_catches_a_control_listed_unquoted_and_quoted() -> None:
    """Accepted before (8.10 was read as 8.1, a different control from A.8.10): now a duplicate."""
    err = error_of("controls:\n  8.10: {owner: Ops}\n  A.8.10: {owner: IT}\n")
    assert err.line == 3 and "A.8.10 is listed twice" in err.detail


def test_numbers_as_text_values_keep_their_digits() -> None:
    soa = parse("controls:\n  A.5.1: {owner: 5.10}\n")
    assert soa["A.5.1"].owner == "5.10"


@pytest.mark.parametrize(("text", "words"), [
    ("controls:\n  ? [5, 1]\n  : {}\n", "key must be plain text"),
    ("controls:\n  A.5.1: {owner: " + "9" * 5000 + "}\n", "out of range"),
    ("controls: " + "[" * 200 + "]" * 200 + "\n", "deeper than"),
    ("controls:\n  on: {}\n", "not a control id 'on'"),
])
def test_hostile_soa_documents_are_input_errors(text: str, words: str) -> None:
    err = error_of(text)
    assert words in err.detail and err.line is not None
