"""The organisation audit log, read incrementally: membership and permission changes, branch
protection and ruleset changes, secret-scanning push-protection bypasses.

`GET /orgs/{org}/audit-log` exists on GitHub Enterprise Cloud only (and needs an owner token with
`read:audit_log`); elsewhere it is reported as an `error` with that reason, never as "no events".

One query per action category (`phrase=action:<category> created:>=<since>`, `include=all`,
`order=asc`, `per_page=100`), following the `after` cursors of the `Link` header to the end. The
position reached — the last event's `@timestamp` and the `_document_id`s seen at that instant — is
kept per category in the source's cursor; the next run asks from that instant and drops what it
has already seen, so an event is stored once even when several share a millisecond. The first run
looks back `audit_log_lookback_days`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

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
    """Yield new audit events as `github.audit_event`; report one error if the log is not readable."""
    now = now or datetime.now(UTC)
    for category in CATEGORIES:
        key = f"audit/{category}"
        position = cursor.get(key) or {}
        last_ms = int(position.get("ts") or 0)
        seen = set(position.get("ids") or [])
        since = datetime.fromtimestamp(last_ms / 1000, UTC) if last_ms else now - timedelta(days=lookback_days)
        phrase = f"action:{category} created:>={since.replace(microsecond=0).isoformat()}"
        params = {"phrase": phrase, "include": "all", "order": "asc"}
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
                    action = str(event.get("action") or "")
                    if not wanted(action):
                        continue
                    data = {**event, "occurred_at": _iso(at) if at else None}
                    yield Resource(EVENT_TYPE, f"{web}/organizations/{org}/settings/audit-log#{doc_id}",
                                   f"{action} by {event.get('actor') or '?'}", data, account=org)
        except HttpError as exc:
            if exc.status == 404:  # the endpoint does not exist for this organisation's plan
                report(f"not_enabled: the audit log of {org}: not available (plan) — the audit log API exists "
                       f"on GitHub Enterprise Cloud only (HTTP 404 {exc.provider_message})")
            else:
                report(errors.describe(exc, f"the audit log of {org}",
                                       "an owner token with read:audit_log (apps: Administration: read)"))
            return
        if newest > last_ms or newest_ids != seen:
            cursor.set(key, {"ts": newest, "ids": sorted(newest_ids)})
