"""Microsoft Graph v1.0 routes for Entra ID: users, authentication methods and their registration report,
Conditional Access, policies, directory roles with PIM schedules, applications, service principals,
sign-in and audit logs, and `$batch` — with Graph's paging (`$top`, `@odata.nextLink`), `$select`,
`$expand=principal`, the `$filter` forms the logs take, licence-gated features and Graph error bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent.fakeapi.azure.tenant import GRAPH_AUDIENCE, AzureTenant
from agent.fakeapi.errors import graph_error
from agent.fakeapi.paging import next_link_page
from agent.fakeapi.server import FakeApi, Reply, Request

BASE = "/v1.0"
USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                "preferredLanguage", "surname", "userPrincipalName", "id")
NO_PREMIUM = ("Authentication_RequestFromNonPremiumTenantOrB2CTenant",
              "Neither tenant is B2C or tenant doesn't have premium license")
BATCH_MAX = 20
_LOG_FILTER = re.compile(r"^(?P<field>createdDateTime|activityDateTime) ge (?P<start>\S+)"
                         r"(?: and (?P=field) le (?P<end>\S+))?(?: and category eq '(?P<category>\w+)')?$")


def _context(request: Request) -> str:
    return "https://graph.microsoft.com/v1.0/$metadata#" + request.path[len(BASE) + 1:].replace("/", ".")


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class GraphRoutes:
    def __init__(self, tenant: AzureTenant, fake: FakeApi):
        self.tenant = tenant
        self.fake = fake

    def register(self, fake: FakeApi) -> None:
        t = self.tenant
        routes: dict[str, Callable[[Request], Reply]] = {
            "/users": self.users,
            "/users/{user}/authentication/methods": self.user_methods,
            "/reports/authenticationMethods/userRegistrationDetails": self.premium(
                lambda r: self.listing(r, t.registrations)),
            "/identity/conditionalAccess/policies": self.premium(lambda r: self.listing(r, t.ca_policies)),
            "/policies/authorizationPolicy": lambda r: Reply(200, t.authorization_policy),
            "/policies/identitySecurityDefaultsEnforcementPolicy": lambda r: Reply(200, t.security_defaults),
            "/organization": lambda r: self.listing(r, [t.organization]),
            "/roleManagement/directory/roleDefinitions": lambda r: self.listing(r, t.role_definitions),
            "/roleManagement/directory/roleAssignments": lambda r: self.listing(r, t.role_assignments, expand=True),
            "/roleManagement/directory/roleEligibilitySchedules": self.premium(
                lambda r: self.listing(r, t.eligibilities, expand=True), level="P2"),
            "/roleManagement/directory/roleAssignmentScheduleInstances": self.premium(
                lambda r: self.listing(r, t.schedule_instances, expand=True), level="P2"),
            "/applications": lambda r: self.listing(r, t.applications),
            "/servicePrincipals": lambda r: self.listing(r, t.service_principals),
            "/auditLogs/signIns": self.premium(lambda r: self.log(r, t.sign_ins, "createdDateTime")),
            "/auditLogs/directoryAudits": lambda r: self.log(r, t.directory_audits, "activityDateTime"),
        }
        for path, handler in routes.items():
            fake.add("GET", BASE + path, self.guarded(handler))
        fake.add("POST", BASE + "/$batch", self.guarded(self.batch))

    # -- gatekeeping -----------------------------------------------------------------------------
    def guarded(self, handler: Callable[[Request], Reply]) -> Callable[[Request], Reply]:
        def run(request: Request) -> Reply:
            problem = self.tenant.check_token(request.header("Authorization"), frozenset({GRAPH_AUDIENCE}))
            if problem == "missing":
                return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            if problem == "expired":
                return graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is "
                                   "expired.")
            if problem:
                return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid "
                                   "audience.")
            return handler(request)
        return run

    def premium(self, handler: Callable[[Request], Reply], level: str = "P1") -> Callable[[Request], Reply]:
        def run(request: Request) -> Reply:
            if not self.tenant.premium(level):
                if level == "P2":
                    return graph_error(400, "AadPremiumLicenseRequired", "The tenant needs an AAD Premium 2 license.")
                return graph_error(403, *NO_PREMIUM)
            return handler(request)
        return run

    # -- lists -----------------------------------------------------------------------------------
    def _cap(self, maximum: int) -> int:
        return min(maximum, self.tenant.graph_page_cap or maximum)

    def listing(self, request: Request, items: list[dict[str, Any]], *, expand: bool = False,
                default_fields: tuple[str, ...] | None = None, maximum: int = 999) -> Reply:
        fields = [f.strip() for f in (request.arg("$select") or "").split(",") if f.strip()]
        expansion = request.arg("$expand")
        if expansion and not (expand and expansion == "principal"):
            return graph_error(400, "BadRequest", f"Could not find a property named '{expansion}' for expansion.")
        out = []
        for item in items:
            shaped = {k: v for k, v in item.items() if k in fields} if fields else (
                {k: v for k, v in item.items() if k in default_fields} if default_fields else dict(item))
            if expansion:
                shaped["principal"] = self._principal(item.get("principalId"))
            out.append(shaped)
        return next_link_page(request, out, page_size=self._cap(maximum), link_key="@odata.nextLink",
                              extra={"@odata.context": _context(request)})

    def _principal(self, principal_id: str | None) -> dict[str, Any] | None:
        for user in self.tenant.users:
            if user["id"] == principal_id:
                return {"@odata.type": "#microsoft.graph.user", "id": user["id"], "displayName": user["displayName"],
                        "userPrincipalName": user["userPrincipalName"], "userType": user["userType"],
                        "accountEnabled": user["accountEnabled"], "mail": user["mail"]}
        for sp in self.tenant.service_principals:
            if sp["id"] == principal_id:
                return {"@odata.type": "#microsoft.graph.servicePrincipal", "id": sp["id"],
                        "displayName": sp["displayName"], "appId": sp["appId"],
                        "servicePrincipalType": sp["servicePrincipalType"]}
        return None

    def users(self, request: Request) -> Reply:
        fields = [f.strip() for f in (request.arg("$select") or "").split(",") if f.strip()]
        if "signInActivity" in fields and not self.tenant.premium("P1"):
            return graph_error(403, *NO_PREMIUM)
        return self.listing(request, self.tenant.users, default_fields=USER_DEFAULT)

    def user_methods(self, request: Request) -> Reply:
        methods = self.tenant.methods.get(request.params["user"])
        if methods is None:
            return graph_error(404, "Request_ResourceNotFound", f"Resource '{request.params['user']}' does not exist "
                               "or one of its queried reference-property objects are not present.")
        return self.listing(request, methods)

    def log(self, request: Request, items: list[dict[str, Any]], field: str) -> Reply:
        text = (request.arg("$filter") or "").strip()
        if text:
            match = _LOG_FILTER.match(text)
            if not match or match["field"] != field:
                return graph_error(400, "BadRequest", f"Invalid filter clause: {text}")
            try:
                start = _time(match["start"])
                end = _time(match["end"]) if match["end"] else None
            except ValueError:
                return graph_error(400, "BadRequest", f"Invalid filter clause: {text}")
            items = [i for i in items if _time(i[field]) >= start and (end is None or _time(i[field]) <= end)
                     and (match["category"] is None or i.get("category") == match["category"])]
        ordered = sorted(items, key=lambda i: i[field], reverse=True)
        return next_link_page(request, ordered, page_size=self._cap(1000), link_key="@odata.nextLink",
                              extra={"@odata.context": _context(request)})

    # -- $batch ----------------------------------------------------------------------------------
    def batch(self, request: Request) -> Reply:
        try:
            body = request.json()
            requests = body["requests"]
            assert isinstance(requests, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return graph_error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > BATCH_MAX:
            return graph_error(400, "BadRequest", f"Number of batch requests cannot exceed {BATCH_MAX}.")
        responses = []
        for item in requests:
            method = str(item.get("method", "")).upper()
            url = str(item.get("url", ""))
            parts = urlsplit(url if url.startswith("/") else "/" + url)
            inner = Request(method, BASE + parts.path, parse_qs(parts.query, keep_blank_values=True),
                            request.headers, b"", request.base_url)
            reply = self.fake.dispatch(inner) if method == "GET" else graph_error(
                405, "MethodNotAllowed", "Only GET is served by this fake.")
            payload = json.loads(reply.payload() or b"null")
            responses.append({"id": item.get("id"), "status": reply.status,
                              "headers": {"Content-Type": "application/json", **reply.headers}, "body": payload})
        return Reply(200, {"responses": responses})
