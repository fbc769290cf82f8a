"""Source health: why a resource type could not be read, what a run's outcome was, and expected gaps.

Three small jobs kept in one place so that the collectors, the runner, the metrics and the CLI agree:

- `classify` turns an error (exception, HTTP status, provider error code or message text) into one
  reason class: `denied`, `not_enabled`, `throttled`, `unavailable` or `invalid_response`.
- `outcome` maps what the store keeps for one run of one source (`run_sources.status`, its error
  records and resource count) to what users see: `ok`, `degraded` or `failed`. Only this function
  knows the stored values, so a change of storage touches it alone.
- `ExpectedGap` is a declared, approved and expiring "this resource type cannot be read here, and
  that is fine": a matching error is recorded as `not_applicable` with its reason instead of as an
  error, until the gap expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REASONS = ("denied", "not_enabled", "throttled", "unavailable", "invalid_response")
OUTCOMES = ("ok", "degraded", "failed")
NOT_APPLICABLE = "not_applicable"

_LEADING = re.compile(r"^(denied|not_enabled|throttled|unavailable|invalid_response)\b")
# Ordered: the first class whose pattern matches wins (a 403 saying "not enabled" is `not_enabled`).
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("not_enabled", re.compile(
        r"SERVICE_DISABLED|has not been used in project|is disabled|not enabled|not[ _-]?subscribed|"
        r"SubscriptionRequired|OptInRequired|NotSignedUp|not signed up|AccessNotConfigured|"
        r"BadRequestException.*not enabled|licen[cs]e|feature not available|NoSuchAccount|"
        r"InvalidAccessException", re.I)),
    ("throttled", re.compile(
        r"\b429\b|Throttl|TooManyRequests|Too Many Requests|rate.?limit|RequestLimitExceeded|"
        r"SlowDown|RESOURCE_EXHAUSTED|quota exceeded", re.I)),
    ("denied", re.compile(
        r"AccessDenied|Access Denied|\b40[13]\b|Forbidden|Unauthori[sz]ed|AuthorizationFailed|"
        r"PERMISSION_DENIED|UNAUTHENTICATED|InvalidClientTokenId|ExpiredToken|not authori[sz]ed|"
        r"insufficient (privileges|permissions?|scope)|\bdenied\b|no API key|invalid_grant|"
        r"UnrecognizedClientException|AuthFailure", re.I)),
    ("invalid_response", re.compile(
        r"unparseable|invalid response|invalid JSON|JSONDecodeError|Expecting value|not JSON|"
        r"unexpected (response|content|shape|payload)|malformed|could not parse|ParseError|"
        r"ValidationError|UnicodeDecodeError|unreadable", re.I)),
    ("unavailable", re.compile(
        r"\b5\d\d\b|timed? ?out|Timeout|ConnectionError|connection (refused|reset|aborted)|"
        r"EndpointConnectionError|ServiceUnavailable|InternalError|InternalFailure|Bad Gateway|"
        r"UNAVAILABLE|DEADLINE_EXCEEDED|temporarily|name resolution|unreachable", re.I)),
)


def classify_status(status: int) -> str | None:
    """The reason class of an HTTP status code, or None when the code says nothing (2xx, 404...)."""
    if status in (401, 403):
        return "denied"
    if status == 429:
        return "throttled"
    if 500 <= status <= 599:
        return "unavailable"
    return None


def classify(error: BaseException | str, *, status: int | None = None, code: str | None = None) -> str:
    """One reason class for an error; `unavailable` when nothing more specific is recognised.

    An explicit HTTP `status` or provider `code` is used first, then the exception's own attributes
    (`status_code`, botocore's `response`), then the text of the error.
    """
    if isinstance(error, BaseException):
        status = status or _exception_status(error)
        code = code or _exception_code(error)
        if isinstance(error, (TimeoutError, ConnectionError)):
            return "unavailable"
        if isinstance(error, (ValueError, UnicodeDecodeError)) and status is None and code is None \
                and type(error).__name__ in ("JSONDecodeError", "UnicodeDecodeError"):
            return "invalid_response"
        text = f"{type(error).__name__}: {error}"
    else:
        text = error
        leading = _LEADING.match(text)
        if leading:  # several collectors already start their messages with the class
            return leading.group(1)
    for source in (code, text):
        if source:
            for reason, pattern in _PATTERNS:
                if pattern.search(source):
                    return reason
    if status is not None:
        by_status = classify_status(status)
        if by_status:
            return by_status
    return "unavailable"


def _exception_status(exc: BaseException) -> int | None:
    for attr in ("status_code", "status", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        meta = response.get("ResponseMetadata") or {}
        value = meta.get("HTTPStatusCode")
        return value if isinstance(value, int) else None
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _exception_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code else None
    return None


# -- expected gaps --------------------------------------------------------------------------
@dataclass(frozen=True)
class ExpectedGap:
    """A resource type (optionally in one account/region) that is known not to be readable, until `expires`."""

    source: str
    resource_type: str
    reason: str
    approved_by: str
    expires: dt.date
    account: str | None = None
    region: str | None = None

    def active(self, today: dt.date) -> bool:
        return today < self.expires

    def matches(self, source: str, resource_type: str, account: str | None, region: str | None) -> bool:
        if source != self.source or resource_type != self.resource_type:
            return False
        if self.account is not None and account != self.account:
            return False
        return self.region is None or region == self.region

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "approved_by": self.approved_by, "expires": self.expires.isoformat()}


def gap_note(expected: Mapping[str, Any]) -> str:
    """How an expected gap reads where users and auditors see it (finding message, bundle, CLI)."""
    return (f"expected gap: {expected.get('reason')}; approved by {expected.get('approved_by')}; "
            f"expires {expected.get('expires')}")


def find_gap(gaps: Iterable[ExpectedGap], source: str, resource_type: str, account: str | None,
             region: str | None, today: dt.date) -> ExpectedGap | None:
    """The first active gap covering this error (an expired gap covers nothing)."""
    for gap in gaps:
        if gap.active(today) and gap.matches(source, resource_type, account, region):
            return gap
    return None


# -- outcomes -------------------------------------------------------------------------------
def real_errors(errors: Iterable[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """Stored error records that count as errors (an expected gap's record does not)."""
    return [e for e in (errors or []) if e.get("status", "error") != NOT_APPLICABLE]


def outcome(status: str | None, errors: Iterable[Mapping[str, Any]] | None, resources: int | None) -> str | None:
    """What users see for one stored run of one source: `ok`, `degraded`, `failed`, or None while running.

    The store keeps `complete`, `partial`, `failed`, `incomplete` (interrupted) and `running`.
    `partial` with no resource at all means nothing could be collected: `failed`.
    """
    if status in (None, "running", "incomplete"):
        return None
    errs = real_errors(errors)
    if status == "failed":
        return "failed"
    if not errs:
        return "ok"
    return "failed" if not resources else "degraded"


def reason_of(record: Mapping[str, Any]) -> str:
    """The reason class of a stored error record (old records, without one, are classified from the message)."""
    reason = record.get("reason")
    return reason if reason in REASONS else classify(str(record.get("message") or ""))


def uncollected(errors: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """{resource type: reason class} for the types a run could not collect (one reason per type)."""
    out: dict[str, str] = {}
    for rec in real_errors(errors):
        out.setdefault(str(rec.get("resource_type")), reason_of(rec))
    return out


def summary_line(source: str, status: str, errors: Iterable[Any], resources: int, total_types: int) -> str:
    """One line per source per run, e.g. `source aws-prod degraded: 3 of 42 resource types not collected
    (denied 2, not_enabled 1)`."""
    records = [e.to_json() if hasattr(e, "to_json") else e for e in errors]
    result = outcome(status, records, resources) or status
    missing = uncollected(records)
    gaps = {str(r.get("resource_type")) for r in records if r.get("status") == NOT_APPLICABLE}
    text = f"source {source} {result}"
    if missing:
        by_reason = Counter(missing.values())
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
        text += f": {len(missing)} of {max(total_types, len(missing))} resource types not collected ({reasons})"
    else:
        text += f": {resources} resources"
    if gaps:
        text += f"; {len(gaps)} expected gap(s) not applicable"
    return text


def log_summary(logger: logging.Logger, source: str, status: str, errors: Iterable[Any], resources: int,
                total_types: int) -> None:
    """The summary line at INFO (ok) or WARNING (degraded, failed); each error's detail at DEBUG."""
    errors = list(errors)
    line = summary_line(source, status, errors, resources, total_types)
    logger.log(logging.INFO if line.startswith(f"source {source} ok") else logging.WARNING, line,
               extra={"source": source})
    for err in errors:
        rec = err.to_json() if hasattr(err, "to_json") else err
        logger.debug("collection error detail", extra={"source": source, **{
            k: rec.get(k) for k in ("resource_type", "account", "region", "reason", "status")},
            "error": rec.get("message")})
