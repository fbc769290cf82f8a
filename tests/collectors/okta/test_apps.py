"""Okta apps: assignments to suspended or deprovisioned users, asserted by the app's API URL."""

from __future__ import annotations

from tests.collectors.okta.conftest import OktaOrg


def test_apps_assigned_to_inactive_users(org: OktaOrg) -> None:
    t = org.tenant
    alice = t.add_user("alice@acme.example")
    heidi = t.add_user("heidi@acme.example", status="DEPROVISIONED")
    grace = t.add_user("grace@acme.example", status="SUSPENDED")
    clean = t.add_app("slack", "Slack", users=(alice,))
    stale = t.add_app("salesforce", "Salesforce", users=(alice, heidi, grace))
    retired = t.add_app("old_wiki", "Old wiki", status="INACTIVE", users=(heidi,))
    run = org.run()
    assert run.status("okta.app.no_inactive_user_assignments", org.app_url(clean)) == "pass"
    assert run.status("okta.app.no_inactive_user_assignments", org.app_url(stale)) == "fail"
    assert org.app_url(retired) not in run.by_rule("okta.app.no_inactive_user_assignments")
    message = run.message("okta.app.no_inactive_user_assignments", org.app_url(stale))
    assert "heidi@acme.example" in message and "grace@acme.example" in message and "alice" not in message


def test_app_assignments_page_across_pages(org: OktaOrg) -> None:
    t = org.tenant
    users = [t.add_user(f"user{n:03d}@acme.example") for n in range(520)]
    gone = t.add_user("heidi@acme.example", status="DEPROVISIONED")
    app = t.add_app("big", "Big app", users=(*users, gone))
    run = org.run()
    assert run.status("okta.app.no_inactive_user_assignments", org.app_url(app)) == "fail"
    pages = org.api.calls(path=f"^/api/v1/apps/{app}/users$")
    assert len(pages) == 2 and pages[0].query["limit"] == ["500"] and "after" in pages[1].query


def test_unreadable_assignments_are_errors(org: OktaOrg) -> None:
    t = org.tenant
    app = t.add_app("slack", "Slack", users=(t.add_user("alice@acme.example"),))
    t.forbidden.append(r"/api/v1/apps/.*/users$")
    run = org.run()
    assert run.status("okta.app.no_inactive_user_assignments", org.app_url(app)) == "error"
    assert "E0000006" in run.message("okta.app.no_inactive_user_assignments", org.app_url(app))
