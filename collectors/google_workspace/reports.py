"""Workspace admin and login activity (Reports API), read incrementally with `startTime`/`endTime`.

Kept from the admin log: admin role and super-admin grants (`ASSIGN_ROLE`, `GRANT_ADMIN_PRIVILEGE`,
`ADD_PRIVILEGE`), 2-Step Verification settings changes (`ENFORCE_STRONG_AUTHENTICATION`,
`ALLOW_STRONG_AUTHENTICATION`, `CHANGE_ALLOWED_TWO_STEP_VERIFICATION_METHODS`,
`CHANGE_TWO_STEP_VERIFICATION_*`, `UNENROLL_USER_FROM_STRONG_AUTHENTICATION`), and, among them,
enforcement switched off (`NEW_VALUE` false). From the login log: successful logins without a second
step (`login_success` whose `is_second_factor` is not true and whose `login_challenge_method` lists
only a password). SAML logins are left out: the identity provider did the authentication.

Reports data arrives with a delay (login events up to hours), so each window re-reads the last
`OVERLAP`; records are recognised by `id.uniqueQualifier` and `id.time`. Pages hold 1000 records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from agent.http import HttpClient
from agent.model import Resource
from collectors import logwindow

EVENT, ACTIVITY = "google_workspace.activity_event", "google_workspace.activity"
RETENTION_DAYS = 180
OVERLAP = timedelta(hours=2)
PAGE = 1000
GRANTS = frozenset({"ASSIGN_ROLE", "GRANT_ADMIN_PRIVILEGE", "ADD_PRIVILEGE"})
TWO_STEP = frozenset({"ENFORCE_STRONG_AUTHENTICATION", "ALLOW_STRONG_AUTHENTICATION",
                      "CHANGE_ALLOWED_TWO_STEP_VERIFICATION_METHODS", "UNENROLL_USER_FROM_STRONG_AUTHENTICATION"})
SINGLE_STEP = frozenset({"password", "none", "unknown"})
CATEGORIES = {"admin": ("admin_privilege_grant", "two_step_setting_change", "two_step_enforcement_disabled"),
              "login": ("login_without_2sv",)}


def params_of(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in event.get("parameters") or []:
        for key in ("value", "boolValue", "intValue", "multiValue", "multiIntValue"):
            if key in p:
                out[str(p.get("name"))] = p[key]
                break
    return out


def categories(app: str, event: dict[str, Any]) -> list[str]:
    name = str(event.get("name") or "")
    params = params_of(event)
    if app == "admin":
        if name in GRANTS:
            return ["admin_privilege_grant"]
        if name in TWO_STEP or name.startswith("CHANGE_TWO_STEP_VERIFICATION_"):
            disabled = name in ("ENFORCE_STRONG_AUTHENTICATION", "ALLOW_STRONG_AUTHENTICATION") and \
                str(params.get("NEW_VALUE", "")).lower() == "false"
            return ["two_step_setting_change", *(["two_step_enforcement_disabled"] if disabled else [])]
        return []
    if name == "login_success" and str(params.get("login_type", "")).lower() != "saml":
        methods = params.get("login_challenge_method") or []
        methods = [methods] if isinstance(methods, str) else list(methods)
        second = params.get("is_second_factor") is True or any(str(m).lower() not in SINGLE_STEP for m in methods)
        return [] if second else ["login_without_2sv"]
    return []


def _brief(app: str, item: dict[str, Any], event: dict[str, Any], url: str) -> dict[str, Any]:
    params = params_of(event)
    target = params.get("USER_EMAIL") or params.get("affected_email_address")
    return {"Id": item["id"].get("uniqueQualifier"), "Time": item["id"].get("time"), "Application": app,
            "EventName": event.get("name"), "Actor": (item.get("actor") or {}).get("email"), "Target": target,
            "Role": params.get("ROLE_NAME"), "OrgUnit": params.get("ORG_UNIT_NAME"),
            "NewValue": params.get("NEW_VALUE"), "IpAddress": item.get("ipAddress"), "Url": url}


def collect(http: HttpClient, base: str, tenant: str, customer_id: str | None, cursor: Any, lookback_days: int,
            report: Any, describe: Any) -> Iterator[Resource]:
    for app in ("admin", "login"):
        key = f"google_workspace/reports/{app}"
        window = logwindow.open_window(cursor.get(key), logwindow.utcnow(), lookback_days, OVERLAP,
                                       RETENTION_DAYS)
        path = f"/admin/reports/v1/activity/users/all/applications/{app}"
        params = {"startTime": logwindow.iso(window.start), "endTime": logwindow.iso(window.end)}
        if customer_id:
            params["customerId"] = customer_id
        try:
            items = list(http.paginate(path, params=params, style="page_token", items="items",
                                       page_size=("maxResults", PAGE)))
        except Exception as exc:
            for rtype in (EVENT, ACTIVITY):
                report(rtype, f"{describe(exc)} [{app} activity]")
            continue  # cursor unchanged: the next run reads this window again
        new = []
        for item in sorted(items, key=lambda i: str(i.get("id", {}).get("time"))):
            for n, event in enumerate(item.get("events") or []):
                cats = categories(app, event)
                if not cats:
                    continue
                ident = f"{item['id'].get('uniqueQualifier')}:{n}"
                when = str(item["id"].get("time"))
                url = f"{base}{path}?startTime={when}&endTime={when}#{ident}"
                brief = _brief(app, item, event, url)
                if logwindow.is_new(window, f"{ident}@{when}", when):
                    new.append((cats, brief))
                name = f"{event.get('name')} by {brief['Actor'] or '?'} at {when}"
                yield Resource(EVENT, url, name, {**item, "annexa": {"categories": cats, "event": event}},
                               account=tenant)
        state = logwindow.finish(window, new, RETENTION_DAYS, OVERLAP)
        yield Resource(ACTIVITY, f"{base}{path}", f"Workspace {app} activity of {tenant}", {
            "Application": app, "ObservedSince": state["observed_since"], "RetentionDays": RETENTION_DAYS,
            "Categories": logwindow.summary(state, CATEGORIES[app])}, account=tenant)  # nothing per run
        cursor.set(key, state)
