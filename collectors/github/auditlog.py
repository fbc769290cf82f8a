"""The organisation audit log, read incrementally: membership and permission changes, branch
protection and ruleset changes, secret-scanning push-protection bypasses.

`GET /orgs/{org}/audit-log` exists on GitHub Enterprise Cloud only (and needs an owner token with
`read:audit_log`); elsewhere it is reported as an `error` with that reason, never as "no events".

One query per action category (`phrase=action:<category> created:>=<since>`, `include=all`,
`order=asc`, `per_page=100`), following the `after` cursors of the `Link` header to the end. The
position reached — the last event's `@timestamp` and the `_document_id`s seen at that instant — is
kept per category in the source's cursor; the next run asks from that instant and drops what it
has already seen, so an event is read once even when several share a millisecond. The first run
looks back `audit_log_lookback_days`.

The judged events themselves are kept in the cursor (`audit/events`) for `audit_log_lookback_days`
and emitted again on every run, so a bypass read last week still shows as a current finding today
(its evidence is unchanged, so nothing new is stored) until it ages out or is accepted as an
exception — the same way a one-off event stays on an auditor's list until it is dealt with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.base import Cursor
from collectors.github import errors
from collectors.github.api import GitHubApi

EVENT_TYPE = "github.audit_event"
CATEGORIES = ("org", "team", "repo", "protected_branch", "repository_ruleset", "secret_scanning_push_protection")
MEMBERSHIP_ACTIONS = frozenset({
    "org.add_member", "org.remove_member", "org.update_member", "org.add_outside_collaborator",
    "org.remove_outside_collaborator", "org.update_default_repository_permission",
    "team.add_member", "team.remove_member", "team.add_repository", "team.update_repository_permission",
    "repo.add_member", "repo.remove_member", "repo.update_member", "repo.access",
})
WHOLE_CATEGORIES = ("protected_branch.", "repository_ruleset.", "secret_scanning_push_protection.")


def wanted(action: str) -> bool:
    return action in MEMBERSHIP_ACTIONS or action.startswith(WHOLE_CATEGORIES)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def read_audit_log(api: GitHubApi, org: str, web: str, cursor: Cursor, lookback_days: int,
                   report: Callable[[str], None], now: datetime | None = None) -> Iterator[Resource]:
    """Yield the judged audit events of the window (new and kept); report one error if unreadable."""
    now = now or datetime.now(UTC)
    kept: dict[str, dict[str, Any]] = dict(cursor.get("audit/events") or {})
    positions: dict[str, dict[str, Any]] = {}
    complete = True
    for category in CATEGORIES:
        key = f"audit/{category}"
        position = cursor.get(key) or {}
        last_ms = int(position.get("ts") or 0)
        seen = set(position.get("ids") or [])
        since = datetime.fromtimestamp(last_ms / 1000, UTC) if last_ms else now - timedelta(days=lookback_days)
        since = since.replace(microsecond=0)
        params = {"phrase": f"action:{category} created:>={since.isoformat()}", "include": "all", "order": "asc"}
        newest, newest_ids = last_ms, set(seen)
        try:
            for page in api.pages(f"/orgs/{org}/audit-log", params):
                for event in page:
                    at = int(event.get("@timestamp") or event.get("created_at") or 0)
                    doc_id = str(event.get("_document_id") or "")
                    if at < last_ms or (at == last_ms and doc_id in seen):
                        continue
                    if at > newest:
                        newest, newest_ids = at, set()
                    if at == newest:
                        newest_ids.add(doc_id)
                    if wanted(str(event.get("action") or "")):
                        kept[doc_id] = {**event, "occurred_at": _iso(at) if at else None}
        except HttpError as exc:
            if exc.status == 404:  # the endpoint does not exist for this organisation's plan
                report(f"not_enabled: the audit log of {org}: not available (plan) — the audit log API exists "
                       f"on GitHub Enterprise Cloud only (HTTP 404 {exc.provider_message})")
            else:
                report(errors.describe(exc, f"the audit log of {org}",
                                       "an owner token with read:audit_log (apps: Administration: read)"))
            complete = False
            break
        if not last_ms and not newest:  # nothing yet: keep the start, so the next query is the same
            newest = int(since.timestamp() * 1000)  # (and a 304 answers it for free)
        positions[key] = {"ts": newest, "ids": sorted(newest_ids)}
    horizon = (now - timedelta(days=lookback_days)).timestamp() * 1000
    kept = {doc: ev for doc, ev in kept.items() if int(ev.get("@timestamp") or ev.get("created_at") or 0) >= horizon}
    for doc_id, event in sorted(kept.items(), key=lambda kv: (kv[1].get("@timestamp") or 0, kv[0])):
        yield Resource(EVENT_TYPE, f"{web}/organizations/{org}/settings/audit-log#{doc_id}",
                       f"{event.get('action')} by {event.get('actor') or '?'}", event, account=org)
    if complete:
        for key, value in positions.items():
            cursor.set(key, value)
        cursor.set("audit/events", kept)
