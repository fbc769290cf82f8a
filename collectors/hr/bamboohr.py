"""`bamboohr`: BambooHR's `employee` dataset, one `hr.person` per employee (active, inactive, future hires).

API: Get Data from Dataset (v2), `POST https://{companyDomain}.bamboohr.com/api/v2/datasets/employee/data`
with a JSON body `{"fields": [...], "page": n, "pageSize": m}` (pageSize at most 1000). It is a read,
though sent as POST: the shared client allows exactly this path and nothing else. Paging follows
`meta.totalPages`. Authentication is HTTP Basic with the API key as user name and any password
(`x`), the key read from `token_env`. BambooHR throttles with 503 (sometimes 429) and `Retry-After`,
which the shared client honours; errors are RFC 7807 problem documents.

Unlike the Get Employee endpoints, the dataset returns terminated employees, with their
`terminationDate`, which is what leaver checks need. Future hires come back with status
`Inactive` and a future `hireDate`; the identity rules read those as joiners, not leavers.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from agent.http import HttpError
from agent.identity.join import normalise_email, parse_day
from agent.identity.shape import PERSON_TYPE, Person
from agent.model import Resource
from collectors.base import Collector, CollectorOptions
from collectors.hr.options import left_status_set, left_statuses

Field_ = Literal["email", "first_name", "last_name", "status", "employment_status", "start_date", "end_date",
                 "manager", "department", "employee_id"]
# Our names -> the employee dataset's field names (BambooHR's qualified dataset vocabulary).
DEFAULT_FIELDS: dict[str, str] = {
    "email": "email", "first_name": "firstName", "last_name": "lastName", "status": "status",
    "employment_status": "employmentStatus", "start_date": "hireDate", "end_date": "terminationDate",
    "manager": "jobInformationReportsTo", "department": "jobInformationDepartment",
    "employee_id": "employeeNumber",
}
MAX_PAGE_SIZE = 1000
MAX_PAGES = 10_000
EMPTY_DATES = {"", "0000-00-00"}
_SUBDOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


class BambooHrOptions(CollectorOptions):
    subdomain: str = Field(description="the company domain: acme for https://acme.bamboohr.com")
    dataset: str = "employee"
    fields: dict[Field_, str] = Field(default_factory=dict, description="our name -> dataset field name")
    left_statuses: list[str] | None = Field(default=None, description="status words meaning 'has left'")
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, value: str) -> str:
        if not _SUBDOMAIN.match(value):
            raise ValueError("expected the company domain, e.g. acme (from https://acme.bamboohr.com)")
        return value

    @field_validator("left_statuses")
    @classmethod
    def _left(cls, value: list[str] | None) -> list[str] | None:
        return left_statuses(value)


def _reason(exc: HttpError) -> str:
    """The reason word of a collection error (a later classification reads it)."""
    if exc.status in (401, 403):
        return "denied"
    if exc.status in (400, 404, 413, 422):
        return "not_enabled"
    if exc.status in (429, 503):
        return "throttled"
    if exc.status is None or exc.status >= 500:
        return "unavailable"
    return "invalid_response"


class BambooHrCollector(Collector):
    type = "bamboohr"
    resource_types: ClassVar[dict[str, str]] = {
        PERSON_TYPE: "an employee in BambooHR's employee dataset: work e-mail, status, hire and termination dates",
    }
    Options = BambooHrOptions

    def collect(self) -> Iterator[Resource]:
        opts: BambooHrOptions = self.ctx.options
        key = os.environ.get(self.ctx.source.token_env or "") if self.ctx.source.token_env else None
        if not key:
            self.ctx.report_error(PERSON_TYPE, "denied: no API key; set token_env to the name of an environment "
                                  "variable holding a BambooHR API key")
            return
        base = (self.ctx.source.endpoint or f"https://{opts.subdomain}.bamboohr.com").rstrip("/")
        url = f"{base}/api/v2/datasets/{quote(opts.dataset, safe='')}/data"
        basic = base64.b64encode(f"{key}:x".encode()).decode()
        client = self.ctx.http(base_url=base, auth=lambda: {"Authorization": f"Basic {basic}"},
                               allow_post=[f"^{re.escape(url)}$"])
        fields = {**DEFAULT_FIELDS, **opts.fields}
        try:
            yield from self._people(client, url, opts, fields)
        except HttpError as exc:
            self.ctx.report_error(PERSON_TYPE, f"{_reason(exc)}: {exc}")
        finally:
            client.close()

    def _people(self, client: Any, url: str, opts: BambooHrOptions, fields: dict[str, str]) -> Iterator[Resource]:
        wanted = list(dict.fromkeys(fields.values()))
        seen: dict[str, str] = {}
        left = left_status_set(opts.left_statuses)
        page, total = 1, 1
        while page <= min(total, MAX_PAGES):
            self.ctx.progress.update(f"employee dataset page {page}")
            response = client.request("POST", url, json={"fields": wanted, "page": page, "pageSize": opts.page_size})
            rows, total = self._page(response)
            for index, row in enumerate(rows):
                person = to_person(row, fields, url, f"page{page}-row{index + 1}", left, seen)
                yield person.to_resource(opts.subdomain)
            if not rows:
                break
            page += 1

    def _page(self, response: Any) -> tuple[list[dict[str, Any]], int]:
        """The rows' `fields` objects and `meta.totalPages`; a body of another shape is an invalid response."""
        try:
            body = response.json()
        except ValueError:
            raise HttpError("POST", response.url, response.status_code, "invalid JSON in the dataset response") \
                from None
        data = body.get("data") if isinstance(body, dict) else None
        meta = body.get("meta") if isinstance(body, dict) else None
        if not isinstance(data, list) or not isinstance(meta, dict) or not isinstance(meta.get("totalPages"), int):
            raise HttpError("POST", response.url, response.status_code,
                            "the dataset response has no data list or meta.totalPages")
        rows = [r.get("fields") if isinstance(r, dict) and isinstance(r.get("fields"), dict) else {} for r in data]
        return rows, meta["totalPages"]


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def to_person(row: dict[str, Any], fields: dict[str, str], url: str, position: str, left: frozenset[str],
              seen: dict[str, str]) -> Person:
    """One dataset row as a Person; problems (no e-mail, bad date, duplicate) are kept in `errors`."""
    get = {ours: _text(row, theirs) for ours, theirs in fields.items()}
    ident = get.get("employee_id")
    where = f"BambooHR employee {ident or position}"
    errors: list[str] = []
    email = normalise_email(get.get("email"))
    if get.get("email") is None:
        errors.append(f"{where}: no work e-mail")
    elif email is None:
        errors.append(f"{where}: e-mail {str(get['email'])[:80]!r} is not an e-mail address")
    dates: dict[str, str | None] = {}
    for ours in ("start_date", "end_date"):
        value = get.get(ours)
        day = parse_day(value) if value not in EMPTY_DATES and value is not None else None
        if value not in EMPTY_DATES and value is not None and day is None:
            errors.append(f"{where}: {fields[ours]} {value[:40]!r} is not a date")
        dates[ours] = day.isoformat() if day else None
    anchor = f"employee-{ident}" if ident else position
    if email is not None:
        if email in seen:
            errors.append(f"{where}: the same work e-mail ({email}) as {seen[email]}")
        else:
            seen[email] = where
            anchor = email
    status = get.get("status") or ""
    name = " ".join(p for p in (get.get("first_name"), get.get("last_name")) if p) or None
    return Person(email=email or "", name=name, status=status, origin=f"{url}#{quote(anchor, safe='@.+-_')}",
                  start_date=dates["start_date"], end_date=dates["end_date"], manager=get.get("manager"),
                  department=get.get("department"), employee_id=ident,
                  extra={"fields": row, "employment_status": get.get("employment_status")},
                  status_left=status.casefold() in left if status else None, errors=errors)
