"""Exceptions raised by the HTTP client and the parsing of provider error bodies."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from agent.httpclient.redact import redact_text, redact_url

_SNIPPET = 200


class ReadOnlyViolation(Exception):
    """A write request was refused before anything was sent.

    Annexa only ever reads configuration; a PUT/PATCH/DELETE (or a POST to a URL not
    declared as a read) is a programming error, never something to retry.
    """

    def __init__(self, method: str, url: str) -> None:
        super().__init__(method, url)
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return f"refused {self.method} {self.url}: the HTTP client is read-only"


class ForeignOrigin(Exception):
    """A request to a host the client was not configured for was refused before sending.

    A next-page link or an absolute URL taken from a response could otherwise carry the
    bearer token to another host.
    """

    def __init__(self, url: str, origins: list[str]) -> None:
        super().__init__(url, origins)
        self.url = url
        self.origins = origins

    def __str__(self) -> str:
        return f"refused a request to {self.url}: not one of the API origins {', '.join(self.origins)}"


class HttpError(Exception):
    """A request that failed for good (after any retries).

    Carries no headers and no response object: both can hold credentials (the prepared
    request inside a ``requests.Response`` keeps the Authorization header).
    """

    def __init__(
        self,
        method: str,
        url: str,
        status: int | None,
        provider_message: str,
        provider_code: str | None = None,
        reason: str = "",
        attempts: int = 1,
        retry_after: float | None = None,
        provider_reason: str | None = None,
    ) -> None:
        url = redact_url(url)
        provider_message = redact_text(provider_message)
        # HTTPStatus phrase first: HTTP/2 has no reason phrase and servers differ in case.
        reason = _phrase(status) or reason
        # Positional args (already redacted) so pickling round-trips and args leak nothing.
        super().__init__(method, url, status, provider_message, provider_code, reason, attempts, retry_after,
                         provider_reason)
        self.method = method
        self.url = url
        self.status = status
        self.provider_message = provider_message
        self.provider_code = provider_code
        self.reason = reason
        self.attempts = attempts
        self.retry_after = retry_after
        # A finer machine-readable cause than the code, when the provider gives one (Google:
        # `details[].reason` of the ErrorInfo, else `errors[].reason`; e.g. SERVICE_DISABLED).
        self.provider_reason = provider_reason

    @property
    def is_auth_error(self) -> bool:
        return self.status in (401, 403)

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_connection_error(self) -> bool:
        return self.status is None

    def __str__(self) -> str:
        outcome = "connection failed" if self.status is None else f"{self.status} {self.reason}".rstrip()
        text = f"{self.method} {self.url} -> {outcome}"
        if self.provider_message:
            text += f": {self.provider_message}"
        return text


def _phrase(status: int | None) -> str:
    if status is None:
        return ""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def snippet(text: str, limit: int = _SNIPPET) -> str:
    """First ``limit`` characters of ``text`` on one line."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def parse_provider_error(body: str) -> tuple[str, str | None]:
    """Return ``(message, code)`` from a provider's error body.

    Understands GitHub ``{"message"}``, Okta ``{"errorCode","errorSummary"}``, Azure ARM and
    Microsoft Graph ``{"error":{"code","message"}}``, Google
    ``{"error":{"code","message","status"}}`` (the textual ``status`` is the code) and OAuth
    token endpoints ``{"error","error_description"}`` and RFC 7807 problem details
    ``{"title","detail","code"}`` (BambooHR). Anything else gives the first 200
    characters of the body and no code.
    """
    try:
        data: Any = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        parsed = _parse_json_error(data)
        if parsed is not None:
            return parsed
    return snippet(body), None


def parse_provider_reason(body: str) -> str | None:
    """The machine-readable reason of a Google error body, or None.

    Google APIs explain *why* in two places: the `google.rpc.ErrorInfo` entry of `details`
    (`SERVICE_DISABLED`, `BILLING_DISABLED`, `IAM_PERMISSION_DENIED`, `RATE_LIMIT_EXCEEDED`, ...) and,
    in the older JSON APIs (Storage, Compute), `errors[].reason` (`accessNotConfigured`, `forbidden`,
    `rateLimitExceeded`, ...). The ErrorInfo reason wins when both are present.
    """
    try:
        data: Any = json.loads(body) if body.strip() else None
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo") \
                and isinstance(detail.get("reason"), str) and detail["reason"]:
            return str(detail["reason"])
    for item in error.get("errors") or []:
        if isinstance(item, dict) and isinstance(item.get("reason"), str) and item["reason"]:
            return str(item["reason"])
    return None


def _parse_json_error(data: dict[str, Any]) -> tuple[str, str | None] | None:
    error = data.get("error")
    if isinstance(error, dict):
        message = _text(error.get("message"))
        status = error.get("status")
        code = status if isinstance(status, str) and status else error.get("code")
        return message or snippet(json.dumps(error)), _text(code) or None
    if isinstance(error, str):  # OAuth 2.0 token endpoint (RFC 6749 section 5.2)
        return _text(data.get("error_description")) or error, error
    if "errorSummary" in data or "errorCode" in data:  # Okta
        message = _text(data.get("errorSummary"))
        causes = [
            _text(cause.get("errorSummary"))
            for cause in data.get("errorCauses") or []
            if isinstance(cause, dict) and cause.get("errorSummary")
        ]
        if causes:
            message = f"{message} ({'; '.join(causes)})"
        return message, _text(data.get("errorCode")) or None
    if isinstance(data.get("message"), str):  # GitHub
        return data["message"], None
    if isinstance(data.get("title"), str) or isinstance(data.get("detail"), str):  # RFC 7807 problem details
        title, detail = _text(data.get("title")), _text(data.get("detail"))
        message = f"{title}: {detail}" if title and detail and detail != title else (detail or title)
        return message, _text(data.get("code")) or None
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)
