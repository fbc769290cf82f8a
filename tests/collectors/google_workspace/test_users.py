"""Workspace users and admins: every rule with a passing and a failing user (by API URL), identity fields."""

from __future__ import annotations

import pytest

from tests.collectors.google_workspace.conftest import WorkspaceOrg


@pytest.fixture
def people(ws: WorkspaceOrg) -> dict[str, str]:
    t = ws.tenant
    return {
        "alice": t.add_user("alice@acme.example", super_admin=True, aliases=("platform@acme.example",)),
        "root": t.add_user("root@acme.example", super_admin=True, enforced_2sv=False, last_login_days=3),
        "bob": t.add_user("bob@acme.example", roles=("_HELP_DESK_ADMIN_ROLE",)),
        "carol": t.add_user("carol@acme.example", roles=("_USER_MANAGEMENT_ADMIN_ROLE",), enforced_2sv=False),
        "dave": t.add_user("dave@acme.example", enrolled_2sv=False, enforced_2sv=False),
        "erin": t.add_user("erin@acme.example"),
        "frank": t.add_user("frank@acme.example", created_days=5, last_login_days=None, enrolled_2sv=False),
        "heidi": t.add_user("heidi@acme.example", suspended=True, enrolled_2sv=False, enforced_2sv=False,
                            roles=("_GROUPS_ADMIN_ROLE",), last_login_days=61),
        "ivan": t.add_user("ivan@acme.example", archived=True, last_login_days=200),
    }


def test_two_step_rules_by_user(ws: WorkspaceOrg, people: dict[str, str]) -> None:
    run = ws.run("  reports: false\n")
    u = {name: ws.user_url(uid) for name, uid in people.items()}
    enrolled = run.by_rule("google_workspace.user.2sv_enrolled")
    assert enrolled[u["erin"]] == "pass" and enrolled[u["dave"]] == "fail" and enrolled[u["frank"]] == "fail"
    assert u["heidi"] not in enrolled and u["ivan"] not in enrolled  # suspended / archived cannot sign in
    enforced = run.by_rule("google_workspace.user.2sv_enforced")
    assert enforced[u["erin"]] == "pass" and enforced[u["carol"]] == "fail" and enforced[u["dave"]] == "fail"
    assert run.by_rule("google_workspace.user.super_admin_2sv") == {u["alice"]: "pass", u["root"]: "fail"}
    assert run.by_rule("google_workspace.user.delegated_admin_2sv") == {u["bob"]: "pass", u["carol"]: "fail"}
    assert "_USER_MANAGEMENT_ADMIN_ROLE" in run.message("google_workspace.user.delegated_admin_2sv", u["carol"])


def test_inactive_users_hold_no_roles(ws: WorkspaceOrg, people: dict[str, str]) -> None:
    run = ws.run("  reports: false\n")
    u = {name: ws.user_url(uid) for name, uid in people.items()}
    assert run.by_rule("google_workspace.user.inactive_without_admin_roles") == {u["heidi"]: "fail",
                                                                                  u["ivan"]: "pass"}
    assert "_GROUPS_ADMIN_ROLE" in run.message("google_workspace.user.inactive_without_admin_roles", u["heidi"])


def test_super_admin_count_bounds(ws: WorkspaceOrg, people: dict[str, str]) -> None:
    run = ws.run("  reports: false\n")
    assert run.status("google_workspace.customer.super_admin_count", ws.customer_url) == "pass"  # alice, root
    run = ws.run("  reports: false\n  params: {max_super_admins: 1}\n")
    assert run.status("google_workspace.customer.super_admin_count", ws.customer_url) == "fail"
    assert "2 active super administrators" in run.message("google_workspace.customer.super_admin_count",
                                                          ws.customer_url)


def test_identity_accounts(ws: WorkspaceOrg, people: dict[str, str]) -> None:
    got = ws.collect("  reports: false\n")
    assert not got.errors
    accounts = got.of("identity.account")
    assert set(accounts) == {ws.user_url(uid) for uid in people.values()}
    alice = accounts[ws.user_url(people["alice"])].data
    t = ws.tenant
    raw = t.user("alice@acme.example")
    assert raw is not None
    assert (alice["provider"], alice["tenant"], alice["raw_type"]) == ("google_workspace", "C03az79cb",
                                                                       "google_workspace.user")
    assert alice["login"] == alice["email"] == "alice@acme.example"
    assert alice["emails"] == ["alice@acme.example", "platform@acme.example"]
    assert alice["created"] == raw["creationTime"] and alice["last_login"] == raw["lastLoginTime"]
    assert (alice["mfa_enrolled"], alice["mfa_enforced"]) == (True, True)
    assert alice["privileged"] is True and alice["privileges"] == ["_SEED_ADMIN_ROLE"]
    assert alice["kind"] == "human" and alice["external"] is False and alice["active"] is True
    frank = accounts[ws.user_url(people["frank"])].data
    assert frank["last_login"] is None and frank["last_login_known"] is True  # 1970-01-01 means never
    heidi = accounts[ws.user_url(people["heidi"])].data
    assert (heidi["active"], heidi["status"], heidi["privileges"]) == (False, "suspended", ["_GROUPS_ADMIN_ROLE"])
    ivan = accounts[ws.user_url(people["ivan"])].data
    assert (ivan["active"], ivan["status"]) == (False, "archived")
    bob = accounts[ws.user_url(people["bob"])].data
    assert bob["privileged"] is True and bob["privileges"] == ["_HELP_DESK_ADMIN_ROLE"]
    dave = accounts[ws.user_url(people["dave"])].data
    assert (dave["mfa_enrolled"], dave["mfa_enforced"], dave["privileged"]) == (False, False, False)
    assignments = got.of("google_workspace.role_assignment")
    assert len(assignments) == 5 and {a.data["annexa"]["assignee"] for a in assignments.values()} == {
        "alice@acme.example", "root@acme.example", "bob@acme.example", "carol@acme.example", "heidi@acme.example"}


def test_unreadable_roles_make_role_rules_errors(ws: WorkspaceOrg, people: dict[str, str]) -> None:
    ws.tenant.forbidden.append("/roleassignments$")
    run = ws.run("  reports: false\n")
    assert run.status("google_workspace.user.inactive_without_admin_roles", ws.user_url(people["ivan"])) == "error"
    # heidi is flagged by the user object itself (isDelegatedAdmin), even without the assignments
    assert run.status("google_workspace.user.inactive_without_admin_roles", ws.user_url(people["heidi"])) == "fail"
    (error,) = [e for e in run.errors if e.resource_type == "google_workspace.role_assignment"]
    assert error.message.startswith("denied:") and "Not Authorized to access this resource/api" in error.message
