"""Failures become one line: a reason word, the provider's code and message, where it happened."""

from __future__ import annotations

import pytest

from agent.http import ForeignOrigin, HttpError, ReadOnlyViolation
from collectors.azure.auth import CredentialError
from collectors.azure.errors import describe, reason

URL = "https://management.azure.com/subscriptions/s/providers/Microsoft.Security/pricings?api-version=2024-01-01"


@pytest.mark.parametrize(("status", "code", "message", "expected"), [
    (403, "AuthorizationFailed", "The client does not have authorization", "denied"),
    (403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "denied"),
    (403, "Forbidden", "Access denied", "denied"),
    (403, "Forbidden", "Tenant does not have a SKU required for this feature (Entra ID P1 license).", "licence"),
    (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
     "Neither tenant is B2C or tenant doesn't have premium license", "licence"),
    (400, "AadPremiumLicenseRequired", "The tenant needs an AAD Premium 2 license.", "licence"),
    (409, "MissingSubscriptionRegistration", "The subscription is not registered to use namespace", "not_enabled"),
    (404, "SubscriptionNotFound", "The subscription 'x' could not be found.", "not_found"),
    (429, "TooManyRequests", "throttled", "throttled"),
    (503, "ServiceUnavailable", "try later", "unavailable"),
    (None, None, "ConnectionError", "unavailable"),
    (400, "InvalidFilter", "bad filter", "invalid_response"),
])
def test_reasons(status: int | None, code: str | None, message: str, expected: str) -> None:
    exc = HttpError("GET", URL, status, message, code)
    assert reason(exc) == expected
    text = describe(exc)
    assert text.startswith(f"{expected}: ")
    assert "(GET /subscriptions/s/providers/Microsoft.Security/pricings)" in text  # no host, no query
    if code:
        assert f": {code}: " in text


def test_other_failures() -> None:
    assert describe(CredentialError("no credential")).startswith("credentials: CredentialError: no credential")
    assert reason(ForeignOrigin("http://elsewhere/x", ["http://127.0.0.1:1"])) == "invalid_response"
    assert reason(ReadOnlyViolation("POST", URL)) == "invalid_response"
    assert reason(KeyError("value")) == "invalid_response"
    assert "P1 or P2" in describe(HttpError("GET", URL, 403, "premium license", "Forbidden"))
