"""Statement of Applicability: which Annex A controls apply, why, how far they are implemented, who owns them.

The SoA lives in a YAML file (``soa:`` in annexa.yaml) keyed by control id::

    version: "2026.1"
    approved_by: ciso@acme.example
    approved_on: 2026-01-15
    controls:
      A.5.1: {applicable: true, implementation: implemented, owner: CISO, justification: "...", risks: [R-3]}
      A.7.4: {applicable: false, justification: "No physical premises; fully remote company"}

A file with a ``version`` is an approved ISMS record and is held to it: ``approved_by`` and
``approved_on`` are required, every Annex A control must be listed, every entry needs a
justification (for inclusion as much as for exclusion), and applicable controls need an owner and an
implementation state. A file without ``version`` is read as before (controls it does not list are
applicable, with nothing stated); `annexa soa validate` then warns about what an auditor will miss.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from agent.catalogue import Catalogue, UnknownControlError, normalise_control_id
from agent.errors import InputError
from agent.yamlfile import key_line, load_yaml_file, load_yaml_text, reject_unknown_keys, scalar_text

if TYPE_CHECKING:
    from agent.config import Config
    from agent.status import ControlState

IMPLEMENTATION_STATES = ("implemented", "partially", "planned", "not_implemented")
ENTRY_KEYS = ("applicable", "implementation", "owner", "justification", "risks")
DOCUMENT_KEYS = ("version", "approved_by", "approved_on", "controls")

SOA_COLUMNS = ("id", "title", "theme", "applicable", "justification", "implementation", "owner", "status",
               "rules", "passing", "failing", "errors", "excepted", "manual_evidence", "risks")


@dataclass(frozen=True)
class SoaEntry:
    control: str
    applicable: bool
    justification: str | None
    implementation: str | None
    owner: str | None
    risks: tuple[str, ...] = ()
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SoaRecord:
    """The whole SoA: its entries plus the record's version and approval (None for an unversioned file)."""

    entries: dict[str, SoaEntry]
    version: str | None = None
    approved_by: str | None = None
    approved_on: date | None = None
    warnings: tuple[str, ...] = ()

    def meta(self) -> dict[str, str | None]:
        return {"version": self.version, "approved_by": self.approved_by,
                "approved_on": self.approved_on.isoformat() if self.approved_on else None}


def default_entry(control_id: str) -> SoaEntry:
    """What a control not listed in the SoA means: applicable, nothing else stated."""
    return SoaEntry(control=control_id, applicable=True, justification=None, implementation=None, owner=None)


def default_soa(catalogue: Catalogue) -> dict[str, SoaEntry]:
    """Every control applicable: the SoA used when none is configured."""
    return {c.id: default_entry(c.id) for c in catalogue.controls}


def load_soa_record(path: Path, catalogue: Catalogue) -> SoaRecord:
    """Load an SoA file with its version and approval (see parse_soa_record)."""
    return parse_soa_record(load_yaml_file(path), str(path), catalogue)


def load_soa(path: Path, catalogue: Catalogue) -> dict[str, SoaEntry]:
    """Load and validate an SoA file; the result has an entry for each of the 93 controls, in catalogue order.

    Raises InputError (exit 2) naming the file, the line and the field for any mistake.
    """
    return parse_soa(load_yaml_file(path), str(path), catalogue)


def configured_soa(config: Config, catalogue: Catalogue) -> dict[str, SoaEntry]:
    """The SoA named by the config (``soa:``), or every control applicable when none is configured or found.

    A missing file is treated like posture does (no exclusions), so reports and posture always agree.
    """
    path = config.soa_path
    if path is None or not Path(path).exists():
        return default_soa(catalogue)
    return load_soa(path, catalogue)


def parse_soa_text(text: str, source: str, catalogue: Catalogue) -> dict[str, SoaEntry]:
    return parse_soa(load_yaml_text(text, source), source, catalogue)


def _text_or_none(value: Any, source: str, line: int | None, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(source, "must be a text value", line=line, field=field)
    text = scalar_text(value).strip()
    return text or None


def _resolve_id(key: Any, source: str, line: int | None, catalogue: Catalogue) -> str:
    field = f"controls.{key}"
    try:
        cid = normalise_control_id(str(key))
    except UnknownControlError as exc:
        raise InputError(source, str(exc), line=line, field=field) from None
    if cid in catalogue:
        return cid
    legacy = catalogue.legacy_control(cid)
    if legacy is not None:
        raise InputError(source, f"{cid} is an ISO 27001:2013 control ({legacy.title}); "
                         f"the SoA uses 2022 ids: write {', '.join(legacy.maps_to)} instead",
                         line=line, field=field)
    raise InputError(source, f"unknown control id {key!r}: expected an ISO 27001:2022 Annex A id "
                     "such as A.5.1 or A.8.34", line=line, field=field)


def _parse_entry(cid: str, key: Any, value: Any, source: str, line: int | None) -> SoaEntry:
    field = f"controls.{key}"
    if value is None:
        return default_entry(cid)
    if not isinstance(value, Mapping):
        raise InputError(source, "must be a mapping such as {applicable: true, implementation: planned}",
                         line=line, field=field)
    reject_unknown_keys(value, ENTRY_KEYS, source, line, field)
    applicable = value.get("applicable", True)
    if not isinstance(applicable, bool):
        raise InputError(source, "must be true or false", line=key_line(value, "applicable") or line,
                         field=f"{field}.applicable")
    impl_line = key_line(value, "implementation") or line
    implementation = _text_or_none(value.get("implementation"), source, impl_line, f"{field}.implementation")
    if implementation is not None and implementation not in IMPLEMENTATION_STATES:
        raise InputError(source, f"{implementation!r} is not one of {', '.join(IMPLEMENTATION_STATES)}",
                         line=impl_line, field=f"{field}.implementation")
    owner = _text_or_none(value.get("owner"), source, key_line(value, "owner") or line, f"{field}.owner")
    justification = _text_or_none(value.get("justification"), source, key_line(value, "justification") or line,
                                  f"{field}.justification")
    if not applicable and justification is None:
        raise InputError(source, f"control {cid} is marked not applicable but has no justification; "
                         "an excluded control needs a justification for the auditor",
                         line=line, field=f"{field}.justification")
    risks = value.get("risks", [])
    risks_line = key_line(value, "risks") or line
    if isinstance(risks, str | int):
        risks = [risks]
    if not isinstance(risks, list) or any(isinstance(r, bool) or not isinstance(r, str | int) for r in risks):
        raise InputError(source, "must be a list of risk ids such as [R-12, R-31]", line=risks_line,
                         field=f"{field}.risks")
    return SoaEntry(control=cid, applicable=applicable, justification=justification,
                    implementation=implementation, owner=owner,
                    risks=tuple(scalar_text(r).strip() for r in risks if scalar_text(r).strip()), line=line)


def parse_soa(document: Any, source: str, catalogue: Catalogue) -> dict[str, SoaEntry]:
    """Validate a parsed SoA document (see the module docstring for the format)."""
    return parse_soa_record(document, source, catalogue).entries


def _approval_day(value: Any, source: str, line: int | None) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(source, "must be a date such as 2026-01-15", line=line, field="approved_on") from None


def parse_soa_record(document: Any, source: str, catalogue: Catalogue) -> SoaRecord:
    """Validate a parsed SoA document, keeping its version and approval; InputError (exit 2) on a mistake."""
    if document is None:
        return SoaRecord(default_soa(catalogue), warnings=("the SoA file is empty",))
    if not isinstance(document, Mapping):
        raise InputError(source, "the SoA must be a mapping with a 'controls' key", line=key_line(document))
    for k in document:
        if k not in DOCUMENT_KEYS:
            raise InputError(source, f"unknown key: the SoA file has only {', '.join(DOCUMENT_KEYS)}",
                             line=key_line(document, k), field=str(k))
    version = _text_or_none(document.get("version"), source, key_line(document, "version"), "version")
    approved_by = _text_or_none(document.get("approved_by"), source, key_line(document, "approved_by"),
                                "approved_by")
    approved_on = None
    if document.get("approved_on") is not None:
        approved_on = _approval_day(document["approved_on"], source, key_line(document, "approved_on"))
    record = "version" in document
    if record:
        for name, value in (("version", version), ("approved_by", approved_by), ("approved_on", approved_on)):
            if value is None:
                raise InputError(source, f"required: a versioned SoA is an approved record and needs {name} "
                                 "(version, approved_by, approved_on)", line=key_line(document, name) or 1,
                                 field=name)
    controls = document.get("controls")
    if controls is not None and not isinstance(controls, Mapping):
        raise InputError(source, "must be a mapping of control id to entry", line=key_line(document, "controls"),
                         field="controls")
    found: dict[str, SoaEntry] = {}
    for key, value in (controls or {}).items():
        line = key_line(controls, key)
        cid = _resolve_id(key, source, line, catalogue)
        if cid in found:
            raise InputError(source, f"{cid} is listed twice (ids like 5.1 and A.5.1 name the same control)",
                             line=line, field=f"controls.{key}")
        found[cid] = _parse_entry(cid, key, value, source, line)
        if record:
            _require_record_fields(found[cid], key, value, source, line)
    if record:
        missing = [c.id for c in catalogue.controls if c.id not in found]
        if missing:
            raise InputError(source, f"a versioned SoA lists every Annex A control; missing: "
                             f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}",
                             line=key_line(document, "controls") or 1, field=f"controls.{missing[0]}")
    entries = {c.id: found.get(c.id) or default_entry(c.id) for c in catalogue.controls}
    return SoaRecord(entries, version, approved_by, approved_on,
                     () if record else tuple(_legacy_warnings(entries, approved_by, approved_on)))


def _require_record_fields(entry: SoaEntry, key: Any, value: Any, source: str, line: int | None) -> None:
    needed = ["justification"] + (["owner", "implementation"] if entry.applicable else [])
    for name in needed:
        if getattr(entry, name) is None:
            why = "included" if entry.applicable else "excluded"
            raise InputError(source, f"required in a versioned SoA: {entry.control} needs {name} "
                             f"({'why it is ' + why if name == 'justification' else 'for every applicable control'})",
                             line=(key_line(value, name) if isinstance(value, Mapping) else None) or line,
                             field=f"controls.{key}.{name}")


def _legacy_warnings(entries: Mapping[str, SoaEntry], approved_by: str | None,
                     approved_on: date | None) -> list[str]:
    out = ["no version: the SoA is not recorded as an approved ISMS document (add version, approved_by "
           "and approved_on; see docs/input-files.md)"]
    applicable = [e for e in entries.values() if e.applicable]
    for name in ("justification", "owner", "implementation"):
        n = sum(1 for e in applicable if getattr(e, name) is None)
        if n:
            out.append(f"{n} applicable control(s) have no {name}")
    return out


def _yaml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def starter_soa_text(catalogue: Catalogue | None = None) -> str:
    """The commented starter SoA: every control applicable and planned, owner empty."""
    if catalogue is None:
        from agent.catalogue import load_catalogue

        catalogue = load_catalogue()
    lines = [
        "# Statement of Applicability (ISO/IEC 27001:2022, clause 6.1.3 d).",
        "# One entry per Annex A control. Keys:",
        "#   applicable:     true | false   (false needs a justification)",
        f"#   implementation: {' | '.join(IMPLEMENTATION_STATES)}",
        "#   owner:          who is accountable for the control",
        "#   justification:  why the control is included or excluded",
        "#   risks:          ids in your risk register that this control treats, e.g. [R-12]",
        "# Once every entry has its justification and owner, record the approval by adding at the top:",
        '#   version: "1"          approved_by: ciso@example.com          approved_on: 2026-01-15',
        "# A versioned SoA must list every control with those fields (`annexa soa validate` checks it).",
        "# Controls missing from this (unversioned) file count as applicable with no justification.",
        "# Example exclusion:",
        '#   A.7.4: {applicable: false, justification: "No premises of our own; everyone works remotely"}',
        "controls:",
    ]
    theme = None
    for control in catalogue.controls:
        if control.theme != theme:
            theme = control.theme
            lines.append(f"  # --- {theme} controls")
        lines.append(f"  {control.id}: {{applicable: true, implementation: planned, owner: \"\"}}"
                     f"  # {control.title}")
    return "\n".join(lines) + "\n"


def write_starter_soa(path: Path) -> None:
    """Write the commented starter SoA listing all 93 controls."""
    Path(path).write_text(starter_soa_text(), encoding="utf-8")


def soa_rows(states: Sequence[ControlState],
             soa: Mapping[str, SoaEntry] | None = None) -> list[dict[str, Any]]:
    """One row per control for the SoA export, with the control's current evidence status.

    ``states`` come from ``agent.posture.posture``; applicability and justification are taken from
    the states (which already reflect the SoA), implementation and owner from ``soa``.
    """
    rows: list[dict[str, Any]] = []
    for state in states:
        c = state.control
        entry = (soa or {}).get(c.id)
        rows.append({
            "id": c.id, "title": c.title, "theme": c.theme,
            "applicable": state.applicable,
            "justification": state.justification if state.justification is not None
            else (entry.justification if entry else None),
            "implementation": entry.implementation if entry else None,
            "owner": entry.owner if entry else None,
            "status": state.status, "rules": len(state.rules),
            "passing": state.passing, "failing": state.failing, "errors": state.errors,
            "excepted": state.excepted, "manual_evidence": state.manual.current,
            "risks": list(entry.risks) if entry else [],
        })
    return rows


def export_value(value: Any) -> str | int | float:
    """How a row value is written to CSV and XLSX (same text in both): booleans are yes/no, None is empty.

    Text is made inert by the writers (agent.export.cells), so a hostile owner cannot become a formula.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def write_soa_csv(rows: Iterable[Mapping[str, Any]], out: Path | str | IO[str]) -> None:
    """Write the SoA rows as CSV (header + one line per control) to a path or a text stream."""
    if isinstance(out, str | Path):
        with open(out, "w", encoding="utf-8", newline="") as fh:
            write_soa_csv(rows, fh)
        return
    from agent.export.cells import InertCsvWriter

    writer = InertCsvWriter(out)
    writer.writerow(SOA_COLUMNS)
    for row in rows:
        writer.writerow([export_value(row.get(col)) for col in SOA_COLUMNS])


def soa_csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    write_soa_csv(rows, buf)
    return buf.getvalue()


_WIDTHS = {"id": 9, "title": 48, "theme": 15, "justification": 60, "implementation": 16, "owner": 20,
           "status": 15}


def write_soa_xlsx(rows: Iterable[Mapping[str, Any]], path: Path | str) -> None:
    """Write the SoA rows as an Excel sheet (bold frozen header, filter, widths); values as in the CSV."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    from agent.export.cells import xlsx_row

    wb = Workbook()
    ws = wb.active
    ws.title = "Statement of Applicability"
    ws.append(list(SOA_COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    count = 0
    for row in rows:
        xlsx_row(ws, (export_value(row.get(col)) for col in SOA_COLUMNS))
        count += 1
    wrap = Alignment(wrap_text=True, vertical="top")
    for index, col in enumerate(SOA_COLUMNS, start=1):
        letter = get_column_letter(index)
        ws.column_dimensions[letter].width = _WIDTHS.get(col, max(len(col) + 2, 10))
        if col in ("title", "justification"):
            for cell in ws[letter][1:]:
                cell.alignment = wrap
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(SOA_COLUMNS))}{count + 1}"
    wb.save(str(path))
