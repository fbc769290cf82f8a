"""A BambooHR tenant on loopback: the employee dataset as "Get Data from Dataset (v2)" serves it.

`POST /api/v2/datasets/{datasetName}/data` with `{"fields", "page", "pageSize"}` in the JSON body
(pageSize 1-1000, default 100), HTTP Basic with the API key as user name, rows as
`{"fields": {...}}` with string (or null) values, `links` (next/prev, omitted at the ends) and
`meta` (page, pageSize, totalPages, totalItems). Errors are RFC 7807 problem documents
(`application/problem+json`); BambooHR throttles with 503 and `Retry-After`.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

from agent.fakeapi.errors import retry_after
from agent.fakeapi.server import FakeApi, Reply, Request

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# The employee dataset fields this fake knows (a real account has several hundred).
EMPLOYEE_FIELDS = frozenset({
    "employeeNumber", "firstName", "lastName", "preferredName", "email", "status", "employmentStatus",
    "hireDate", "originalHireDate", "terminationDate", "jobInformationDepartment", "jobInformationJobTitle",
    "jobInformationReportsTo", "jobInformationLocation", "jobInformationDivision", "workPhone",
})
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, code: str | None = None,
            headers: dict[str, str] | None = None) -> Reply:
    """An RFC 7807 problem document, as BambooHR's v1.2/v2 endpoints send them."""
    body: dict[str, Any] = {"type": f"https://documentation.bamboohr.com/problems/{title.lower().replace(' ', '-')}",
                            "title": title, "status": status, "detail": detail}
    if code:
        body["code"] = code
    return Reply(status, body, {"Content-Type": PROBLEM, **(headers or {})})


def throttled(seconds: float, request: Request) -> Reply:
    """BambooHR's rate limit: 503 Service Unavailable with Retry-After (seconds)."""
    return Reply(503, b"", {"Retry-After": retry_after(seconds)["Retry-After"], "Content-Type": "text/html"})


@dataclass
class BambooTenant:
    """Acme's BambooHR account: employees as dataset rows (field name -> string or None)."""

    subdomain: str = "acme"
    api_key: str = "bamboo-test-key"
    employees: list[dict[str, Any]] = field(default_factory=list)
    datasets: tuple[str, ...] = ("employee",)

    def add(self, number: str, email: str | None, first: str, last: str, *, status: str = "Active",
            hire: str = "2020-01-06", termination: str | None = None, department: str = "Engineering",
            reports_to: str | None = None, employment_status: str | None = None) -> dict[str, Any]:
        row = {"employeeNumber": number, "firstName": first, "lastName": last, "preferredName": None,
               "email": email, "status": status,
               "employmentStatus": employment_status or ("Terminated" if termination else "Full-Time"),
               "hireDate": hire, "originalHireDate": hire, "terminationDate": termination,
               "jobInformationDepartment": department, "jobInformationJobTitle": "Engineer",
               "jobInformationReportsTo": reports_to, "jobInformationLocation": "Remote",
               "jobInformationDivision": None, "workPhone": None}
        self.employees.append(row)
        return row


def _authorised(request: Request, tenant: BambooTenant) -> bool:
    header = request.header("Authorization") or ""
    if not header.startswith("Basic "):
        return False
    try:
        user, _, _password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return user == tenant.api_key


def register(fake: FakeApi, tenant: BambooTenant) -> FakeApi:
    """Serve `tenant` on `fake` at the real request paths."""

    def dataset_data(request: Request) -> Reply:
        if not _authorised(request, tenant):
            return problem(401, "Unauthorized", "The API key is missing or invalid.")
        name = request.params["dataset"]
        if name not in tenant.datasets:
            return problem(404, "Not Found", f"Dataset '{name}' does not exist or is not accessible.")
        try:
            body = request.json()
        except ValueError:
            return problem(400, "Bad Request", "The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("fields"), list) or not body["fields"]:
            return problem(400, "Bad Request", "The fields list is required.", "MISSING_FIELDS")
        unknown = [f for f in body["fields"] if f not in EMPLOYEE_FIELDS]
        if unknown:
            return problem(400, "Bad Request", f"Invalid field(s) requested: {', '.join(map(str, unknown))}.",
                           "INVALID_FIELDS")
        page, size = body.get("page", 1), body.get("pageSize", DEFAULT_PAGE_SIZE)
        if not isinstance(page, int) or not isinstance(size, int) or page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            return problem(422, "Unprocessable Entity", f"page must be >= 1 and pageSize between 1 and "
                           f"{MAX_PAGE_SIZE}.", "INVALID_PAGINATION")
        total = len(tenant.employees)
        pages = math.ceil(total / size)
        rows = tenant.employees[(page - 1) * size: page * size]
        links: dict[str, str] = {}
        path = request.path
        if page < pages:
            links["next"] = request.url_for(path, [("page", page + 1), ("pageSize", size)])
        if 1 < page <= pages + 1:
            links["prev"] = request.url_for(path, [("page", page - 1), ("pageSize", size)])
        data = [{"fields": {f: (None if row.get(f) is None else str(row[f])) for f in body["fields"]}}
                for row in rows]
        return Reply(200, {"data": data, "links": links,
                           "meta": {"page": page, "pageSize": size, "totalPages": pages, "totalItems": total}})

    fake.add("POST", "/api/v2/datasets/{dataset}/data", dataset_data)
    return fake


def start_bamboohr(tenant: BambooTenant, **kwargs: Any) -> FakeApi:
    """A started fake serving `tenant` (stop it with `.stop()`)."""
    return register(FakeApi("bamboohr", **kwargs), tenant).start()
