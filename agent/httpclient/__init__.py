"""Shared read-only HTTP client for Annexa's REST collectors (GitHub, Okta, Azure, GCP, Workspace)."""

from agent.httpclient.client import READ_METHODS, HttpClient, Page
from agent.httpclient.errors import (
    ForeignOrigin,
    HttpError,
    ReadOnlyViolation,
    parse_provider_error,
    parse_provider_reason,
)
from agent.httpclient.paging import Link, parse_link_header
from agent.httpclient.redact import redact_text, redact_url
from agent.httpclient.throttle import HeaderPacer, HttpStats, StatsSnapshot, TokenBucket, retry_after_seconds

__all__ = [
    "READ_METHODS",
    "ForeignOrigin",
    "HeaderPacer",
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
    "parse_provider_reason",
    "redact_text",
    "redact_url",
    "retry_after_seconds",
]
