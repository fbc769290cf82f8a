"""The Admin SDK read paths and Google's OAuth 2.0 token endpoint, answered from a `WorkspaceTenant`.

Errors are Google's own bodies: 401 UNAUTHENTICATED (`authError`) for a missing or unknown token, 403
`insufficientPermissions` (ACCESS_TOKEN_SCOPE_INSUFFICIENT) when the token lacks the API's scope,
403 `forbidden` ("Not Authorized to access this resource/api") for a non-admin or a refused path,
400 `badRequest` for a missing `customer`/`domain` or an unknown application name. The token
endpoint answers RFC 6749 errors (`invalid_grant`, `unauthorized_client`).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from agent.fakeapi.errors import google_error
from agent.fakeapi.google_workspace import SCOPE, WorkspaceTenant, etag
from agent.fakeapi.paging import page_token_page
from agent.fakeapi.server import FakeApi, Reply, Request

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The audience Google requires in a service account's assertion, whatever URL the request went to.
TOKEN_AUDIENCES = ["https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token"]
USERS_SCOPES = (f"{SCOPE}admin.directory.user", f"{SCOPE}admin.directory.user.readonly")
ROLES_SCOPES = (f"{SCOPE}admin.directory.rolemanagement", f"{SCOPE}admin.directory.rolemanagement.readonly")
REPORTS_SCOPES = (f"{SCOPE}admin.reports.audit.readonly",)
APPLICATIONS = frozenset({"access_transparency", "admin", "calendar", "chat", "drive", "gcp", "gplus", "groups",
                          "groups_enterprise", "jamboard", "login", "meet", "mobile", "rules", "saml", "token",
                          "user_accounts", "context_aware_access", "chrome", "data_studio", "keep"})
Handler = Callable[[Request], Reply]


def _unauthenticated() -> Reply:
    return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                             "login cookie or other valid authentication credential.", reason="authError",
                        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})


def _forbidden() -> Reply:
    return google_error(403, "Not Authorized to access this resource/api", reason="forbidden")


def _insufficient_scope() -> Reply:
    return google_error(403, "Request had insufficient authentication scopes.", reason="insufficientPermissions",
                        details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                  "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                                  "metadata": {"service": "admin.googleapis.com"}}])


def _bad_request(message: str = "Bad Request") -> Reply:
    return google_error(400, message, reason="badRequest")


def register(api: FakeApi, t: WorkspaceTenant) -> None:
    def guard(scopes: tuple[str, ...], handler: Handler) -> Handler:
        def wrapped(req: Request) -> Reply:
            scheme, _, token = (req.header("Authorization") or "").partition(" ")
            grant = _grant(t, token) if scheme.lower() == "bearer" else None
            if grant is None:
                return _unauthenticated()
            if not set(grant["scopes"]) & set(scopes):
                return _insufficient_scope()
            subject = t.user(grant["subject"]) if grant.get("subject") else None
            if grant.get("subject") and not (subject and (subject["isAdmin"] or subject["isDelegatedAdmin"])):
                return _forbidden()
            if any(re.search(pattern, req.path) for pattern in t.forbidden):
                return _forbidden()
            return handler(req)
        return wrapped

    api.add("POST", "/token", lambda r: _token(t, r))
    api.add("GET", "/admin/directory/v1/users", guard(USERS_SCOPES, lambda r: _users(t, r)))
    api.add("GET", "/admin/directory/v1/customer/{customer}/roles", guard(ROLES_SCOPES, lambda r: _roles(t, r)))
    api.add("GET", "/admin/directory/v1/customer/{customer}/roleassignments",
            guard(ROLES_SCOPES, lambda r: _assignments(t, r)))
    api.add("GET", "/admin/reports/v1/activity/users/{user}/applications/{app}",
            guard(REPORTS_SCOPES, lambda r: _activities(t, r)))
    api.set_not_found(lambda r: google_error(404, f"Method not found: {r.path}", reason="notFound"))


def _grant(t: WorkspaceTenant, token: str) -> dict[str, Any] | None:
    if token in t.static_tokens:
        return {"scopes": t.static_tokens[token], "subject": None}
    grant = t.issued.get(token)
    if grant is None or grant["expires"] < time.time():
        return None
    return grant


def _token(t: WorkspaceTenant, req: Request) -> Reply:
    """Google's token endpoint for the JWT-bearer grant of a service account (domain-wide delegation)."""
    from google.auth import jwt

    form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
    if form.get("grant_type") != JWT_BEARER or "assertion" not in form:
        return Reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
    try:
        unverified = jwt.decode(form["assertion"], verify=False)
    except ValueError:
        return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT."})
    issuer = str(unverified.get("iss", ""))
    key = t.service_accounts.get(issuer)
    if key is None:
        return Reply(401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
    try:
        claims = jwt.decode(form["assertion"], certs=key, audience=TOKEN_AUDIENCES)
    except ValueError as exc:
        text = "Invalid JWT Signature." if "signature" in str(exc).lower() else f"Invalid JWT: {exc}"
        return Reply(400, {"error": "invalid_grant", "error_description": text})
    t.assertions.append(claims)
    scopes = tuple(str(claims.get("scope", "")).split())
    granted = set(t.delegation.get(t.client_ids.get(issuer, ""), ()))
    if not scopes or not set(scopes) <= granted:
        return Reply(401, {"error": "unauthorized_client",
                           "error_description": "Client is unauthorized to retrieve access tokens using this "
                                                "method, or client not authorized for any of the scopes "
                                                "requested."})
    subject = claims.get("sub")
    if not subject or t.user(str(subject)) is None:
        return Reply(400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"})
    token = "ya29.fake-" + secrets.token_urlsafe(24)
    t.issued[token] = {"scopes": scopes, "subject": subject, "expires": time.time() + 3599}
    return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


def _customer_ok(t: WorkspaceTenant, customer: str | None) -> bool:
    return customer in ("my_customer", t.customer_id)


def _users(t: WorkspaceTenant, req: Request) -> Reply:
    customer, domain = req.arg("customer"), req.arg("domain")
    if not customer and not domain:
        return _bad_request()
    if customer and not _customer_ok(t, customer):
        return _bad_request()
    if domain and domain.lower() != t.domain:
        return _forbidden()
    projection = (req.arg("projection") or "basic").lower()
    if projection not in ("basic", "full", "custom"):
        return _bad_request("Invalid value for projection")
    users = t.users
    if projection == "basic":
        users = [{k: v for k, v in u.items() if k != "customSchemas"} for u in users]
    return page_token_page(req, users, items_key="users", default=100, maximum=500,
                           extra={"kind": "admin#directory#users", "etag": etag([u["id"] for u in t.users])})


def _roles(t: WorkspaceTenant, req: Request) -> Reply:
    if not _customer_ok(t, req.params["customer"]):
        return _bad_request()
    return page_token_page(req, t.roles, items_key="items", default=100, maximum=100,
                           extra={"kind": "admin#directory#roles", "etag": etag(t.roles)})


def _assignments(t: WorkspaceTenant, req: Request) -> Reply:
    if not _customer_ok(t, req.params["customer"]):
        return _bad_request()
    items = t.assignments
    if req.arg("roleId"):
        items = [a for a in items if a["roleId"] == req.arg("roleId")]
    if req.arg("userKey"):
        user = t.user(req.arg("userKey") or "")
        items = [a for a in items if user and a["assignedTo"] == user["id"]]
    return page_token_page(req, items, items_key="items", default=100, maximum=200,
                           extra={"kind": "admin#directory#roleAssignments", "etag": etag(items)})


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _activities(t: WorkspaceTenant, req: Request) -> Reply:
    app = req.params["app"]
    if app not in APPLICATIONS:
        return _bad_request()
    try:
        start, end = _time(req.arg("startTime")), _time(req.arg("endTime"))
    except ValueError:
        return google_error(400, "Invalid value for startTime/endTime", reason="invalid")
    items = list(t.activities.get(app, []))
    user = req.params["user"]
    if user != "all":
        items = [i for i in items if i["actor"].get("email", "").lower() == user.lower()]
    if start:
        items = [i for i in items if (_time(i["id"]["time"]) or start) >= start]
    if end:
        items = [i for i in items if (_time(i["id"]["time"]) or end) <= end]
    if req.arg("eventName"):
        items = [i for i in items if any(e["name"] == req.arg("eventName") for e in i["events"])]
    items.sort(key=lambda i: i["id"]["time"], reverse=True)  # newest first, as the Reports API returns them
    return page_token_page(req, items, items_key="items", default=1000, maximum=1000,
                           extra={"kind": "admin#reports#activities", "etag": etag(json.dumps(len(items)))})
