"""One-line, classified descriptions of what went wrong reading a Google API.

Each message starts with a reason word — `denied`, `not_enabled`, `throttled`, `unavailable`,
`invalid_response` — then the HTTP status, Google's status and reason codes and its message, so a
person can act on it and a later step can count failures by kind. No headers, no tokens.
"""

from __future__ import annotations

import sys

from agent.http import HttpError, ReadOnlyViolation, redact_text
from collectors.gcp.auth import CredentialsError

# ErrorInfo reasons / legacy `errors[].reason` values meaning "this API cannot be used in the project".
NOT_ENABLED = frozenset({"SERVICE_DISABLED", "accessNotConfigured", "BILLING_DISABLED", "billingNotEnabled",
                         "API_DISABLED"})


def _word(status: int | None, reason: str | None, message: str = "") -> str:
    if reason in NOT_ENABLED or "has not been used in project" in message or "it is disabled" in message:
        return "not_enabled"
    if status in (401, 403):
        return "denied" if reason not in ("rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED") \
            else "throttled"
    if status == 429:
        return "throttled"
    if status is None or status >= 500:
        return "unavailable"
    if status == 404:
        return "unavailable"
    return "invalid_response"  # 400 and other answers the collector cannot use


def is_not_enabled(exc: BaseException) -> bool:
    return classify(exc) == "not_enabled"


def _api_call_error(exc: BaseException) -> bool:
    """A google-api-core call error? (Not imported here: if no client library loaded it, `exc` is none.)"""
    module = sys.modules.get("google.api_core.exceptions")
    return module is not None and isinstance(exc, module.GoogleAPICallError)


def classify(exc: BaseException) -> str:
    if isinstance(exc, HttpError):
        if exc.status is not None and exc.status < 400:
            return "invalid_response"
        return _word(exc.status, exc.provider_reason, exc.provider_message)
    if _api_call_error(exc):
        return _word(exc.code if isinstance(exc.code, int) else None, exc.reason, exc.message or "")
    if isinstance(exc, CredentialsError):
        return "denied"
    if isinstance(exc, ReadOnlyViolation):
        return "denied"  # refused by Annexa itself before sending: never expected
    if isinstance(exc, ValueError | KeyError | TypeError):
        return "invalid_response"
    return "unavailable"


def describe(exc: BaseException, context: str = "") -> str:
    """`<reason word>: <context>: <status> <code> (<reason>): <message>` on one line."""
    word = classify(exc)
    if isinstance(exc, HttpError):
        status = "connection failed" if exc.status is None else str(exc.status)
        code = exc.provider_code if exc.provider_code != str(exc.status) else ""  # older APIs send no status
        codes = " ".join(c for c in (code, f"({exc.provider_reason})" if exc.provider_reason else "") if c)
        detail = f"{exc.method} {exc.url} -> {status} {codes}".rstrip() + f": {exc.provider_message}"
    elif _api_call_error(exc):
        status_name = getattr(exc.grpc_status_code, "name", "") or type(exc).__name__
        reason = f" ({exc.reason})" if exc.reason else ""
        detail = f"{exc.code} {status_name}{reason}: {exc.message}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    text = " ".join(redact_text(detail).split())
    if len(text) > 600:
        text = text[:599] + "…"
    return f"{word}: {context}: {text}" if context else f"{word}: {text}"
