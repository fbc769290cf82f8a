"""Cloud Audit Logs (Admin Activity), read incrementally with `entries:list`.

What is read: IAM policy changes (`SetIamPolicy`, Cloud Storage `setIamPermissions`), service-account
key creation and log sink creation, update and deletion. `entries:list` is a documented read-only
POST with a low quota (60 calls a minute per consumer project by default), so projects are read in
batches — one call names up to `audit_log_batch` projects in `resourceNames` — and calls are paced
to `audit_log_calls_per_minute`. Entries are attributed to their project by `logName`.

Per project, the cursor `audit/<project>` keeps `until` (end of the last window read), `seen` (ids
of the entries in the last `OVERLAP`, so late arrivals are read again and not counted twice),
`observed_since` and the per-category history. Each window starts `OVERLAP` before `until`. A
project whose read failed keeps its cursor: the next run reads its window again. Each kept entry
becomes a `gcp.logging.audit_event` (secrets removed); each project gets a
`gcp.logging.audit_activity` summary of the last `HISTORY_DAYS`, which the rules judge.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.http import HttpError, TokenBucket
from agent.model import Resource
from collectors.gcp.errors import describe
from collectors.gcp.hierarchy import ProjectInfo
from collectors.gcp.policy import PRIMITIVE, PUBLIC, parse_member
from collectors.gcp.scope import RunContext

EVENT = "gcp.logging.audit_event"
ACTIVITY = "gcp.logging.audit_activity"
RESOURCE_TYPES = {
    EVENT: "an Admin Activity audit log entry: an IAM policy change, a service-account key creation or a "
           "log sink change (secrets removed)",
    ACTIVITY: "per project: Cloud Audit Logs coverage and the security-relevant changes of the last 90 days, "
              "carried across runs",
}
METHODS = ("SetIamPolicy", "setIamPermissions", "CreateServiceAccountKey", "CreateSink", "UpdateSink", "DeleteSink")
CATEGORIES = ("iam_policy_change", "risky_grant", "service_account_key_created", "sink_change",
              "sink_deleted_or_disabled")
HISTORY_DAYS = 90
OVERLAP = timedelta(minutes=30)
RECENT_KEPT = 20
PAGE_SIZE = 1000
SECRET_KEYS = frozenset({"privatekeydata", "privatekey", "password", "secret", "clientsecret", "token",
                         "accesstoken", "refreshtoken"})
LOGGING = "//logging.googleapis.com/"
ACTIVITY_LOG = "logs/cloudaudit.googleapis.com%2Factivity"


def utcnow() -> datetime:
    """The collection clock (a seam for tests)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k.replace("_", "").lower() not in SECRET_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def binding_deltas(payload: dict[str, Any]) -> list[dict[str, Any]]:
    for holder in (payload.get("serviceData") or {}, payload.get("metadata") or {}):
        deltas = (holder.get("policyDelta") or {}).get("bindingDeltas") \
            or (holder.get("datasetChange") or {}).get("bindingDeltas")
        if deltas:
            return list(deltas)
    return []


def categories(entry: dict[str, Any]) -> list[str]:
    payload = entry.get("protoPayload") or {}
    method = str(payload.get("methodName") or "")
    if (payload.get("status") or {}).get("code"):
        return []  # a refused or failed call changed nothing
    short = method.rsplit(".", 1)[-1]
    out: list[str] = []
    if short.lower() in ("setiampolicy", "setiampermissions"):
        out.append("iam_policy_change")
        for delta in binding_deltas(payload):
            member = str(delta.get("member", ""))
            kind = parse_member(member)["kind"]
            if delta.get("action") == "ADD" and (member in PUBLIC or (
                    delta.get("role") in PRIMITIVE and kind in ("user", "group", "domain"))):
                out.append("risky_grant")
                break
    elif short == "CreateServiceAccountKey":
        out.append("service_account_key_created")
    elif short in ("CreateSink", "UpdateSink", "DeleteSink"):
        out.append("sink_change")
        sink = (payload.get("request") or {}).get("sink") or {}
        if short == "DeleteSink" or (short == "UpdateSink" and sink.get("disabled") is True):
            out.append("sink_deleted_or_disabled")
    return out


def _filter(start: datetime, end: datetime) -> str:
    methods = " OR ".join(f'"{m}"' for m in METHODS)
    return (f'logName:"cloudaudit.googleapis.com%2Factivity" AND timestamp>="{iso(start)}" '
            f'AND timestamp<="{iso(end)}" AND protoPayload.methodName:({methods})')


class AuditReader:
    """Reads the audit logs of batches of projects; one instance per run (it paces every call)."""

    def __init__(self, run: RunContext, emit: Callable[[Resource], None], now: datetime | None = None):
        self.run = run
        self.emit = emit
        self.now = now or utcnow()
        options = run.options
        self.floor = self.now - timedelta(days=options.audit_log_lookback_days)
        self.pacer = TokenBucket(options.audit_log_calls_per_minute / 60.0)
        self.url = f"{run.bases['logging']}/v2/entries:list"

    def _start(self, state: dict[str, Any]) -> datetime:
        until = parse_time(state.get("until"))
        return self.floor if until is None or until - OVERLAP < self.floor else until - OVERLAP

    def _read(self, projects: list[ProjectInfo], start: datetime) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"resourceNames": [f"projects/{p.project_id}" for p in projects],
                                "filter": _filter(start, self.now), "orderBy": "timestamp asc",
                                "pageSize": PAGE_SIZE}
        out: list[dict[str, Any]] = []
        seen_tokens: set[str] = set()
        while True:
            self.pacer.acquire()
            page = self.run.http.request("POST", self.url, json=body).json() or {}
            out.extend(page.get("entries") or [])
            token = page.get("nextPageToken")
            if not token or token in seen_tokens:
                return out
            seen_tokens.add(token)
            body["pageToken"] = token

    def read_batch(self, projects: list[ProjectInfo]) -> None:
        states = {p.project_id: dict(self.run.cursor.get(f"audit/{p.project_id}") or {}) for p in projects}
        starts = {pid: self._start(state) for pid, state in states.items()}
        try:
            entries = self._read(projects, min(starts.values()))
        except (HttpError, ValueError) as exc:
            if len(projects) > 1 and not (isinstance(exc, HttpError) and exc.status == 429):
                for project in projects:  # one project the identity cannot read must not hide the others
                    self.read_batch([project])
                return
            for project in projects:
                message = describe(exc, f"entries:list {project.project_id}")
                self.run.report(EVENT, message, account=project.project_id)
                self.run.report(ACTIVITY, message, account=project.project_id)
            return
        by_project: dict[str, list[dict[str, Any]]] = {p.project_id: [] for p in projects}
        for entry in entries:
            owner = str(entry.get("logName", "")).split("/")[1] if str(entry.get("logName", "")).startswith(
                "projects/") else ""
            if owner in by_project:
                by_project[owner].append(entry)
        for project in projects:
            self._finish(project, states[project.project_id], starts[project.project_id],
                         by_project[project.project_id])

    def _finish(self, project: ProjectInfo, state: dict[str, Any], start: datetime,
                entries: list[dict[str, Any]]) -> None:
        pid = project.project_id
        first_run = not state.get("until") or parse_time(state.get("until")) - OVERLAP < self.floor  # type: ignore[operator]
        seen: dict[str, str] = dict(state.get("seen") or {})
        history: dict[str, Any] = dict(state.get("categories") or {})
        observed_since = iso(start) if first_run or not state.get("observed_since") else state["observed_since"]
        new = 0
        for entry in entries:
            when = parse_time(entry.get("timestamp"))
            if when is None or when < start:
                continue
            cats = categories(entry)
            if not cats:
                continue
            key = f"{entry.get('logName')}|{entry.get('insertId')}"
            full = LOGGING + f"{entry.get('logName')}/entries/{entry.get('insertId')}"
            payload = entry.get("protoPayload") or {}
            brief = {"time": iso(when), "method": payload.get("methodName"), "resource": payload.get("resourceName"),
                     "principal": (payload.get("authenticationInfo") or {}).get("principalEmail"),
                     "callerIp": (payload.get("requestMetadata") or {}).get("callerIp"), "entry": full}
            if key not in seen:
                seen[key] = iso(when)
                new += 1
                for cat in cats:
                    slot = history.setdefault(cat, {"last": None, "recent": [], "times": []})
                    slot["recent"].append(brief)
                    slot["times"].append(brief["time"])
                    if slot["last"] is None or brief["time"] > slot["last"]:
                        slot["last"] = brief["time"]
            data = {**scrub(entry), "categories": cats, "bindingDeltas": binding_deltas(payload)}
            name = f"{payload.get('methodName')} by {brief['principal'] or '?'} at {brief['time']}"
            self.emit(Resource(EVENT, full, name, data, account=pid))
        oldest = iso(self.now - timedelta(days=HISTORY_DAYS))
        for slot in history.values():
            slot["recent"] = sorted((b for b in slot["recent"] if b["time"] >= oldest), key=lambda b: b["time"])
            slot["recent"] = slot["recent"][-RECENT_KEPT:]
            slot["times"] = sorted(t for t in slot["times"] if t >= oldest)
            if slot["last"] is not None and slot["last"] < oldest:
                slot["last"] = None
        keep_after = iso(self.now - OVERLAP - OVERLAP)
        state = {"until": iso(self.now), "observed_since": observed_since, "categories": history,
                 "seen": {k: t for k, t in seen.items() if t >= keep_after}}
        # nothing per run (read-until time, this run's counts): an unchanged log stores no new interval
        summary = {"projectId": pid, "observedSince": observed_since, "historyDays": HISTORY_DAYS,
                   "categories": {cat: {"last": (history.get(cat) or {}).get("last"),
                                        "count": len((history.get(cat) or {}).get("times") or []),
                                        "recent": list(reversed((history.get(cat) or {}).get("recent") or []))}
                                  for cat in CATEGORIES}}
        self.emit(Resource(ACTIVITY, LOGGING + f"projects/{pid}/{ACTIVITY_LOG}",
                           f"Admin Activity audit log of {pid}", summary, account=pid))
        self.run.cursor.set(f"audit/{pid}", state)
