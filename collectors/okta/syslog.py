"""The Okta System Log, read incrementally (`/api/v1/logs` with `since`/`until` and a filter).

Kept: admin role grants (`user.account.privilege.grant`, `group.privilege.grant`), MFA factor
resets (`user.mfa.factor.reset_all`, `user.mfa.factor.deactivate`), policy changes
(`policy.lifecycle.*`, `policy.rule.*`) and sign-ins without a second factor.

A sign-in without MFA is an Okta session (events sharing `authenticationContext.externalSessionId`)
that started (`user.session.start`, SUCCESS) and was used to open an app (`user.authentication.sso`,
SUCCESS) with no successful `user.authentication.auth_via_mfa` for a factor other than the password
in the same session. Okta logs `user.session.start` once the first factor is checked, so a session
that never reached an app may just be an abandoned MFA prompt: those are not counted. Sessions that
started in the last `SETTLE` of the window are judged in the next run, whose window overlaps this
one, so their MFA and app events are in view.

Queries are bounded (`until` given), so the last page has no `next` link; pages hold 1000 events.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from agent.http import HttpClient
from agent.httpclient.redact import is_secret_name, redact_url
from agent.model import Resource
from collectors import logwindow
from collectors.okta.api import LOGS_PAGE, describe, pages

EVENT, ACTIVITY = "okta.log.event", "okta.log.activity"
RETENTION_DAYS = 90              # the System Log keeps 90 days
OVERLAP = timedelta(minutes=30)  # re-read for late delivery
SETTLE = timedelta(minutes=10)   # a session this young is judged next run
CATEGORIES = ("admin_privilege_grant", "mfa_factor_reset", "policy_change", "sign_in_without_mfa")
GRANTS = ("user.account.privilege.grant", "group.privilege.grant")
RESETS = ("user.mfa.factor.reset_all", "user.mfa.factor.deactivate")
SESSION = ("user.session.start", "user.authentication.sso", "user.authentication.auth_via_mfa")
FILTER = " or ".join([*(f'eventType eq "{t}"' for t in (*GRANTS, *RESETS, *SESSION)),
                      'eventType sw "policy.lifecycle."', 'eventType sw "policy.rule."'])


def _ok(event: dict[str, Any]) -> bool:
    return (event.get("outcome") or {}).get("result") == "SUCCESS"


def _session(event: dict[str, Any]) -> str | None:
    ctx = event.get("authenticationContext") or {}
    sid = ctx.get("externalSessionId") or ctx.get("rootSessionId")
    return None if sid in (None, "", "unknown") else str(sid)


def factor_of(event: dict[str, Any]) -> str | None:
    debug = (event.get("debugContext") or {}).get("debugData") or {}
    for key in ("factor", "factorType", "authenticator"):
        if debug.get(key):
            return str(debug[key])
    for target in event.get("target") or []:
        if target.get("type") == "AuthenticatorEnrollment" and target.get("displayName"):
            return str(target["displayName"])
    return None


def is_second_factor(event: dict[str, Any]) -> bool:
    factor = factor_of(event)
    return factor is None or "password" not in factor.lower()


def classify(events: list[dict[str, Any]], settle_before: str) -> list[tuple[list[str], dict[str, Any]]]:
    """(categories, event) for each event that counts; session starts stand for single-factor sessions."""
    out: list[tuple[list[str], dict[str, Any]]] = []
    sessions: dict[str, dict[str, Any]] = {}
    for event in events:
        kind = event.get("eventType") or ""
        if not _ok(event):
            continue
        if kind in GRANTS:
            out.append((["admin_privilege_grant"], event))
        elif kind in RESETS:
            out.append((["mfa_factor_reset"], event))
        elif kind.startswith(("policy.lifecycle.", "policy.rule.")):
            out.append((["policy_change"], event))
        elif kind in SESSION and (sid := _session(event)):
            entry = sessions.setdefault(sid, {"start": None, "app": False, "mfa": False})
            if kind == "user.session.start" and entry["start"] is None:
                entry["start"] = event
            elif kind == "user.authentication.sso":
                entry["app"] = True
            elif kind == "user.authentication.auth_via_mfa" and is_second_factor(event):
                entry["mfa"] = True
    for entry in sessions.values():
        start = entry["start"]
        if start is not None and entry["app"] and not entry["mfa"] and start["published"] < settle_before:
            out.append((["sign_in_without_mfa"], start))
    return out


def _scrub(event: dict[str, Any]) -> dict[str, Any]:
    """The event without secret-looking debug values (request URIs can carry OAuth codes)."""
    debug = dict((event.get("debugContext") or {}).get("debugData") or {})
    for key, value in list(debug.items()):
        if is_secret_name(key):
            debug[key] = "REDACTED"
        elif isinstance(value, str) and ("?" in value or "://" in value):
            debug[key] = redact_url(value)
    return {**event, "debugContext": {**(event.get("debugContext") or {}), "debugData": debug}}


def event_url(org: str, uuid: str) -> str:
    expression = 'uuid eq "' + uuid + '"'
    return f"{org}/api/v1/logs?filter={quote(expression)}"


def _brief(org: str, event: dict[str, Any]) -> dict[str, Any]:
    targets = [t.get("alternateId") or t.get("displayName") for t in event.get("target") or []]
    return {"Uuid": event.get("uuid"), "Time": event.get("published"), "EventType": event.get("eventType"),
            "Actor": (event.get("actor") or {}).get("alternateId"), "Targets": [t for t in targets if t],
            "Message": event.get("displayMessage"), "Url": event_url(org, str(event.get("uuid")))}


def collect(http: HttpClient, org: str, tenant: str, cursor: Any, lookback_days: int,
            report: Any) -> Iterator[Resource]:
    previous = cursor.get("okta/system-log")
    window = logwindow.open_window(previous, logwindow.utcnow(), lookback_days, OVERLAP, RETENTION_DAYS)
    params = {"since": logwindow.iso(window.start), "until": logwindow.iso(window.end), "filter": FILTER,
              "sortOrder": "ASCENDING"}
    try:
        events = list(pages(http, "/api/v1/logs", params, LOGS_PAGE))
    except Exception as exc:
        for rtype in (EVENT, ACTIVITY):
            report(rtype, describe(exc))
        return  # cursor unchanged: the next run reads this window again
    counted = classify(events, logwindow.iso(window.end - SETTLE))
    new = []
    for cats, event in counted:
        uuid = str(event.get("uuid"))
        brief = _brief(org, event)
        if logwindow.is_new(window, uuid, str(event.get("published"))):
            new.append((cats, brief))
        name = f"{event.get('eventType')} by {brief['Actor'] or '?'} at {brief['Time']}"
        yield Resource(EVENT, brief["Url"], name, {**_scrub(event), "annexa": {"categories": cats}}, account=tenant)
    state = logwindow.finish(window, new, RETENTION_DAYS, OVERLAP)
    yield Resource(ACTIVITY, f"{org}/api/v1/logs", f"Okta System Log of {tenant}", {
        "ObservedSince": state["observed_since"], "RetentionDays": RETENTION_DAYS,  # nothing per run
        "Categories": logwindow.summary(state, CATEGORIES)}, account=tenant)
    cursor.set("okta/system-log", state)
