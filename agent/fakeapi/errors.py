"""Error bodies and throttling replies exactly as each provider sends them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any

from agent.fakeapi.server import RateState, Reply, Request

_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def github_error(status: int, message: str, doc: str = "https://docs.github.com/rest",
                 headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"message": message, "documentation_url": doc, "status": str(status)}, dict(headers or {}))


def okta_error(status: int, code: str, summary: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"errorCode": code, "errorSummary": summary, "errorLink": code,
                          "errorId": "oae" + uuid.uuid4().hex[:22], "errorCauses": []}, dict(headers or {}))


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, dict(headers or {}))


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    rid = str(uuid.uuid4())
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": rid, "client-request-id": rid}
    return Reply(status, {"error": {"code": code, "message": message, "innerError": inner}}, dict(headers or {}))


def google_error(status: int, message: str, *, reason: str | None = None, domain: str = "global",
                 status_text: str | None = None, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> Reply:
    """The Google JSON error: `error.code`, `error.message`, `error.status`, legacy `errors[]`, `details`."""
    error: dict[str, Any] = {"code": status, "message": message,
                             "status": status_text or _GOOGLE_STATUS.get(status, "UNKNOWN")}
    if reason:
        error["errors"] = [{"message": message, "domain": domain, "reason": reason}]
    if details:
        error["details"] = details
    return Reply(status, {"error": error}, dict(headers or {}))


def google_json_api_error(status: int, message: str, *, reason: str, domain: str = "global",
                          headers: dict[str, str] | None = None) -> Reply:
    """The older Google JSON APIs (Cloud Storage, Compute Engine): `errors[]` but no `error.status`."""
    return Reply(status, {"error": {"code": status, "message": message,
                                    "errors": [{"message": message, "domain": domain, "reason": reason}]}},
                 dict(headers or {}))


def entra_token_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Reply:
    """Microsoft Entra ID's token endpoint error (OAuth 2.0 `error`/`error_description` plus its own fields).

    `description` starts with the AADSTS code (`"AADSTS7000215: Invalid client secret provided."`);
    Entra appends the trace and correlation ids and the timestamp to it, and repeats the code in
    `error_codes`.
    """
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    digits = description.removeprefix("AADSTS").partition(":")[0]
    codes = [int(digits)] if digits.isdigit() else []
    body = {"error": error,
            "error_description": f"{description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}"
                                 f"\r\nTimestamp: {stamp}",
            "error_codes": codes, "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={codes[0] if codes else ''}"}
    return Reply(status, body, dict(headers or {}))


def google_service_disabled(service: str, project_number: str) -> Reply:
    """403 SERVICE_DISABLED: the API is not enabled in the project (with its ErrorInfo detail)."""
    message = (f"{service} API has not been used in project {project_number} before or it is disabled. "
               f"Enable it by visiting https://console.developers.google.com/apis/api/{service}/overview"
               f"?project={project_number} then retry.")
    return google_error(403, message, reason="accessNotConfigured", domain="usageLimits", details=[
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
         "domain": "googleapis.com", "metadata": {"service": service, "consumer": f"projects/{project_number}"}}])


def retry_after(seconds: float, *, http_date: bool = False) -> dict[str, str]:
    """A `Retry-After` header: whole seconds (rounded up), or an HTTP date."""
    if http_date:
        return {"Retry-After": formatdate(time.time() + seconds, usegmt=True)}
    return {"Retry-After": str(max(0, int(-(-seconds // 1))))}


def too_many_requests(body: Any = None, *, seconds: float | None = 1.0, http_date: bool = False,
                      headers: dict[str, str] | None = None) -> Reply:
    """A 429 with Retry-After in seconds or as an HTTP date; `seconds=None` sends no Retry-After.

    The body is the provider's own, when given (`""` for an empty one).
    """
    hint = retry_after(seconds, http_date=http_date) if seconds is not None else {}
    return Reply(429, body if body is not None else {"message": "Too Many Requests"}, {**hint, **(headers or {})})


def github_rate_limited(seconds: float, request: Request) -> Reply:
    """GitHub's primary rate limit: 403 with `x-ratelimit-remaining: 0` and the reset epoch."""
    reset = int(time.time() + seconds) + 1
    return github_error(403, "API rate limit exceeded for installation ID 4242.",
                        "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                        {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
                         "x-ratelimit-reset": str(reset), "x-ratelimit-resource": "core"})


def github_rate_headers(state: RateState, resource: str = "core") -> dict[str, str]:
    """The `x-ratelimit-*` headers GitHub sends on every answer (a 304 included)."""
    return {"x-ratelimit-limit": str(state.limit), "x-ratelimit-remaining": str(state.remaining),
            "x-ratelimit-used": str(state.used), "x-ratelimit-reset": str(state.reset_epoch),
            "x-ratelimit-resource": resource}


def okta_rate_headers(state: RateState) -> dict[str, str]:
    """The `X-Rate-Limit-*` headers Okta sends on every answer (the reset as epoch seconds)."""
    return {"X-Rate-Limit-Limit": str(state.limit), "X-Rate-Limit-Remaining": str(state.remaining),
            "X-Rate-Limit-Reset": str(state.reset_epoch)}


GITHUB_SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                            "again. If you reach out to GitHub Support for help, please include the request ID "
                            "0C3A:2B4F:1D2E3F:4A5B6C:65F0A1B2.")


def github_secondary_rate_limited(request: Request | None, *, status: int = 403, retry_after_s: float | None = None,
                                  headers: dict[str, str] | None = None) -> Reply:
    """GitHub's secondary rate limit: 403 (or 429), with `retry-after` only sometimes.

    `headers` adds what else GitHub sent (its `x-ratelimit-*` budget, which is not exhausted here).
    """
    hint = retry_after(retry_after_s) if retry_after_s is not None else {}
    return github_error(status, GITHUB_SECONDARY_MESSAGE,
                        "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                        {**hint, **(headers or {})})


def okta_rate_limited(seconds: float, request: Request) -> Reply:
    """Okta: 429 E0000047 with `X-Rate-Limit-*` headers (reset as epoch seconds)."""
    reset = int(time.time() + seconds) + 1
    return okta_error(429, "E0000047", "API call exceeded rate limit due to too many requests.",
                      {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(reset)})


def arm_throttled(seconds: float, request: Request) -> Reply:
    """Azure Resource Manager: 429 TooManyRequests with Retry-After."""
    return arm_error(429, "TooManyRequests", "The request is being throttled as the limit has been reached "
                     "for operation type - Read_ObservationWindow_00:05:00.", retry_after(seconds))


def graph_throttled(seconds: float, request: Request) -> Reply:
    """Microsoft Graph: 429 TooManyRequests with Retry-After."""
    return graph_error(429, "TooManyRequests", "Too many requests.", retry_after(seconds))


def google_exhausted(seconds: float, request: Request) -> Reply:
    """Google: 429 RESOURCE_EXHAUSTED (rateLimitExceeded); Google sends no Retry-After, clients back off."""
    return google_error(429, "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per "
                        "minute' of service.", reason="rateLimitExceeded", status_text="RESOURCE_EXHAUSTED")


def google_user_rate_limited(seconds: float, request: Request) -> Reply:
    """Google's older per-user limit: 403 with `errors[].reason` userRateLimitExceeded (retry with backoff)."""
    return google_error(403, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' "
                        "of service 'admin.googleapis.com'.", reason="userRateLimitExceeded", domain="usageLimits",
                        status_text="PERMISSION_DENIED")
