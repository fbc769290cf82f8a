"""`hr_csv`: an HR roster exported as CSV, one `hr.person` per row.

The roster is checked as a whole before `annexa run` starts (`preflight`): a file that cannot be
read, or a configured column missing from its header, is one message naming the file and the
column, exit 2, and nothing is written. Bad rows become `hr.person` records carrying `errors`
(see collectors/hr/roster.py), judged `error` by the identity rules.

Resource ids survive row reordering: `file:///abs/path.csv#<e-mail>` for a usable row, and
`file:///abs/path.csv#L<line>` for a row without a usable e-mail (or the second row of a person
listed twice). The line is kept in the evidence (`row`) either way.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from agent.identity.shape import PERSON_TYPE
from agent.model import Resource
from collectors.base import Collector, CollectorOptions
from collectors.hr.options import left_status_set, left_statuses
from collectors.hr.roster import RosterError, RosterSpec, check_roster, read_people

Column = Literal["email", "name", "status", "start_date", "end_date", "manager", "department", "employee_id"]


class HrCsvOptions(CollectorOptions):
    path: str = Field(description="the roster CSV; relative paths are relative to annexa.yaml")
    columns: dict[Column, str] = Field(default_factory=dict, description="our column name -> the CSV header")
    date_format: str | list[str] | None = Field(default=None, description="strptime formats besides ISO dates")
    left_statuses: list[str] | None = Field(default=None, description="status words meaning 'has left'")
    encoding: str = "utf-8"
    delimiter: str | None = None
    max_rows: int = Field(default=100_000, ge=1, le=10_000_000)
    tenant: str | None = Field(default=None, description="shown as the account of each person (e.g. the company)")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise ValueError("expected the path of the roster CSV file")
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        for ours, header in value.items():
            if not isinstance(header, str) or not header.strip():
                raise ValueError(f"columns.{ours}: expected the CSV header name")
        return value

    @field_validator("date_format")
    @classmethod
    def _formats(cls, value: str | list[str] | None) -> str | list[str] | None:
        for fmt in [value] if isinstance(value, str) else value or []:
            if "%" not in fmt:
                raise ValueError(f"{fmt!r} is not a strptime format (e.g. %d/%m/%Y)")
        return value

    @field_validator("left_statuses")
    @classmethod
    def _left(cls, value: list[str] | None) -> list[str] | None:
        return left_statuses(value)

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            info = codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, cp1252, latin-1)") from None
        if info.name.startswith(("utf-16", "utf-32")):
            raise ValueError("UTF-16/32 rosters are not supported; export the roster as CSV UTF-8")
        return value

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in "\"\r\n"):
            raise ValueError("expected one character such as ',', ';', '|' or a tab")
        return value

    def spec(self) -> RosterSpec:
        formats = [self.date_format] if isinstance(self.date_format, str) else list(self.date_format or [])
        return RosterSpec(path=Path(self.path), columns=dict(self.columns), date_formats=tuple(formats),
                          left_statuses=left_status_set(self.left_statuses), encoding=self.encoding,
                          delimiter=self.delimiter, max_rows=self.max_rows, tenant=self.tenant)


class HrCsvCollector(Collector):
    type = "hr_csv"
    resource_types: ClassVar[dict[str, str]] = {
        PERSON_TYPE: "a person on the HR roster: e-mail, status, start and end dates (bad rows carry errors)",
    }
    Options = HrCsvOptions
    path_options: ClassVar[tuple[str, ...]] = ("path",)

    @classmethod
    def preflight(cls, options: Any, source: Any) -> None:
        """Read the whole roster once before the run: RosterError (exit 2) if it cannot be read as a whole."""
        check_roster(options.spec())

    def collect(self) -> Iterator[Resource]:
        spec = self.ctx.options.spec()
        self.ctx.progress.update(f"reading {spec.path.name}")
        try:
            for person in read_people(spec):
                yield person.to_resource(spec.tenant)
        except RosterError as exc:  # the file changed since the run started (or the daemon reads it later)
            self.ctx.report_error(PERSON_TYPE, f"unreadable: {exc}")
