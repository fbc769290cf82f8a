"""Workspace admin and login activity: what counts, rules pass and fail, the cursor across runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from collectors.logwindow import parse
from tests.collectors.google_workspace.conftest import WorkspaceOrg

LOGIN_RULE = "google_workspace.login.no_login_without_2sv"
DISABLED_RULE = "google_workspace.admin.two_step_enforcement_not_disabled"
GRANTS_RULE = "google_workspace.admin.privilege_grants_recorded"


@pytest.fixture
def activity(ws: WorkspaceOrg) -> dict[str, str]:
    t = ws.tenant
    t.add_user("alice@acme.example", super_admin=True)
    t.add_user("dave@acme.example")
    ids = {
        "grant": t.add_activity("admin", "ASSIGN_ROLE", "DELEGATED_ADMIN_SETTINGS", actor="alice@acme.example",
                                minutes_ago=600, parameters={"ROLE_NAME": "_HELP_DESK_ADMIN_ROLE",
                                                             "USER_EMAIL": "bob@acme.example"}),
        "super": t.add_activity("admin", "GRANT_ADMIN_PRIVILEGE", "USER_SETTINGS", actor="alice@acme.example",
                                minutes_ago=60 * 24 * 12, parameters={"USER_EMAIL": "root@acme.example"}),
        "off": t.add_activity("admin", "ENFORCE_STRONG_AUTHENTICATION", "SECURITY_SETTINGS",
                              actor="alice@acme.example", minutes_ago=60 * 24 * 3,
                              parameters={"ORG_UNIT_NAME": "Contractors", "NEW_VALUE": "false"}),
        "methods": t.add_activity("admin", "CHANGE_ALLOWED_TWO_STEP_VERIFICATION_METHODS", "SECURITY_SETTINGS",
                                  actor="alice@acme.example", minutes_ago=60 * 24 * 2,
                                  parameters={"ORG_UNIT_NAME": "acme", "NEW_VALUE": "ONLY_SECURITY_KEY"}),
        "password_login": t.add_activity("login", "login_success", "login", actor="dave@acme.example",
                                         minutes_ago=300, parameters={
                                             "login_type": "google_password", "is_second_factor": False,
                                             "login_challenge_method": ["password"], "is_suspicious": False}),
    }
    t.add_activity("admin", "CHANGE_USER_ADDRESS", "USER_SETTINGS", actor="alice@acme.example", minutes_ago=50)
    t.add_activity("login", "login_success", "login", actor="alice@acme.example", minutes_ago=200, parameters={
        "login_type": "google_password", "login_challenge_method": ["password", "security_key"],
        "is_second_factor": True})
    t.add_activity("login", "login_success", "login", actor="erin@acme.example", minutes_ago=100, parameters={
        "login_type": "saml", "login_challenge_method": ["none"]})  # the IdP did the authentication
    t.add_activity("login", "login_failure", "login", actor="dave@acme.example", minutes_ago=90, parameters={
        "login_type": "google_password", "login_failure_type": "login_failure_invalid_password"})
    return ids


def test_rules_over_admin_and_login_activity(ws: WorkspaceOrg, activity: dict[str, str]) -> None:
    run = ws.run()
    assert run.status(LOGIN_RULE, ws.activity_url("login")) == "fail"
    assert "dave@acme.example" in run.message(LOGIN_RULE, ws.activity_url("login"))
    assert run.status(DISABLED_RULE, ws.activity_url("admin")) == "fail"
    assert "Contractors" in run.message(DISABLED_RULE, ws.activity_url("admin"))
    assert run.status(GRANTS_RULE, ws.activity_url("admin")) == "pass"
    message = run.message(GRANTS_RULE, ws.activity_url("admin"))
    assert message.startswith("2 admin role or privilege grants") and "_HELP_DESK_ADMIN_ROLE" in message
    assert "2 2-Step Verification setting changes" in message
    # windows are parameters: three days ago is outside a one-day window
    run = ws.run("  params: {window_days: 1}\n")
    assert run.status(DISABLED_RULE, ws.activity_url("admin")) == "pass"


def test_clean_activity_passes(ws: WorkspaceOrg) -> None:
    t = ws.tenant
    t.add_user("alice@acme.example", super_admin=True)
    t.add_activity("login", "login_success", "login", actor="alice@acme.example", minutes_ago=20, parameters={
        "login_type": "google_password", "login_challenge_method": ["password", "google_authenticator"]})
    t.add_activity("admin", "ENFORCE_STRONG_AUTHENTICATION", "SECURITY_SETTINGS", actor="alice@acme.example",
                   minutes_ago=30, parameters={"ORG_UNIT_NAME": "acme", "NEW_VALUE": "true"})
    run = ws.run()
    assert run.status(LOGIN_RULE, ws.activity_url("login")) == "pass"
    assert run.status(DISABLED_RULE, ws.activity_url("admin")) == "pass"


def test_windows_start_from_the_cursor_and_count_nothing_twice(ws: WorkspaceOrg, activity: dict[str, str]) -> None:
    first = ws.collect()
    calls = ws.api.calls(path="/applications/login$")
    start, end = parse(calls[0].query["startTime"][0]), parse(calls[0].query["endTime"][0])
    assert start and end and timedelta(days=29.9) < end - start <= timedelta(days=30)
    assert calls[0].query["maxResults"] == ["1000"]
    events = first.of("google_workspace.activity_event")
    assert len(events) == 5 and all(f"#{q}:0" in url for q, url in zip(
        sorted(activity.values()), sorted(events, key=lambda u: u.split("#")[1]), strict=True))
    ws.api.reset_log()
    second = ws.collect(cursor=first.cursor)
    (call,) = ws.api.calls(path="/applications/admin$")
    previous = parse(first.cursor["google_workspace/reports/admin"]["until"])
    assert previous and parse(call.query["startTime"][0]) == previous - timedelta(hours=2)
    admin = second.of("google_workspace.activity")[ws.activity_url("admin")].data["Categories"]
    assert admin["admin_privilege_grant"]["Count"] == 2 and admin["two_step_enforcement_disabled"]["Count"] == 1


def test_a_failed_read_keeps_the_cursor_and_is_an_error(ws: WorkspaceOrg, activity: dict[str, str]) -> None:
    ws.tenant.forbidden.append("/applications/login$")
    run = ws.run()
    assert run.store.cursor_value("ws", "google_workspace/reports/login") is None
    assert run.store.cursor_value("ws", "google_workspace/reports/admin") is not None
    assert ws.activity_url("login") not in run.by_rule(LOGIN_RULE)  # nothing judged on unread evidence
    errors = [f for f in run.findings if f["rule_id"] == LOGIN_RULE]
    assert errors and all(f["status"] == "error" for f in errors)
    assert any("login activity" in f["message"] for f in errors)


def test_activity_pages_are_followed(ws: WorkspaceOrg) -> None:
    t = ws.tenant
    t.add_user("dave@acme.example")
    for n in range(1500):
        t.add_activity("login", "login_success", "login", actor="dave@acme.example", minutes_ago=2000 - n,
                       parameters={"login_type": "google_password", "login_challenge_method": ["password"]})
    got = ws.collect()
    login = got.of("google_workspace.activity")[ws.activity_url("login")].data
    assert login["Categories"]["login_without_2sv"]["Count"] == 1500
    assert len(ws.api.calls(path="/applications/login$")) == 2


def test_grants_rule_fails_on_a_summary_with_no_history_read() -> None:
    """The collector yields a summary only after reading the report (else the type is `error`), and
    nothing in it changes from run to run; the failing shape is judged on a stored-form summary."""
    from agent.model import Resource
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from collectors.registry import known_resource_types

    rules = RuleSet([r for r in load_rules(known_types=set(known_resource_types())) if r.id == GRANTS_RULE])
    base = {"Application": "admin", "ObservedSince": "2026-01-01T00:00:00Z", "RetentionDays": 180,
            "Categories": {"privilege_grant": {"Count": 0, "Last": None, "Recent": []}}}

    def judge(data: dict[str, Any]) -> list[str]:
        resource = Resource("google_workspace.activity", "https://admin.example/admin", "admin", data)
        return [ev.status.value for _, ev in rules.evaluate(resource)]

    assert judge(base) == ["pass"]
    assert judge(base | {"ObservedSince": None}) == ["fail"]
