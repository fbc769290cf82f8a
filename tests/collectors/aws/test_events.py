"""CloudTrail event history (LookupEvents): paging, secrets, rules over time, the incremental cursor.

moto has no LookupEvents, so `CloudTrailFake` answers it on loopback in the real CloudTrail JSON
protocol (recorded-shape events, newest first, NextToken paging, one lookup attribute, inclusive
Start/EndTime, ThrottlingException on demand) and forwards every other request to the moto server.
botocore reaches it through `AWS_ENDPOINT_URL_CLOUDTRAIL`, so in-process runs and CLI subprocesses
use it alike. Other AWS test modules import it from here.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from agent.config import load_config
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import RunInterrupted, Runner, select_sources
from agent.store.store import EvidenceStore
from collectors.aws import AwsCollector
from collectors.aws.services import events
from collectors.registry import known_resource_types
from tests.collectors.aws.conftest import ACCOUNT, run_aws
from tests.support.evidence import evidence_payloads

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
EAST, WEST = "us-east-1", "eu-west-1"
HISTORY = {r: f"arn:aws:cloudtrail:{r}:{ACCOUNT}:event-history" for r in (EAST, WEST)}
ONLY_EVENTS = f"    regions: [{EAST}, {WEST}]\n    services: [events]\n"
CANARY = "canary-7f3e9b1c-do-not-store"
ROOT_RULE = "aws.cloudtrail.root_user_not_used"


def ct_record(name: str, when: datetime, *, source: str, user_type: str = "IAMUser", user: str = "alice",
              region: str = EAST, request: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
              additional: dict[str, Any] | None = None, error: str | None = None, invoked_by: str | None = None,
              event_type: str = "AwsApiCall") -> dict[str, Any]:
    """A CloudTrail record shaped like the ones AWS delivers (the fields the collector reads and more)."""
    identity: dict[str, Any] = {"type": user_type, "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
                                "arn": f"arn:aws:iam::{ACCOUNT}:" + ("root" if user_type == "Root" else f"user/{user}")}
    if user_type != "Root":
        identity["userName"] = user
    if invoked_by:
        identity["invokedBy"] = invoked_by
    record: dict[str, Any] = {
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source, "eventName": name, "awsRegion": region, "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15", "requestParameters": request, "responseElements": response,
        "eventID": str(uuid.uuid4()), "readOnly": name.startswith(("Get", "List", "Describe")), "eventType": event_type,
        "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management"}
    if additional is not None:
        record["additionalEventData"] = additional
    if error:
        record["errorCode"], record["errorMessage"] = error, "User is not authorized"
    return record


def login(when: datetime, *, mfa: bool, user_type: str = "IAMUser", ok: bool = True) -> dict[str, Any]:
    return ct_record("ConsoleLogin", when, source="signin.amazonaws.com", user_type=user_type,
                     response={"ConsoleLogin": "Success" if ok else "Failure"},
                     additional={"MFAUsed": "Yes" if mfa else "No", "LoginTo": "https://console.aws.amazon.com/"})


def root_call(when: datetime, name: str = "GetAccountSummary") -> dict[str, Any]:
    return ct_record(name, when, source="iam.amazonaws.com", user_type="Root")


class CloudTrailFake:
    """LookupEvents on loopback; every other request is proxied to moto, unless a `deny` rule answers it.

    `deny(code, match)` makes every request whose text (method, path, X-Amz-Target, body) contains
    `match` fail with `code` in the service's own error format (JSON, query XML or REST XML), which
    is how tests inject AccessDenied for one service, or for AssumeRole into one account.
    """

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.lookups: list[dict[str, Any]] = []   # every LookupEvents request: region, params, status
        self.throttle_next = 0                     # answer this many coming lookups with ThrottlingException
        self.error: tuple[int, str] | None = None  # answer every lookup with this (status, code)
        self.on_lookup: Any = None                 # optional callback(params) run before answering
        self.proxied: list[tuple[str, str]] = []   # (method, path) of every request forwarded to moto
        self.denials: list[tuple[str, str]] = []   # (code, match)
        self.denied = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, record: dict[str, Any], region: str | None = None) -> str:
        region = region or record["awsRegion"]
        identity = record["userIdentity"]
        when = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        item = {"EventId": record["eventID"], "EventName": record["eventName"],
                "ReadOnly": str(record.get("readOnly", False)).lower(),
                "AccessKeyId": "AKIAEXAMPLE", "EventTime": when.timestamp(), "EventSource": record["eventSource"],
                "Username": "root" if identity["type"] == "Root" else identity.get("userName"),
                "Resources": [], "CloudTrailEvent": json.dumps(record)}
        with self.lock:
            self.events.setdefault(region, []).append(item)
        return record["eventID"]

    def deny(self, code: str, match: str) -> None:
        self.denials.append((code, match))

    def _denial(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        from urllib.parse import unquote_plus

        text = " ".join([handler.command, unquote_plus(handler.path), handler.headers.get("X-Amz-Target") or "",
                         unquote_plus(body.decode("utf-8", "replace"))])
        for code, match in self.denials:
            if match not in text:
                continue
            self.denied += 1
            message = f"User is not authorized to perform this operation ({code} injected by the test)"
            if handler.headers.get("X-Amz-Target"):
                return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
                    {"__type": code, "message": message}).encode()
            if "x-www-form-urlencoded" in (handler.headers.get("Content-Type") or ""):
                xml = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                       "</Error><RequestId>annexa-test</RequestId></ErrorResponse>")
                return 403, {"Content-Type": "text/xml"}, xml.encode()
            xml = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>annexa-test</RequestId></Error>"
            return 403, {"Content-Type": "application/xml", "x-amzn-ErrorType": code}, xml.encode()
        return None

    def calls(self, region: str | None = None, status: int = 200) -> list[dict[str, Any]]:
        return [c for c in self.lookups if (region is None or c["region"] == region) and c["status"] == status]

    # -- the protocol -----------------------------------------------------------------------
    def lookup(self, region: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.on_lookup:
            self.on_lookup(params)
        with self.lock:
            if self.throttle_next > 0:
                self.throttle_next -= 1
                return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            if self.error:
                return self.error[0], {"__type": self.error[1], "message": "denied by the test"}
            attrs = params.get("LookupAttributes") or []
            if len(attrs) > 1:
                return 400, {"__type": "InvalidLookupAttributesException",
                             "message": "You cannot specify more than one lookup attribute"}
            start, end = params.get("StartTime", 0), params.get("EndTime", 1e12)
            if start > end:
                return 400, {"__type": "InvalidTimeRangeException", "message": "start after end"}
            field = {"EventName": "EventName", "Username": "Username", "EventSource": "EventSource",
                     "EventId": "EventId", "ReadOnly": "ReadOnly"}
            items = [i for i in self.events.get(region, []) if start <= i["EventTime"] <= end and all(
                i.get(field[a["AttributeKey"]]) == a["AttributeValue"] for a in attrs)]
        items.sort(key=lambda i: i["EventTime"], reverse=True)
        offset = int(params.get("NextToken") or 0)
        size = min(int(params.get("MaxResults") or 50), 50)
        body: dict[str, Any] = {"Events": items[offset:offset + size]}
        if offset + size < len(items):
            body["NextToken"] = str(offset + size)
        return 200, body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one write per response (headers and body): no Nagle/delayed-ACK stalls

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("X-Amz-Target") == TARGET + "LookupEvents":
                    region = self.headers.get("Authorization", "").split("Credential=")[1].split("/")[2]
                    params = json.loads(body or b"{}")
                    status, payload = fake.lookup(region, params)
                    fake.lookups.append({"region": region, "params": params, "status": status})
                    self._reply(status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(payload).encode())
                    return
                self._proxy(body)

            do_GET = do_PUT = do_DELETE = do_HEAD = lambda self: self._proxy(
                self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _proxy(self, body: bytes) -> None:
                denial = fake._denial(self, body)
                if denial:
                    self._reply(*denial)
                    return
                fake.proxied.append((self.command, self.path))
                conn = http.client.HTTPConnection(fake.upstream.hostname, fake.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
                headers["Host"] = fake.upstream.netloc
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                skip = ("connection", "transfer-encoding", "content-length")
                self._reply(resp.status, {k: v for k, v in resp.getheaders() if k.lower() not in skip}, data)
                conn.close()

            def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        return Handler


def quick_reset(moto_url: str) -> None:
    """Wipe moto now, without AWS-managed IAM policies.

    A reset re-creates every account's IAM backend before dropping it; with managed policies that
    costs seconds per account. Resetting at teardown this way leaves nothing for the next test's reset.
    """
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "false"
    try:
        requests.post(f"{moto_url}/moto-api/reset", timeout=120)
    finally:
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous


@pytest.fixture
def cloudtrail(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudTrailFake]:
    """The fake in front of moto for CloudTrail, with LookupEvents pacing and backoff shortened."""
    fake = CloudTrailFake(aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", fake.url)
    monkeypatch.setattr(events, "MIN_INTERVAL", 0.0)
    monkeypatch.setattr(events, "BACKOFF", 0.01)
    yield fake
    fake.close()
    quick_reset(aws)


def _activity(run: Any, region: str) -> dict[str, Any]:
    """The stored evidence document of the activity summary of one Region (read back from the store)."""
    row = next(f for f in run.findings if f["rule_id"] == ROOT_RULE and f["resource_id"] == HISTORY[region])
    return json.loads(run.store.blobs.get_bytes(row["evidence"]))["data"]


def stored_resources(run: Any, type_: str) -> dict[str, dict[str, Any]]:
    """Open resource snapshots of one type: resource id -> stored evidence document."""
    from sqlalchemy import select

    from agent.store.schema import resource_states

    with run.store.engine.connect() as conn:
        rows = conn.execute(select(resource_states.c.resource_id, resource_states.c.evidence).where(
            resource_states.c.open.is_(True), resource_states.c.type == type_)).all()
    return {r.resource_id: json.loads(run.store.blobs.get_bytes(r.evidence)) for r in rows}


def _cursor(run: Any, region: str) -> Any:
    return run.store.cursor_value("aws-main", f"events/{ACCOUNT}/{region}")


# -- collection ----------------------------------------------------------------------------
def _attributes(calls: list[dict[str, Any]]) -> list[str]:
    return [c["params"]["LookupAttributes"][0]["AttributeValue"] for c in calls]


def test_pages_filters_and_secrets(cloudtrail: CloudTrailFake, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    for i in range(110):
        cloudtrail.add(ct_record("AuthorizeSecurityGroupIngress", now - timedelta(hours=i + 1),
                                 source="ec2.amazonaws.com", request={"groupId": f"sg-{i:04d}"}))
    secret_id = cloudtrail.add(ct_record("CreateLoginProfile", now - timedelta(days=2), source="iam.amazonaws.com",
                                         request={"userName": "bob", "password": CANARY,
                                                  "passwordResetRequired": True}))
    cloudtrail.add(login(now - timedelta(days=1), mfa=True))                       # fine: not kept
    cloudtrail.add(ct_record("UpdateDetector", now - timedelta(days=1), source="guardduty.amazonaws.com",
                             request={"detectorId": "d1", "enable": True}))         # enabling: not kept
    denied = cloudtrail.add(ct_record("StopLogging", now - timedelta(days=1), source="cloudtrail.amazonaws.com",
                                      error="AccessDenied"))                        # failed attempt: not kept
    cloudtrail.add(ct_record("DescribeInstances", now - timedelta(days=1), source="ec2.amazonaws.com"))  # a read
    for i in range(120):
        cloudtrail.add(ct_record("RevokeSecurityGroupEgress", now - timedelta(hours=i + 1), region=WEST,
                                 source="ec2.amazonaws.com"))

    (tmp_path / "quiet").mkdir()
    (tmp_path / "busy").mkdir()
    # 114 write events: the ReadOnly=false lookup reads them in three pages, no name-by-name lookups
    quiet = run_aws(tmp_path / "quiet", ONLY_EVENTS)
    assert not quiet.errors, quiet.errors
    east_calls = cloudtrail.calls(EAST)
    assert sorted(set(_attributes(east_calls))) == ["ConsoleLogin", "false", "root"]
    assert [c["params"].get("NextToken") for c in east_calls
            if _attributes([c]) == ["false"]] == [None, "50", "100"]
    assert all(len(c["params"]["LookupAttributes"]) == 1 for c in cloudtrail.lookups)

    # a busier window than PROBE_PAGES pages: every event name on its own (IAM only where IAM records)
    monkeypatch.setattr(events, "PROBE_PAGES", 2)
    cloudtrail.lookups.clear()
    busy = run_aws(tmp_path / "busy", ONLY_EVENTS)
    assert not busy.errors, busy.errors
    sg_calls = [c for c in cloudtrail.calls(EAST) if _attributes([c]) == ["AuthorizeSecurityGroupIngress"]]
    assert [c["params"].get("NextToken") for c in sg_calls] == [None, "50", "100"]
    assert {"CreateUser", "CreateLoginProfile", "StopLogging"} <= set(_attributes(cloudtrail.calls(EAST)))
    west = set(_attributes(cloudtrail.calls(WEST)))
    assert "CreateLoginProfile" not in west and {"ConsoleLogin", "root", "StopLogging"} <= west

    for run in (quiet, busy):
        east = _activity(run, EAST)
        assert east["Categories"]["security_group_change"]["Count"] == 110
        assert east["Categories"]["iam_change"]["Count"] == 1
        assert east["Categories"]["audit_trail_tampering"]["Count"] == 0
        assert east["Categories"]["guardduty_disabled"]["Count"] == 0
        assert _activity(run, WEST)["Categories"]["security_group_change"]["Count"] == 120
        assert AwsCollector.recorder is not None
        # one evidence resource per kept event, with the secret removed and the rest of the record intact
        kept = stored_resources(run, events.EVENT)
        assert len(kept) == 110 + 1 + 120
        arn = f"arn:aws:cloudtrail:{EAST}:{ACCOUNT}:event/{secret_id}"
        request = kept[arn]["data"]["requestParameters"]
        assert request == {"userName": "bob", "passwordResetRequired": True}
        assert kept[arn]["resource"]["region"] == EAST and kept[arn]["resource"]["account"] == ACCOUNT
        assert not any(denied in rid for rid in kept)
    assert AwsCollector.recorder.calls["cloudtrail:LookupEvents"] == len(cloudtrail.lookups)
    for folder in (tmp_path / "quiet", tmp_path / "busy"):
        assert CANARY.encode() not in (folder / "annexa.db").read_bytes()
        for blob in evidence_payloads(folder / "evidence").values():
            assert CANARY.encode() not in blob


def test_rules_judge_history_across_runs(cloudtrail: CloudTrailFake, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    cloudtrail.add(root_call(now - timedelta(days=30)))
    cloudtrail.add(root_call(now - timedelta(days=31), "ConsoleLogin") | {
        "responseElements": {"ConsoleLogin": "Failure"}})        # failed root sign-in: not "use"
    cloudtrail.add(root_call(now - timedelta(days=5)) | {"userIdentity": {
        "type": "Root", "invokedBy": "support.amazonaws.com", "accountId": ACCOUNT}})  # AWS acting: not use
    cloudtrail.add(login(now - timedelta(days=10), mfa=False))
    cloudtrail.add(login(now - timedelta(days=9), mfa=False, user_type="AssumedRole"))  # federated: IdP's job
    cloudtrail.add(ct_record("StopLogging", now - timedelta(days=20), source="cloudtrail.amazonaws.com",
                             request={"name": "main"}))
    cloudtrail.add(ct_record("UpdateDetector", now - timedelta(days=40), source="guardduty.amazonaws.com",
                             request={"detectorId": "d1", "enable": False}))
    cloudtrail.add(login(now - timedelta(days=3), mfa=True, user_type="IAMUser"), region=WEST)

    first = run_aws(tmp_path, ONLY_EVENTS)
    expect_fail = {"aws.cloudtrail.root_user_not_used", "aws.cloudtrail.no_console_login_without_mfa",
                   "aws.cloudtrail.no_audit_trail_tampering", "aws.cloudtrail.guardduty_not_disabled"}
    for rule in expect_fail:
        assert first.status(rule, HISTORY[EAST]) == "fail", rule
        assert first.status(rule, HISTORY[WEST]) == "pass", rule
    assert first.by_rule("aws.cloudtrail.iam_changes_recorded") == {HISTORY[EAST]: "pass"}
    east = _activity(first, EAST)
    assert east["Categories"]["root_use"]["Count"] == 1
    assert east["Categories"]["console_login_without_mfa"]["Count"] == 1
    message = next(f["message"] for f in first.findings if f["rule_id"] == ROOT_RULE and f["resource_id"] ==
               HISTORY[EAST])
    assert "GetAccountSummary" in message and "203.0.113.7" in message

    # A month later nothing new happened: the runs read no event, yet the history still counts ...
    later = run_aws(tmp_path, ONLY_EVENTS, now=now + timedelta(days=30))
    assert _activity(later, EAST) == east  # nothing new: the same summary (nothing in it changes per run)
    assert later.status(ROOT_RULE, HISTORY[EAST]) == "fail"          # root use 60 days before `now`
    assert later.status("aws.cloudtrail.guardduty_not_disabled", HISTORY[EAST]) == "fail"  # 70 days ago
    # ... and 120 days after the root use it no longer does.
    much_later = run_aws(tmp_path, ONLY_EVENTS, now=now + timedelta(days=90))
    assert much_later.status(ROOT_RULE, HISTORY[EAST]) == "pass"
    assert much_later.status("aws.cloudtrail.no_console_login_without_mfa", HISTORY[EAST]) == "pass"
    assert much_later.status("aws.cloudtrail.no_audit_trail_tampering", HISTORY[EAST]) == "pass"
    assert much_later.status("aws.cloudtrail.guardduty_not_disabled", HISTORY[EAST]) == "pass"


# -- the cursor ----------------------------------------------------------------------------
class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_cursor_reads_only_new_events_and_counts_the_boundary_once(
        cloudtrail: CloudTrailFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = (datetime.now(UTC) - timedelta(hours=10)).replace(microsecond=0)
    clock = Clock(t0)
    monkeypatch.setattr(events, "utcnow", clock)
    cloudtrail.add(root_call(t0 - timedelta(days=2)))
    on_boundary = cloudtrail.add(root_call(t0))            # exactly at the end of the first window

    first = run_aws(tmp_path, ONLY_EVENTS)
    assert _activity(first, EAST)["Categories"]["root_use"]["Count"] == 2
    assert _cursor(first, EAST)["until"] == t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert on_boundary in _cursor(first, EAST)["seen"]
    first_starts = {c["params"]["StartTime"] for c in cloudtrail.calls(EAST)}
    assert first_starts == {(t0 - timedelta(days=90)).timestamp()}  # first run: the lookback

    # Delivered after the first run: one more event in the boundary second, one late by ten minutes,
    # one after it. The boundary event already counted is returned again and must not count twice.
    cloudtrail.add(root_call(t0))
    cloudtrail.add(root_call(t0 - timedelta(minutes=10)))
    cloudtrail.add(root_call(t0 + timedelta(hours=1)))
    cloudtrail.lookups.clear()
    clock.at = t0 + timedelta(hours=2)
    second = run_aws(tmp_path, ONLY_EVENTS)  # a new store object over the same database
    east = _activity(second, EAST)
    assert east["Categories"]["root_use"]["Count"] == 5
    assert {c["params"]["StartTime"] for c in cloudtrail.calls(EAST)} == {(t0 - events.OVERLAP).timestamp()}
    assert {c["params"]["EndTime"] for c in cloudtrail.calls(EAST)} == {clock.at.timestamp()}
    assert len(stored_resources(second, events.EVENT)) == 4  # the events read in this run's window

    cloudtrail.lookups.clear()
    clock.at = t0 + timedelta(hours=3)
    third = run_aws(tmp_path, ONLY_EVENTS)
    assert _activity(third, EAST)["Categories"]["root_use"]["Count"] == 5
    assert _activity(third, EAST) == east  # nothing new in this window: the stored summary is the same one
    with third.store.engine.connect() as conn:  # so the unchanged summary opened no new interval
        from sqlalchemy import func, select

        from agent.store.schema import resource_states
        assert conn.execute(select(func.count()).select_from(resource_states).where(
            resource_states.c.type == events.ACTIVITY, resource_states.c.region == EAST)).scalar_one() == 2
    assert _activity(third, EAST)["ObservedSince"] == (t0 - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {c["params"]["StartTime"] for c in cloudtrail.calls(EAST)} == {
        (t0 + timedelta(hours=2) - events.OVERLAP).timestamp()}


def test_throttling_is_retried(cloudtrail: CloudTrailFake, tmp_path: Path) -> None:
    cloudtrail.add(root_call(datetime.now(UTC) - timedelta(days=1)))
    cloudtrail.throttle_next = 3
    run = run_aws(tmp_path, f"    regions: [{EAST}]\n    services: [events]\n")
    assert not run.errors and run.result.status == "complete"
    assert len(cloudtrail.calls(status=400)) == 3
    assert run.status(ROOT_RULE, HISTORY[EAST]) == "fail"


def test_failed_or_interrupted_runs_do_not_move_the_cursor(
        cloudtrail: CloudTrailFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only_east = f"    regions: [{EAST}]\n    services: [events]\n"
    now = datetime.now(UTC)
    cloudtrail.add(root_call(now - timedelta(days=3)))
    first = run_aws(tmp_path, only_east)
    saved = _cursor(first, EAST)
    assert saved["categories"]["root_use"]["last"]

    # access denied: `error` for every events rule in that scope, run partial, cursor untouched
    cloudtrail.error = (400, "AccessDeniedException")
    denied = run_aws(tmp_path, only_east)
    assert denied.result.status == "partial"
    assert {e.resource_type for e in denied.errors} == {events.EVENT, events.ACTIVITY}
    assert "AccessDeniedException" in denied.errors[0].message
    statuses = {f["rule_id"]: f["status"] for f in denied.findings if f["rule_id"].startswith("aws.cloudtrail.")}
    assert set(statuses.values()) == {"error"} and len(statuses) == 5
    assert _cursor(denied, EAST) == saved

    # throttled beyond the retries: the same
    cloudtrail.error = None
    cloudtrail.throttle_next = 1000
    monkeypatch.setattr(events, "THROTTLE_RETRIES", 2)
    throttled = run_aws(tmp_path, only_east)
    assert throttled.result.status == "partial" and "ThrottlingException" in throttled.errors[0].message
    assert _cursor(throttled, EAST) == saved

    # interrupted (SIGTERM in the daemon) while LookupEvents pages: the run is incomplete, cursor untouched
    cloudtrail.throttle_next = 0
    stop = threading.Event()
    cloudtrail.on_lookup = lambda params: stop.set()
    config = load_config(tmp_path / "annexa.yaml")
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    runner = Runner(config, store, RuleSet(load_rules(known_types=set(known_resource_types()))), stop_event=stop)
    with pytest.raises(RunInterrupted):
        runner.run(select_sources(config, None, None))
    assert store.runs(1)[0]["status"] == "incomplete"
    assert store.cursor_value("aws-main", f"events/{ACCOUNT}/{EAST}") == saved

    # the next good run reads on from the saved position and counts the event it missed meanwhile
    cloudtrail.on_lookup = None
    cloudtrail.lookups.clear()
    cloudtrail.add(root_call(datetime.now(UTC) - timedelta(seconds=5)))
    last = run_aws(tmp_path, only_east)
    assert not last.errors
    assert _activity(last, EAST)["Categories"]["root_use"]["Count"] == 2
    until = datetime.fromisoformat(saved["until"].replace("Z", "+00:00"))
    assert {c["params"]["StartTime"] for c in cloudtrail.calls()} == {(until - events.OVERLAP).timestamp()}


def test_pacer_spaces_calls_per_account_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "MIN_INTERVAL", 0.1)
    pacer = events.Pacer()
    started = time.monotonic()
    for _ in range(4):
        pacer.wait(("111111111111", EAST))
    paced = time.monotonic() - started
    other = time.monotonic()
    pacer.wait(("111111111111", WEST))
    pacer.wait(("222222222222", EAST))
    assert paced >= 0.3 and time.monotonic() - other < 0.05


def test_categories_on_recorded_shapes() -> None:
    now = datetime.now(UTC)
    assert events.categories(login(now, mfa=False)) == ["console_login_without_mfa"]
    assert events.categories(login(now, mfa=False, user_type="Root")) == ["root_use", "console_login_without_mfa"]
    assert events.categories(login(now, mfa=False, ok=False)) == []
    assert events.categories(ct_record("DeleteDetector", now, source="guardduty.amazonaws.com")) == [
        "guardduty_disabled"]
    assert events.categories(ct_record("UpdateTrail", now, source="cloudtrail.amazonaws.com")) == ["trail_change"]
    assert events.categories(ct_record("DeleteTrail", now, source="cloudtrail.amazonaws.com",
                                       user_type="Root")) == ["root_use", "audit_trail_tampering"]
    assert events.categories(root_call(now) | {"eventType": "AwsServiceEvent"}) == []
    nested = {"a": [{"Password": "x", "keep": 1}], "secretAccessKey": "y", "userData": "z", "b": {"ok": True}}
    assert events.scrub(nested) == {"a": [{"keep": 1}], "b": {"ok": True}}


def test_iam_changes_recorded_rule_on_recorded_shapes() -> None:
    """The collector always fills ObservedSince when it yields a summary (otherwise the type is
    `error`), so the failing shape is judged here on a stored-form summary directly."""
    from agent.model import Resource

    rule = "aws.cloudtrail.iam_changes_recorded"
    rules = RuleSet([r for r in load_rules(known_types=set(known_resource_types())) if r.id == rule])

    def judge(data: dict[str, Any]) -> list[str]:
        resource = Resource(events.ACTIVITY, HISTORY[EAST], "history", data, account=ACCOUNT, region=EAST)
        return [ev.status.value for _, ev in rules.evaluate(resource)]

    base = {"ReceivesGlobalServiceEvents": True, "ObservedSince": "2026-01-01T00:00:00Z",
            "Categories": {"iam_change": {"Count": 3, "Last": None}}}
    assert judge(base) == ["pass"]
    assert judge(base | {"ObservedSince": None}) == ["fail"]
    assert judge(base | {"ReceivesGlobalServiceEvents": False}) == []
