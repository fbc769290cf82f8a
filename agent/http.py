"""Public entry point of the shared HTTP client: ``from agent.http import HttpClient, HttpError``.

The implementation lives in :mod:`agent.httpclient`; this module only re-exports it.
"""

from agent.httpclient import (
    READ_METHODS,
    HttpClient,
    HttpError,
    HttpStats,
    Link,
    Page,
    ReadOnlyViolation,
    StatsSnapshot,
    TokenBucket,
    parse_link_header,
    parse_provider_error,
    redact_text,
    redact_url,
    retry_after_seconds,
)

__all__ = [
    "READ_METHODS",
    "HttpClient",
    "HttpError",
    "HttpStats",
    "Link",
    "Page",
    "ReadOnlyViolation",
    "StatsSnapshot",
    "TokenBucket",
    "parse_link_header",
    "parse_provider_error",
    "redact_text",
    "redact_url",
    "retry_after_seconds",
]
