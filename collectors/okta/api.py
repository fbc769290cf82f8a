"""Talking to one Okta org: the shared HTTP client with Okta's auth scheme, and errors as reasons."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from agent.http import HttpClient, HttpError
from collectors.base import CollectorContext

# Okta error codes -> the reason words collection errors are classified by.
_REASONS = {"E0000011": "denied", "E0000006": "denied", "E0000005": "denied", "E0000015": "not_enabled",
            "E0000047": "throttled", "E0000009": "unavailable", "E0000007": "not_enabled"}
# Okta allows 200 users per page, 1000 log events, 200 apps, 500 app users, 200 app groups, 1000 members.
USERS_PAGE, LOGS_PAGE, APPS_PAGE, APP_USERS_PAGE, APP_GROUPS_PAGE, MEMBERS_PAGE = 200, 1000, 200, 500, 200, 1000
# Below 10% of an endpoint family's per-minute budget, calls are spread out until the reset.
PACE_BELOW = 0.1


class MissingSetup(Exception):
    """The source cannot run at all (no org URL, no token)."""


def reason_of(exc: HttpError) -> str:
    """The reason class of a failed request: denied, not_enabled, throttled, unavailable or invalid_response."""
    if exc.status is None or exc.status >= 500:
        return "unavailable"
    if exc.provider_code in _REASONS:
        return _REASONS[exc.provider_code]
    if exc.status in (401, 403):
        return "denied"
    if exc.status == 429:
        return "throttled"
    if exc.status == 404:
        return "not_enabled"
    return "invalid_response"


def describe(exc: Exception) -> str:
    """`<reason>: <what failed> (<Okta errorCode>)`, the message of a collection error."""
    if isinstance(exc, HttpError):
        code = f" ({exc.provider_code})" if exc.provider_code else ""
        return f"{reason_of(exc)}: {exc}{code}"
    if isinstance(exc, MissingSetup):
        return f"denied: {exc}"
    return f"invalid_response: {type(exc).__name__}: {exc}"


def client(ctx: CollectorContext, auth_scheme: str) -> HttpClient:
    """The shared client for the org in `endpoint`, sending `SSWS <token>` or `Bearer <token>`."""
    src = ctx.source
    if not src.endpoint:
        raise MissingSetup("no `endpoint` configured: set it to the Okta org URL, e.g. https://acme.okta.com")
    if not src.token_env:
        raise MissingSetup("no `token_env` configured: name the environment variable holding the API token")
    token_env = src.token_env
    if not (ctx.secret_env(token_env) or os.environ.get(token_env)):
        raise MissingSetup(f"environment variable {token_env} is empty or not set")
    scheme = "Bearer" if auth_scheme == "bearer" else "SSWS"

    def auth() -> dict[str, str]:
        token = ctx.secret_env(token_env) or os.environ.get(token_env) or ""
        return {"Authorization": f"{scheme} {token}"}

    return ctx.http(auth=auth, headers={"Accept": "application/json"}, pace_below=PACE_BELOW)


def pages(http: HttpClient, path: str, params: dict[str, Any] | None, size: int) -> Iterator[Any]:
    """Every item of a `Link: rel="next"` paged Okta list."""
    return http.paginate(path, params=params, style="link", page_size=("limit", size))
