"""Reading an HR roster CSV export into `hr.person` records.

Two kinds of problem, kept apart on purpose:
- the roster as a whole cannot be read (missing file, not UTF-8 text, no header, a configured
  column absent from the header, more rows than `max_rows`): `RosterError`, one message naming the
  file (and the column), which `annexa run` turns into exit 2 before anything is written;
- one row is bad (no or invalid e-mail, a date that is not a date, the same person twice, a NUL
  byte, an oversized cell): the row still becomes an `hr.person` carrying `errors` and its line,
  so it is reported as an `error` finding and the people it may concern are judged `error`, never
  silently dropped. The rest of the roster is used.

Only the mapped columns are read into the evidence store: salaries or national ids that an HR
export may also carry never leave the file.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import quote

from agent.errors import InputError
from agent.identity.join import DEFAULT_LEFT_STATUSES, normalise_email
from agent.identity.shape import Person

COLUMNS = ("email", "name", "status", "start_date", "end_date", "manager", "department", "employee_id")
# Header names recognised when a column is not configured (compared after normalising case and punctuation).
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "email": ("email", "work_email", "e_mail", "email_address", "mail"),
    "name": ("name", "full_name", "display_name", "employee_name"),
    "status": ("status", "employment_status", "employee_status"),
    "start_date": ("start_date", "hire_date", "started", "joined", "joining_date"),
    "end_date": ("end_date", "termination_date", "leaving_date", "leave_date", "last_day"),
    "manager": ("manager", "manager_email", "reports_to", "supervisor"),
    "department": ("department", "team", "division"),
    "employee_id": ("employee_id", "employee_number", "id"),
}
DELIMITERS = (",", ";", "\t", "|")
MAX_CELL = 4096
LINE_LIMIT = 1024 * 1024
OVERSIZED = "\x01oversized line"


T = TypeVar("T")


class RosterError(InputError):
    """The roster cannot be read as a whole (exit 2, nothing written)."""


@dataclass(frozen=True)
class RosterSpec:
    path: Path
    columns: dict[str, str] = field(default_factory=dict)  # configured: our name -> CSV header
    date_formats: tuple[str, ...] = ()
    left_statuses: frozenset[str] = frozenset(DEFAULT_LEFT_STATUSES)
    encoding: str = "utf-8"
    delimiter: str | None = None
    max_rows: int = 100_000
    tenant: str | None = None


def header_key(text: str) -> str:
    """`Start Date`, `start-date` and `START_DATE` all read as `start_date`."""
    return re.sub(r"[^0-9a-z]+", "_", unicodedata.normalize("NFKC", text).casefold()).strip("_")


def _codec(encoding: str) -> str:
    """Python's codec name; UTF-8 is read as utf-8-sig so a byte-order mark is not part of the first header."""
    name = codecs.lookup(encoding).name
    return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name


class _Lines:
    """Decoded text lines of the file, one physical line at a time, with bounded memory.

    Decoding line by line lets a decode error name its line exactly; a line longer than
    `LINE_LIMIT` bytes is skipped (its record becomes a bad row) instead of being held in memory.
    """

    def __init__(self, raw: IO[bytes], codec: str):
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder(codec)("strict")
        self.lines = 0
        self.oversized: set[int] = set()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.raw.readline(LINE_LIMIT)
        if not line:
            raise StopIteration
        self.lines += 1
        if len(line) == LINE_LIMIT and not line.endswith(b"\n"):
            while True:  # drop the rest of the line without keeping it
                more = self.raw.readline(LINE_LIMIT)
                if not more or more.endswith(b"\n"):
                    break
            self.oversized.add(self.lines)
            return OVERSIZED + "\n"
        return self.decoder.decode(line)


class Roster:
    """An open roster: its header mapping and its rows, read lazily."""

    def __init__(self, spec: RosterSpec):
        self.spec = spec
        self.file = str(spec.path)
        try:
            raw = spec.path.open("rb")
        except FileNotFoundError:
            raise RosterError(self.file, "file not found") from None
        except IsADirectoryError:
            raise RosterError(self.file, "is a folder, expected a CSV file") from None
        except OSError as exc:
            raise RosterError(self.file, f"cannot be read: {exc.strerror or exc}") from None
        self._raw = raw
        try:
            self._open()
        except BaseException:
            raw.close()
            raise

    def _open(self) -> None:
        head = self._raw.read(4)
        self._raw.seek(0)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise RosterError(self.file, "is UTF-16 text (Excel's \"Unicode text\"); export it as CSV UTF-8")
        self._lines = _Lines(self._raw, _codec(self.spec.encoding))
        first = self._decoded(lambda: next(self._lines, ""))
        if not first:
            raise RosterError(self.file, "is empty; expected a header row and one row per person")
        delimiter = self.spec.delimiter or _sniff(first, self.spec.columns.get("email"))
        self._reader = csv.reader(_chain(first, self._lines), delimiter=delimiter, strict=False)
        self._started = False
        header = self._next_record()
        if header is None:
            raise RosterError(self.file, "has no header row")
        self.header = [h.replace("\x00", "")[:200] for h in header]
        self.index = self._map(self.header)

    # -- reading -------------------------------------------------------------------------------
    def _decoded(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except UnicodeDecodeError:
            raise RosterError(self.file, f"line {self._lines.lines} is not {self.spec.encoding} text "
                              "(export the roster as CSV UTF-8, or set `encoding`)") from None

    def _next_record(self) -> list[str] | None:
        """The next non-blank record, or None at the end. Raises csv.Error for one bad record."""
        while True:
            self.start = self._lines.lines + (1 if self._started else 0)
            self._started = True
            record = self._decoded(lambda: next(self._reader, None))
            if record is None:
                return None
            if any(cell.strip() for cell in record):
                return record

    def rows(self) -> Iterator[tuple[int, list[str] | None, str | None]]:
        """(first line, cells, problem) per record; cells is None when the record could not be parsed."""
        count = 0
        while True:
            try:
                record = self._next_record()
                problem = None
            except csv.Error as exc:
                record, problem = [], f"cannot be parsed as CSV ({exc})"
            if record is None:
                return
            count += 1
            if count > self.spec.max_rows:
                raise RosterError(self.file, f"has more than {self.spec.max_rows} rows (max_rows); raise "
                                  "`max_rows` if the roster is really that large")
            long = sorted(n for n in self._lines.oversized if self.start <= n <= self._lines.lines)
            if long:
                problem = f"line {long[0]} is longer than {LINE_LIMIT} bytes"
            yield self.start, (None if problem else record), problem

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Roster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- header --------------------------------------------------------------------------------
    def _map(self, header: list[str]) -> dict[str, int]:
        keys = [header_key(h) for h in header]
        found = ", ".join(repr(h[:40]) for h in header[:12]) + (" ..." if len(header) > 12 else "")
        index: dict[str, int] = {}
        for ours in COLUMNS:
            configured = self.spec.columns.get(ours)
            wanted = (header_key(configured),) if configured else DEFAULT_HEADERS[ours]
            hits = [i for i, k in enumerate(keys) if k in wanted and k]
            if configured and not hits:
                raise RosterError(self.file, f"column {configured!r} is not in the header (found: {found})",
                                  field=f"columns.{ours}")
            if not hits:
                continue
            if configured and len(hits) > 1:
                raise RosterError(self.file, f"column {configured!r} appears {len(hits)} times in the header",
                                  field=f"columns.{ours}")
            index[ours] = min(hits, key=lambda i: wanted.index(keys[i]))
        if "email" not in index:
            raise RosterError(self.file, f"has no e-mail column (found: {found}); name it with columns.email",
                              field="columns.email")
        if "status" not in index and "end_date" not in index:
            raise RosterError(self.file, f"has neither a status nor an end-date column (found: {found}), so "
                              "leavers cannot be recognised; name one with columns.status or columns.end_date",
                              field="columns.end_date")
        return index


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _sniff(first: str, email_header: str | None) -> str:
    """The delimiter that makes the header contain an e-mail column (else the one giving most columns)."""
    wanted = (header_key(email_header),) if email_header else DEFAULT_HEADERS["email"]
    best, best_count = ",", 0
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:
            continue
        if any(header_key(c) in wanted for c in cells):
            return delimiter
        if len(cells) > best_count:
            best, best_count = delimiter, len(cells)
    return best


def check_roster(spec: RosterSpec) -> int:
    """Read the whole roster once, as `annexa run` does before it starts: the number of rows, or RosterError."""
    with Roster(spec) as roster:
        return sum(1 for _ in roster.rows())


# -- rows -> people -------------------------------------------------------------------------------
def parse_date(value: str, formats: Sequence[str]) -> date | None:
    """ISO 8601 (a date, or the date of a timestamp), then each configured strptime format."""
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def read_people(spec: RosterSpec) -> Iterator[Person]:
    """Every record of the roster as a Person (bad rows carry `errors`). Raises RosterError."""
    uri = spec.path.resolve().as_uri()
    seen: dict[str, int] = {}
    with Roster(spec) as roster:
        width = len(roster.header)
        for line, cells, problem in roster.rows():
            yield _person(spec, roster, uri, line, cells, problem, width, seen)


def _person(spec: RosterSpec, roster: Roster, uri: str, line: int, cells: list[str] | None,
            problem: str | None, width: int, seen: dict[str, int]) -> Person:
    where = f"{spec.path.name} line {line}"
    errors: list[str] = [f"{where}: {problem}"] if problem else []
    cells = cells or []
    if len(cells) > width:
        errors.append(f"{where}: has {len(cells)} cells but the header has {width}")
    if any("\x00" in c for c in cells):
        errors.append(f"{where}: contains a NUL byte")
    if any(len(c) > MAX_CELL for c in cells):
        errors.append(f"{where}: a cell is longer than {MAX_CELL} characters")

    def cell(ours: str) -> str | None:
        i = roster.index.get(ours)
        if i is None or i >= len(cells):
            return None
        text = cells[i].replace("\x00", "").strip()[:MAX_CELL]
        return text or None

    raw_email = cell("email")
    email = normalise_email(raw_email) if raw_email else None
    if raw_email is None and not problem:
        errors.append(f"{where}: no e-mail")
    elif email is None and raw_email is not None:
        errors.append(f"{where}: e-mail {raw_email[:80]!r} is not an e-mail address")
    dates: dict[str, str | None] = {}
    for ours in ("start_date", "end_date"):
        value = cell(ours)
        parsed = parse_date(value, spec.date_formats) if value else None
        if value and parsed is None:
            expected = " or ".join(("YYYY-MM-DD", *spec.date_formats))
            errors.append(f"{where}: {ours} {value[:40]!r} is not a date (expected {expected})")
        dates[ours] = parsed.isoformat() if parsed else None
    if dates["start_date"] and dates["end_date"] and dates["end_date"] < dates["start_date"]:
        errors.append(f"{where}: end_date {dates['end_date']} is before start_date {dates['start_date']}")
    origin = f"{uri}#L{line}"
    if email is not None:
        first = seen.get(email)
        if first is not None:
            errors.append(f"{where}: the same person ({email}) as line {first}")
        else:
            seen[email] = line
            origin = f"{uri}#{quote(email, safe='@.+-_')}"
    status = cell("status")
    return Person(
        email=email or "", name=cell("name"), status=status or "", origin=origin,
        start_date=dates["start_date"], end_date=dates["end_date"], manager=cell("manager"),
        department=cell("department"), employee_id=cell("employee_id"),
        extra={"cells": {roster.header[i]: (cells[i].replace("\x00", "")[:MAX_CELL] if i < len(cells) else None)
                         for i in sorted(roster.index.values())}},
        status_left=(status.casefold() in spec.left_statuses) if status else
        (False if "status" in roster.index else None),
        row=line, errors=errors)
