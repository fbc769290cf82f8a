"""One line per failure: a reason word, the provider's error code and message.

Reasons: `denied` (RBAC or Graph permission missing), `licence` (the tenant's Entra ID edition does
not include the feature), `not_enabled` (a resource provider not registered in the subscription),
`not_found`, `throttled`, `unavailable` (5xx, connection), `invalid_response` (a body or link we
cannot trust), `credentials` (no token could be obtained).
"""

from __future__ import annotations

import re

from agent.http import ForeignOrigin, HttpError, ReadOnlyViolation
from collectors.azure.auth import CredentialError

LICENCE_CODES = frozenset({"authentication_requestfromnonpremiumtenantorb2ctenant", "aadpremiumlicenserequired"})
NOT_ENABLED_CODES = frozenset({"missingsubscriptionregistration", "subscriptionnotregistered",
                               "featurenotenabled", "resourceproviderneedsregistration"})
DENIED_CODES = frozenset({"authorizationfailed", "authorization_requestdenied", "forbidden", "accessdenied",
                          "linkedauthorizationfailed", "insufficientprivileges"})
NOT_FOUND_CODES = frozenset({"subscriptionnotfound", "resourcenotfound", "resourcegroupnotfound",
                             "parentresourcenotfound", "request_resourcenotfound"})
_LICENCE_WORDS = re.compile(r"premium|licen[cs]e|\bP[12]\b|\bSKU\b", re.I)


def reason(exc: BaseException) -> str:
    """The reason word for a failure (see the module docstring)."""
    if isinstance(exc, CredentialError):
        return "credentials"
    if isinstance(exc, ForeignOrigin | ReadOnlyViolation):
        return "invalid_response"
    if not isinstance(exc, HttpError):
        return "invalid_response" if isinstance(exc, ValueError | KeyError | TypeError) else "unavailable"
    code = (exc.provider_code or "").lower()
    if code in LICENCE_CODES or (exc.status in (400, 403) and _LICENCE_WORDS.search(exc.provider_message or "")):
        return "licence"
    if code in NOT_ENABLED_CODES:
        return "not_enabled"
    if exc.status == 429:
        return "throttled"
    if exc.status is None or exc.status >= 500:
        return "unavailable"
    if code in DENIED_CODES or exc.status in (401, 403):
        return "denied"
    if code in NOT_FOUND_CODES or exc.status == 404:
        return "not_found"
    return "invalid_response"


def describe(exc: BaseException) -> str:
    """`<reason>: <code>: <message> (<METHOD> <path>)`, secrets already redacted by the HTTP client."""
    why = reason(exc)
    if isinstance(exc, HttpError):
        code = exc.provider_code or (f"HTTP {exc.status}" if exc.status else "connection failed")
        message = " ".join((exc.provider_message or exc.reason or "").split())[:300]
        where = exc.url.split("?", 1)[0]
        if "://" in where:
            where = "/" + where.split("://", 1)[1].split("/", 1)[-1]
        hint = " (this needs Microsoft Entra ID P1 or P2)" if why == "licence" else ""
        return f"{why}: {code}: {message}{hint} ({exc.method} {where})"
    return f"{why}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
