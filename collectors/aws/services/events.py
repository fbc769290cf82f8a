"""CloudTrail event history: security-relevant management events, read incrementally.

`LookupEvents` accepts one lookup attribute per call and at most two calls per second per account
and Region. Each run reads the window since the last completed run, paced per (account, Region):
root activity and console sign-ins by their own lookups, the security-relevant changes through one
`ReadOnly=false` lookup when the window is small, or name by name when it is not (see `_read`).
Only events that matter for a control are kept: each becomes an `aws.cloudtrail.event` resource,
and a per-(account, Region) `aws.cloudtrail.activity` summary carries what the rules judge across
runs (when the root user was last used, console sign-ins without MFA, audit-trail tampering, ...).
That state lives in the source cursor, so a root sign-in read 30 days ago still counts today
although today's run read nothing new. The cursor only moves when the whole Region was read; the
runner saves it only when the source completes.

Cursor `events/<account>/<region>`: `until` (end of the last window read), `seen` (ids of the
events counted with a time in the last `OVERLAP` before `until`), `observed_since` (start of the
unbroken coverage) and `categories`. Each window starts `OVERLAP` before `until`: events CloudTrail
delivers late, or that share the boundary second, are read again and skipped by id, never lost and
never counted twice.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec

log = logging.getLogger(__name__)

EVENT = "aws.cloudtrail.event"
ACTIVITY = "aws.cloudtrail.activity"

RETENTION_DAYS = 90            # CloudTrail event history keeps 90 days; so do we
OVERLAP = timedelta(minutes=30)  # re-read window for late delivery and boundary seconds
RECENT_KEPT = 20               # most recent events kept per category in the summary
MIN_INTERVAL = 0.5             # seconds between LookupEvents calls per (account, Region): 2 per second
PROBE_PAGES = 4                # a window with more write events than 4 pages is read event name by event name
THROTTLE_RETRIES = 8
SERVER_RETRIES = 2
BACKOFF = 0.5                  # seconds; doubled per retry, capped at BACKOFF_CAP, with jitter
BACKOFF_CAP = 8.0
THROTTLE_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException",
                            "RequestLimitExceeded", "SlowDown"})
# Where each partition records global-service events (IAM, STS, sign-in via the global endpoint).
GLOBAL_EVENTS_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}

IAM_CHANGES = (
    "CreateUser", "DeleteUser", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey", "CreateLoginProfile",
    "UpdateLoginProfile", "DeactivateMFADevice", "AddUserToGroup", "AttachUserPolicy", "DetachUserPolicy",
    "PutUserPolicy", "AttachGroupPolicy", "PutGroupPolicy", "CreateRole", "AttachRolePolicy", "PutRolePolicy",
    "UpdateAssumeRolePolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion",
)
TRAIL_TAMPERING = ("StopLogging", "DeleteTrail")
TRAIL_CHANGES = ("UpdateTrail", "PutEventSelectors")
GUARDDUTY = ("DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount",
             "DisassociateFromAdministratorAccount")
SECURITY_GROUPS = (
    "CreateSecurityGroup", "DeleteSecurityGroup", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "ModifySecurityGroupRules",
)
REGIONAL_NAMES = ("ConsoleLogin", *TRAIL_TAMPERING, *TRAIL_CHANGES, *GUARDDUTY, *SECURITY_GROUPS)
CATEGORIES = ("root_use", "console_login_without_mfa", "iam_change", "audit_trail_tampering", "trail_change",
              "guardduty_disabled", "security_group_change")
# Keys whose values never leave the process, wherever they appear in an event.
SECRET_KEYS = frozenset({"password", "newpassword", "oldpassword", "secretaccesskey", "sessiontoken",
                         "privatekey", "secretstring", "secretbinary", "plaintext", "userdata"})



def utcnow() -> datetime:
    """The collection clock (a seam for tests); whole seconds, like CloudTrail event times."""
    return datetime.now(UTC).replace(microsecond=0)


class Pacer:
    """Spaces calls per key (account, Region) at least `MIN_INTERVAL` apart, across threads and runs."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def wait(self, key: tuple[str, str]) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next.get(key, 0.0))
            self._next[key] = at + MIN_INTERVAL
        if at > now:
            time.sleep(at - now)


PACER = Pacer()


# -- reading -------------------------------------------------------------------------------
def _client(scope: AwsScope) -> Any:
    """A CloudTrail client without botocore retries: this module paces and retries LookupEvents itself.

    It comes from the account's session, so it carries the read-only guard and the call recorder.
    """
    return scope.client("cloudtrail", max_attempts=1)


def _retryable(exc: Exception, attempt_throttle: int, attempt_server: int) -> str | None:
    code = error_code(exc)
    if code in THROTTLE_CODES:
        return "throttle" if attempt_throttle < THROTTLE_RETRIES else None
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(exc, ClientError) \
        else 0
    server = (isinstance(exc, ClientError) and status >= 500) or isinstance(exc, HTTPClientError | BotoConnectionError)
    return "server" if server and attempt_server < SERVER_RETRIES else None


def _lookup_page(client: Any, key: tuple[str, str], params: dict[str, Any]) -> dict[str, Any]:
    """One paced LookupEvents call; throttling (and briefly, server errors) retried with backoff."""
    throttled = server = 0
    while True:
        PACER.wait(key)
        try:
            return client.lookup_events(**params)
        except CollectErrors as exc:
            kind = _retryable(exc, throttled, server)
            if kind is None:
                raise
            tries = throttled if kind == "throttle" else server
            time.sleep(min(BACKOFF_CAP, BACKOFF * 2 ** tries) * random.uniform(0.5, 1.0))
            throttled += kind == "throttle"
            server += kind == "server"


def _attr(key: str, value: str) -> dict[str, str]:
    return {"AttributeKey": key, "AttributeValue": value}


def _pages(client: Any, key: tuple[str, str], attribute: dict[str, str], start: datetime, end: datetime,
           into: dict[str, dict[str, Any]], max_pages: int | None = None) -> tuple[int, bool]:
    """Read one lookup into `into` (by event id). Returns (calls made, whether every page was read)."""
    params: dict[str, Any] = {"LookupAttributes": [attribute], "StartTime": start, "EndTime": end, "MaxResults": 50}
    calls = 0
    while True:
        page = _lookup_page(client, key, params)
        calls += 1
        for item in page.get("Events", []) or []:
            into.setdefault(item["EventId"], item)
        token = page.get("NextToken")
        if not token:
            return calls, True
        if max_pages is not None and calls >= max_pages:
            return calls, False
        params["NextToken"] = token


def _read(scope: AwsScope, start: datetime, end: datetime, global_region: bool) -> tuple[list[dict[str, Any]], int]:
    """Every event of the lookups in [start, end] (deduplicated by id) and the number of calls made.

    Root activity (reads included) and console sign-ins are always looked up on their own. The
    security-relevant changes are all write events: when every write event of the window fits in
    `PROBE_PAGES` pages of one `ReadOnly=false` lookup (a quiet Region, or a short incremental
    window), that one lookup is enough; otherwise each event name is looked up on its own, so the
    cost stays bounded however busy the account is.
    """
    client = _client(scope)
    key = (scope.account_id, scope.region or "")
    found: dict[str, dict[str, Any]] = {}
    calls = 0
    for attribute in (_attr("Username", "root"), _attr("EventName", "ConsoleLogin")):
        calls += _pages(client, key, attribute, start, end, found)[0]
    probe: dict[str, dict[str, Any]] = {}
    made, complete = _pages(client, key, _attr("ReadOnly", "false"), start, end, probe, PROBE_PAGES)
    calls += made
    if complete:
        for event_id, item in probe.items():
            found.setdefault(event_id, item)
    else:
        names = [n for n in REGIONAL_NAMES if n != "ConsoleLogin"] + (list(IAM_CHANGES) if global_region else [])
        for name in names:
            calls += _pages(client, key, _attr("EventName", name), start, end, found)[0]
    return list(found.values()), calls


# -- judging -------------------------------------------------------------------------------
def parse_event(item: dict[str, Any]) -> dict[str, Any]:
    """The CloudTrail record of a lookup result (its `CloudTrailEvent` JSON), or the lookup fields."""
    try:
        record = json.loads(item.get("CloudTrailEvent") or "")
    except ValueError:
        record = None
    if not isinstance(record, dict):
        record = {"eventID": item.get("EventId"), "eventName": item.get("EventName"),
                  "eventSource": item.get("EventSource"), "userIdentity": {"userName": item.get("Username")}}
    return record


def categories(record: dict[str, Any]) -> list[str]:
    """The summary categories an event counts in (empty: not kept)."""
    name = record.get("eventName") or ""
    identity = record.get("userIdentity") or {}
    failed = bool(record.get("errorCode"))
    login = (record.get("responseElements") or {}).get("ConsoleLogin") if name == "ConsoleLogin" else None
    out: list[str] = []
    if identity.get("type") == "Root" and not identity.get("invokedBy") \
            and record.get("eventType") != "AwsServiceEvent" and login != "Failure":
        out.append("root_use")
    if name == "ConsoleLogin" and login == "Success" and identity.get("type") in ("IAMUser", "Root") \
            and (record.get("additionalEventData") or {}).get("MFAUsed") == "No":
        out.append("console_login_without_mfa")  # federated sign-ins prove MFA at the identity provider
    if failed:
        return out
    source = record.get("eventSource") or ""
    params = record.get("requestParameters") or {}
    if source == "iam.amazonaws.com" and name in IAM_CHANGES:
        out.append("iam_change")
    elif source == "cloudtrail.amazonaws.com" and name in TRAIL_TAMPERING:
        out.append("audit_trail_tampering")
    elif source == "cloudtrail.amazonaws.com" and name in TRAIL_CHANGES:
        out.append("trail_change")
    elif source == "guardduty.amazonaws.com" and name in GUARDDUTY and (
            name != "UpdateDetector" or params.get("enable") is False):
        out.append("guardduty_disabled")
    elif source == "ec2.amazonaws.com" and name in SECURITY_GROUPS:
        out.append("security_group_change")
    return out


def scrub(value: Any) -> Any:
    """A copy without secret-bearing keys (passwords, secret keys, user data...), at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k.lower() not in SECRET_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _brief(item: dict[str, Any], record: dict[str, Any], arn: str) -> dict[str, Any]:
    identity = record.get("userIdentity") or {}
    return {"EventId": item["EventId"], "EventTime": _iso(item["EventTime"]), "EventName": item.get("EventName"),
            "Username": item.get("Username") or identity.get("userName"), "UserType": identity.get("type"),
            "SourceIPAddress": record.get("sourceIPAddress"), "EventArn": arn}


# -- state across runs ---------------------------------------------------------------------
def _empty_category() -> dict[str, Any]:
    return {"last": None, "recent": [], "daily": {}}


def _merge(state: dict[str, Any], new: list[tuple[list[str], dict[str, Any]]], now: datetime) -> None:
    """Add newly counted events to the per-category state, then drop what is older than retention."""
    cats = state.setdefault("categories", {})
    for names, brief in new:
        for cat in names:
            entry = cats.setdefault(cat, _empty_category())
            entry["recent"].append(brief)
            day = brief["EventTime"][:10]
            entry["daily"][day] = entry["daily"].get(day, 0) + 1
            if entry["last"] is None or brief["EventTime"] > entry["last"]:
                entry["last"] = brief["EventTime"]
    oldest = _iso(now - timedelta(days=RETENTION_DAYS))
    for entry in cats.values():
        recent = sorted((b for b in entry["recent"] if b["EventTime"] >= oldest), key=lambda b: b["EventTime"])
        entry["recent"] = recent[-RECENT_KEPT:]
        entry["daily"] = {d: n for d, n in sorted(entry["daily"].items()) if d >= oldest[:10]}


def _summary_data(scope: AwsScope, state: dict[str, Any], global_region: str, stats: dict[str, int]
                  ) -> dict[str, Any]:
    cats = state.get("categories", {})
    out = {}
    for cat in CATEGORIES:
        entry = cats.get(cat) or _empty_category()
        out[cat] = {"Last": entry["last"], "Count": sum(entry["daily"].values()), "DailyCounts": entry["daily"],
                    "Recent": list(reversed(entry["recent"]))}
    # Nothing that differs from run to run without a new event (the read-until time, this run's counts):
    # an unchanged history then stores no new interval, and the interval's last_seen says how far it was read.
    log.debug("cloudtrail %s %s: %d lookups, %d events read, %d new", scope.account_id, scope.region,
              stats["calls"], stats["read"], stats["new"])
    return {"AccountId": scope.account_id, "Region": scope.region, "ObservedSince": state["observed_since"],
            "RetentionDays": RETENTION_DAYS,
            "GlobalEventsRegion": global_region, "ReceivesGlobalServiceEvents": scope.region == global_region,
            "Categories": out}


def collect(scope: AwsScope) -> Iterator[Resource]:
    if scope.region is None:
        return
    key = f"events/{scope.account_id}/{scope.region}"
    previous = scope.cursor.get(key) or {}
    now = utcnow()
    floor = now - timedelta(days=min(scope.options.events_lookback_days, RETENTION_DAYS))
    until = _parse(previous.get("until"))
    state: dict[str, Any] = {"categories": previous.get("categories", {}), "seen": previous.get("seen", {}),
                             "observed_since": previous.get("observed_since")}
    if until is None or until - OVERLAP < floor:  # first run, or a gap longer than the history: start over
        start = floor
        state["observed_since"] = _iso(start)
    else:
        start = until - OVERLAP
        state["observed_since"] = state["observed_since"] or _iso(start)
    global_region = GLOBAL_EVENTS_REGION.get(scope.partition, "us-east-1")
    try:
        items, calls = _read(scope, start, now, scope.region == global_region)
    except CollectErrors as exc:
        scope.fail(EVENT, exc)
        scope.fail(ACTIVITY, exc)
        return  # nothing stored, cursor unchanged: the next run reads this window again
    resources: list[Resource] = []
    new: list[tuple[list[str], dict[str, Any]]] = []
    seen: dict[str, str] = dict(state["seen"])
    for item in sorted(items, key=lambda i: i["EventTime"]):
        record = parse_event(item)
        cats = categories(record)
        if not cats:
            continue
        arn = scope.arn("cloudtrail", f"event/{item['EventId']}")
        brief = _brief(item, record, arn)
        if item["EventId"] not in seen:
            new.append((cats, brief))
            seen[item["EventId"]] = brief["EventTime"]
        name = f"{item.get('EventName')} by {brief['Username'] or brief['UserType'] or '?'} at {brief['EventTime']}"
        resources.append(scope.resource(EVENT, arn, name, scrub(record)))
    _merge(state, new, now)
    state["until"] = _iso(now)
    keep_after = _iso(now - OVERLAP)
    state["seen"] = {eid: when for eid, when in seen.items() if when >= keep_after}
    yield from resources
    stats = {"calls": calls, "read": len(items), "new": len(new)}
    summary_arn = scope.arn("cloudtrail", "event-history")
    yield scope.resource(ACTIVITY, summary_arn, f"CloudTrail event history {scope.account_id}/{scope.region}",
                         _summary_data(scope, state, global_region, stats))
    scope.cursor.set(key, state)


SERVICE = ServiceSpec(
    name="events",
    resource_types={
        EVENT: "a security-relevant CloudTrail management event (root use, sign-in without MFA, IAM, "
               "trail, GuardDuty or security-group change), secrets removed",
        ACTIVITY: "per account and Region: CloudTrail event-history coverage and the security events of the "
                  "last 90 days, carried across runs",
    },
    collect=collect,
    # LookupEvents allows 2 calls/s per account and Region; PACER enforces that per Region, so this only
    # bounds how many Regions of one account are read at once.
    concurrency=8,
)
