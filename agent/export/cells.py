"""Spreadsheet-safe cells: every CSV and XLSX writer of Annexa passes its values through here.

Cloud-controlled strings (a `Name` tag, a finding message, an SoA owner) reach the CSV and XLSX files
an auditor opens in Excel or LibreOffice. A cell whose text starts like a formula would be evaluated
there (`=HYPERLINK(...)`, `@SUM(...)`, DDE payloads), so, following the OWASP guidance on CSV
injection, such a cell is prefixed with a single quote, which spreadsheets show as text:

* a cell is neutralised when its first character is `=`, `+`, `-`, `@`, tab, carriage return or line
  feed, or the full-width forms U+FF1D, U+FF0B, U+FF0D, U+FF20 (some spreadsheet locales fold them to ASCII on input);
* the same applies after leading whitespace (spaces, no-break spaces, ideographic space), because
  importers may trim it before parsing (` =1+1`);
* a cell that is only a number (`-3`, `+1.5e3`) is left as it is: a spreadsheet reads it as a
  number, never as a formula, and the value stays usable.

The prefix is visible in the file (`'=HYPERLINK(...)`); the original text is otherwise unchanged, so
nothing is lost. XLSX text cells are also typed as strings explicitly, so no text becomes a formula.
JSON output is never neutralised: it is data, not a spreadsheet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import IO, Any

FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_PLAIN_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")


def inert(text: str) -> str:
    """`text`, prefixed with `'` when a spreadsheet would read it as a formula."""
    if not text:
        return text
    first = text[0]
    if first not in FORMULA_STARTS:
        stripped = text.lstrip()
        if not stripped or stripped[0] not in FORMULA_STARTS:
            return text
    if _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text


def cell_value(value: Any) -> Any:
    """A value as a spreadsheet cell: numbers and empty cells as they are, any text made inert."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return inert(value if isinstance(value, str) else str(value))


class InertCsvWriter:
    """Writes RFC 4180 CSV rows ("\\n" line ends) with every cell made inert by `inert`.

    The csv module is not used: with a "\\n" line terminator it leaves a field holding a bare carriage
    return unquoted, which splits the row when read back (a cloud name such as "\\r=1+1" would do it).
    Here a field is quoted whenever it holds a comma, a quote, CR or LF.
    """

    def __init__(self, stream: IO[str]):
        self._stream = stream

    def writerow(self, row: Iterable[Any]) -> None:
        text = _text_field  # strings (most cells) go straight to the memoised conversion
        self._stream.write(",".join([text(v) if v.__class__ is str else _field(v) for v in row]) + "\n")

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


_NEEDS_QUOTES = re.compile('[,"\r\n]').search


def _field(value: Any) -> str:
    if value is None:
        return ""
    return _text_field(value if value.__class__ is str else str(value))


@lru_cache(maxsize=1 << 14)  # statuses, rule ids, types, instants and names repeat row after row
def _text_field(value: str) -> str:
    text = inert(value)
    if _NEEDS_QUOTES(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def xlsx_row(ws: Any, values: Iterable[Any]) -> None:
    """Append one row to an openpyxl worksheet: text cells inert and typed as strings (never formulas)."""
    cells = [cell_value(v) for v in values]
    ws.append(cells)
    for cell, value in zip(ws[ws.max_row], cells, strict=False):
        if isinstance(value, str):
            cell.data_type = "s"
