"""The Google Workspace collector: users (2-Step Verification, suspension, last login, admin status),
admin roles and their assignments, and the admin and login activity reports.

Read-only, through the shared HTTP client against the Admin SDK (`endpoint`, default
https://admin.googleapis.com): `nextPageToken` paging, 429 RESOURCE_EXHAUSTED and 403
rateLimitExceeded / userRateLimitExceeded backed off exponentially, Google's error bodies turned into
collection errors with their status and reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from agent.http import HttpError
from agent.identity import IDENTITY_TYPE
from agent.model import Resource
from collectors.base import Collector, CollectorOptions
from collectors.google_workspace import auth, directory, reports

DEFAULT_ENDPOINT = "https://admin.googleapis.com"
# Google asks clients to back off exponentially from about a second on rate-limit 403s.
RATE_LIMIT_403_FLOOR = 1.0


class WorkspaceOptions(CollectorOptions):
    customer: str = Field(default="my_customer", description="customer id, or my_customer for the admin's own")
    domain: str | None = Field(default=None, description="list only this domain's users")
    subject: str | None = Field(default=None, description="administrator to impersonate (domain-wide delegation)")
    credentials_file: str | None = Field(default=None, description="path to the service account key file")
    reports: bool = Field(default=True, description="read the admin and login activity reports")
    log_lookback_days: int = Field(default=30, ge=1, le=180, description="activity days read on the first run")


def reason_of(exc: HttpError) -> str:
    if exc.status is None or exc.status >= 500:
        return "unavailable"
    if exc.status == 429 or exc.provider_code == "RESOURCE_EXHAUSTED":
        return "throttled"
    if "has not been used in project" in exc.provider_message or exc.status == 404:
        return "not_enabled"
    if exc.status in (401, 403):
        return "denied"
    return "invalid_response"


def describe(exc: Exception) -> str:
    """`<reason>: <what failed> (<Google status>)`."""
    if isinstance(exc, HttpError):
        code = f" ({exc.provider_code})" if exc.provider_code else ""
        return f"{reason_of(exc)}: {exc}{code}"
    if isinstance(exc, auth.MissingSetup):
        return f"denied: {exc}"
    if type(exc).__name__ == "RefreshError":
        return auth.describe_refresh_error(exc)
    if type(exc).__name__ == "TransportError":
        return f"unavailable: the token endpoint could not be reached: {exc}"
    return f"invalid_response: {type(exc).__name__}: {exc}"


class GoogleWorkspaceCollector(Collector):
    type = "google_workspace"
    resource_types: ClassVar[dict[str, str]] = {
        "google_workspace.user": "a Workspace user with 2-Step Verification, suspension, last login and admin roles",
        "google_workspace.role": "an admin role (system or custom) with its privileges",
        "google_workspace.role_assignment": "an admin role assigned to a user or group",
        "google_workspace.customer": "the customer's super-admin population and admin roles held by groups",
        reports.EVENT: "an admin or login activity record that matters for access control",
        reports.ACTIVITY: "admin or login activity coverage and its security events, carried across runs",
        IDENTITY_TYPE: "a Workspace user in the shared identity shape",
    }
    Options = WorkspaceOptions

    def collect(self) -> Iterator[Resource]:
        opts: WorkspaceOptions = self.ctx.options
        src = self.ctx.source
        try:
            header = auth.token_header(src.token_env, opts.credentials_file, opts.subject, self.ctx.secret_env)
        except Exception as exc:
            for rtype in self.resource_types:
                self.ctx.report_error(rtype, describe(exc))
            return
        base = (src.endpoint or DEFAULT_ENDPOINT).rstrip("/")
        http = self.ctx.http(base_url=base, auth=header, rate_limit_403_floor=RATE_LIMIT_403_FLOOR)
        with http:
            self.ctx.progress.update("reading users and admin roles")
            d = directory.read(http, opts.customer, opts.domain, describe)
            customer_id = next((str(u["customerId"]) for u in d.users if u.get("customerId")), None)
            tenant = customer_id or opts.domain or opts.customer
            yield from self._directory(d, base, tenant, customer_id or opts.customer, opts.domain)
            if opts.reports:
                self.ctx.progress.update("reading admin and login activity")
                yield from reports.collect(http, base, tenant, None if opts.customer == "my_customer" else
                                           opts.customer, self.ctx.cursor, opts.log_lookback_days,
                                           self.ctx.report_error, describe)

    def _directory(self, d: directory.Directory, base: str, tenant: str, customer: str, domain: str | None
                   ) -> Iterator[Resource]:
        if d.users_error:
            for rtype in ("google_workspace.user", IDENTITY_TYPE, "google_workspace.customer"):
                self.ctx.report_error(rtype, d.users_error)
        if d.roles_error:
            for rtype in ("google_workspace.role", "google_workspace.role_assignment"):
                self.ctx.report_error(rtype, d.roles_error)
        for user in d.users:
            url = f"{base}/admin/directory/v1/users/{user['id']}"
            data = directory.annotate_user(user, d)
            yield Resource("google_workspace.user", url, str(user.get("primaryEmail")), data, account=tenant)
            yield directory.identity(data, url).to_resource()
        roles_base = f"{base}/admin/directory/v1/customer/{customer}"
        for role_id, role in d.roles.items():
            yield Resource("google_workspace.role", f"{roles_base}/roles/{role_id}",
                           str(role.get("roleDescription") or role.get("roleName")), role, account=tenant)
        for assignment in d.assignments:
            data = directory.annotate_assignment(assignment, d)
            name = f"{data['annexa']['roleName']} to {data['annexa']['assignee'] or assignment.get('assignedTo')}"
            yield Resource("google_workspace.role_assignment",
                           f"{roles_base}/roleassignments/{assignment.get('roleAssignmentId')}", name, data,
                           account=tenant)
        if not d.users_error:
            yield Resource("google_workspace.customer", f"{base}/admin/directory/v1/customers/{customer}",
                           f"Workspace customer {tenant}", directory.customer_summary(d, customer, domain),
                           account=tenant)
