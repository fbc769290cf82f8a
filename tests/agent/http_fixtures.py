"""Response builders shaped like the real provider APIs, for tests/agent/test_http.py.

Bodies and headers follow what GitHub, Okta, Azure Resource Manager, Microsoft Graph and
Google APIs actually send, so the client is tested against the shapes it will meet.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from email.utils import formatdate
from typing import Any

from werkzeug import Request, Response

# --- error bodies, as the providers send them ----------------------------------------

GITHUB_NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest/orgs/members#list-organization-members",
    "status": "404",
}
GITHUB_INTEGRATION_403 = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest/orgs/members#list-organization-members",
    "status": "403",
}
GITHUB_SECONDARY_RATE_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID ABCD:1234:5678.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    "status": "403",
}
GITHUB_PRIMARY_RATE_LIMIT = {
    "message": "API rate limit exceeded for installation ID 4242.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    "status": "403",
}
OKTA_INVALID_TOKEN = {
    "errorCode": "E0000011",
    "errorSummary": "Invalid token provided",
    "errorLink": "E0000011",
    "errorId": "oaeXx0bDbUaQcmkSxYhYd1MbA",
    "errorCauses": [],
}
OKTA_FORBIDDEN = {
    "errorCode": "E0000006",
    "errorSummary": "You do not have permission to perform the requested action",
    "errorLink": "E0000006",
    "errorId": "oae1nH2T9yFSZWtcuDIUg0ZlQ",
    "errorCauses": [],
}
OKTA_RATE_LIMIT = {
    "errorCode": "E0000047",
    "errorSummary": "API call exceeded rate limit due to too many requests.",
    "errorLink": "E0000047",
    "errorId": "oaeYk8Yd9mQRp2vMFKK3bZKwA",
    "errorCauses": [],
}
AZURE_AUTHORIZATION_FAILED = {
    "error": {
        "code": "AuthorizationFailed",
        "message": "The client '6f1c0d6e-1c1e-4a0b-9a57-4f0c2b8f9d11' with object id "
        "'6f1c0d6e-1c1e-4a0b-9a57-4f0c2b8f9d11' does not have authorization to perform action "
        "'Microsoft.Compute/virtualMachines/read' over scope '/subscriptions/0000' or the scope is invalid.",
    }
}
GRAPH_REQUEST_DENIED = {
    "error": {
        "code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation.",
        "innerError": {
            "date": "2024-05-02T10:11:12",
            "request-id": "0f6f5d42-3a1b-4ed5-9b5b-1f3c8c5d7e11",
            "client-request-id": "0f6f5d42-3a1b-4ed5-9b5b-1f3c8c5d7e11",
        },
    }
}
GOOGLE_PERMISSION_DENIED = {
    "error": {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
    }
}
GOOGLE_UNAVAILABLE = {
    "error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}
}

HeaderList = Iterable[tuple[str, str]]


def json_response(body: Any, status: int = 200, headers: HeaderList = ()) -> Response:
    """A JSON response; ``headers`` as pairs so a header (Okta's Link) can repeat."""
    return Response(json.dumps(body), status=status, headers=list(headers), content_type="application/json")


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def github_links(url: str, page: int, last: int) -> list[tuple[str, str]]:
    """The Link header GitHub sends on page ``page`` of ``last`` (``?per_page=2&page=N``)."""
    rels = []
    if page < last:
        rels += [(page + 1, "next"), (last, "last")]
    if page > 1:
        rels = [(page - 1, "prev"), (1, "first"), *rels]
    value = ", ".join(f'<{url}?per_page=2&page={n}>; rel="{rel}"' for n, rel in rels)
    return [("Link", value)] if value else []


class InFlightCounter:
    """A slow handler that records how many requests were being served at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.current = 0
        self.peak = 0
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.current += 1
            self.total += 1
            self.peak = max(self.peak, self.current)
        try:
            time.sleep(self.delay)
        finally:
            with self._lock:
                self.current -= 1
        return json_response({"ok": True})


class ArrivalRecorder:
    """A handler that records when each request arrived (server clock)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.arrivals.append(time.monotonic())
        return json_response([])
