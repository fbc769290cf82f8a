"""Okta users: statuses, factors (ACTIVE only), admin roles, the MFA their policies require, and the
identity.account each user yields. Findings are asserted by the user's API URL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.collectors.okta.conftest import OktaOrg, access_rule, signon_rule
from tests.support.pipeline import stored_evidence


@pytest.fixture
def people(org: OktaOrg) -> dict[str, str]:
    t = org.tenant
    admins, staff, helpdesk = t.add_group("Admins"), t.add_group("Staff"), t.add_group("Helpdesk")
    office = {"network": {"connection": "ZONE", "include": ["nzo1office"]}}
    t.add_policy("OKTA_SIGN_ON", "Admins", priority=1, groups=(admins,), rules=(signon_rule(True),))
    t.add_policy("OKTA_SIGN_ON", "Staff", priority=2, groups=(staff,), rules=(signon_rule(True),))
    t.add_policy("OKTA_SIGN_ON", "Default Policy", priority=3, system=True, rules=(
        {**signon_rule(False), "conditions": office},  # the office network lets a password through
        signon_rule(True)))
    t.add_user_type("serviceAccount", "Service Account")
    t.add_group_role(helpdesk, "HELP_DESK_ADMIN")
    return {
        "alice": t.add_user("alice@acme.example", groups=(admins,), factors=(("push", "ACTIVE"),),
                            roles=("SUPER_ADMIN",), second_email="alice.private@example.net"),
        "dave": t.add_user("dave@acme.example", factors=(("token:software:totp", "PENDING_ACTIVATION"),)),
        "erin": t.add_user("erin@acme.example", groups=(staff,), factors=(("webauthn", "ACTIVE"),)),
        "mallory": t.add_user("mallory@contractor.example", groups=(helpdesk,)),
        "ivan": t.add_user("ivan@acme.example", groups=(staff,), last_login_days=200,
                           factors=(("email", "ACTIVE"), ("question", "ACTIVE"))),
        "heidi": t.add_user("heidi@acme.example", status="DEPROVISIONED", roles=("ORG_ADMIN",),
                            status_changed_days=60, last_login_days=61),
        "grace": t.add_user("grace@acme.example", status="SUSPENDED"),
        "frank": t.add_user("frank@acme.example", status="STAGED", created_days=5),
        "oscar": t.add_user("oscar@acme.example", status="PROVISIONED", created_days=60),
        "olga": t.add_user("olga@acme.example", status="LOCKED_OUT", groups=(staff,), factors=(("sms", "ACTIVE"),)),
        "ci": t.add_user("ci-bot@acme.example", user_type="serviceAccount", last_login_days=None),
    }


def test_mfa_rules_pass_and_fail_by_user(org: OktaOrg, people: dict[str, str]) -> None:
    run = org.run()
    u = {name: org.user_url(uid) for name, uid in people.items()}
    enrolled = run.by_rule("okta.user.active_factor_enrolled")
    assert enrolled[u["alice"]] == enrolled[u["erin"]] == enrolled[u["olga"]] == "pass"
    assert enrolled[u["dave"]] == "fail"      # a PENDING_ACTIVATION factor is not an enrolled one
    assert enrolled[u["ivan"]] == "fail"      # e-mail and security question alone are not MFA
    assert enrolled[u["mallory"]] == "fail"
    assert u["ci"] not in enrolled and u["heidi"] not in enrolled and u["frank"] not in enrolled
    assert "pending activation: [\"token:software:totp\"]" in run.message("okta.user.active_factor_enrolled",
                                                                        u["dave"])
    required = run.by_rule("okta.user.mfa_required_by_policy")
    assert required[u["alice"]] == required[u["erin"]] == required[u["ivan"]] == "pass"
    assert required[u["dave"]] == "fail"      # the Default Policy's office rule needs no factor
    assert "Default Policy" in run.message("okta.user.mfa_required_by_policy", u["dave"])
    admins = run.by_rule("okta.user.admin_mfa_required_by_policy")
    assert admins == {u["alice"]: "pass", u["mallory"]: "fail"}  # a role through a group counts
    assert run.by_rule("okta.user.admin_factor_enrolled") == {u["alice"]: "pass", u["mallory"]: "fail"}


def test_lifecycle_rules(org: OktaOrg, people: dict[str, str]) -> None:
    run = org.run()
    u = {name: org.user_url(uid) for name, uid in people.items()}
    assert run.by_rule("okta.user.not_stuck_unactivated") == {u["frank"]: "pass", u["oscar"]: "fail"}
    inactive = run.by_rule("okta.user.inactive_without_admin_roles")
    assert inactive == {u["heidi"]: "fail", u["grace"]: "pass"}
    assert "ORG_ADMIN" in run.message("okta.user.inactive_without_admin_roles", u["heidi"])


def test_deprovisioned_users_are_found_and_every_status_maps_to_active(org: OktaOrg, people: dict[str, str]) -> None:
    got = org.collect()
    assert not got.errors
    accounts = got.of("identity.account")
    users = got.of("okta.user")
    assert set(users) == set(accounts) == {org.user_url(uid) for uid in people.values()}
    active = {a.data["login"]: a.data["active"] for a in accounts.values()}
    assert active == {"alice@acme.example": True, "dave@acme.example": True, "erin@acme.example": True,
                      "mallory@contractor.example": True, "ivan@acme.example": True, "olga@acme.example": True,
                      "ci-bot@acme.example": True, "heidi@acme.example": False, "grace@acme.example": False,
                      "frank@acme.example": False, "oscar@acme.example": False}
    searches = [c.query.get("search") for c in org.api.calls(path="^/api/v1/users$")]
    assert searches == [None, ['status eq "DEPROVISIONED"']]
    # deprovisioned users hold no usable factors: their factors are not read
    assert not org.api.calls(path=f"/api/v1/users/{people['heidi']}/factors")


def test_identity_account_fields(org: OktaOrg, people: dict[str, str]) -> None:
    accounts = org.collect().of("identity.account")
    t = org.tenant

    def acct(name: str) -> dict[str, Any]:
        return accounts[org.user_url(people[name])].data

    alice = acct("alice")
    assert alice["provider"] == "okta" and alice["tenant"] == org.url.split("://")[1]
    assert alice["url"] == org.user_url(people["alice"]) and alice["raw_type"] == "okta.user"
    assert alice["email"] == "alice@acme.example"
    assert alice["emails"] == ["alice@acme.example", "alice.private@example.net"]
    assert alice["kind"] == "human" and alice["display_name"] == "Alice Example"
    assert alice["created"] == t.users[people["alice"]]["created"]
    assert alice["last_login"] == t.users[people["alice"]]["lastLogin"] and alice["last_login_known"] is True
    assert (alice["mfa_enrolled"], alice["mfa_enforced"], alice["mfa_methods"]) == (True, True, ["push"])
    assert (alice["privileged"], alice["privileges"]) == (True, ["SUPER_ADMIN"])
    dave = acct("dave")
    assert (dave["mfa_enrolled"], dave["mfa_enforced"], dave["mfa_methods"]) == (False, False, [])
    assert dave["privileged"] is False and dave["privileges"] == []
    assert acct("mallory")["privileges"] == ["HELP_DESK_ADMIN"]
    assert acct("ivan")["mfa_methods"] == ["email", "question"] and acct("ivan")["mfa_enrolled"] is False
    ci = acct("ci")
    assert ci["kind"] == "service" and ci["last_login"] is None and ci["last_login_known"] is True
    heidi = acct("heidi")
    assert heidi["status"] == "DEPROVISIONED" and heidi["active"] is False and heidi["privileges"] == ["ORG_ADMIN"]
    assert acct("frank")["last_login"] is None and acct("frank")["status"] == "STAGED"


def test_factor_read_failure_is_unknown_not_fail(org: OktaOrg, people: dict[str, str]) -> None:
    org.tenant.forbidden.append(f"^/api/v1/users/{people['dave']}/factors$")
    run = org.run()
    url = org.user_url(people["dave"])
    assert run.status("okta.user.active_factor_enrolled", url) == "error"
    assert "E0000006" in run.message("okta.user.active_factor_enrolled", url)
    assert run.status("okta.user.active_factor_enrolled", org.user_url(people["erin"])) == "pass"


def test_unreadable_roles_make_admin_rules_errors(org: OktaOrg, people: dict[str, str]) -> None:
    org.tenant.forbidden.append(r"^/api/v1/iam/")
    run = org.run()
    dave = org.user_url(people["dave"])
    assert run.status("okta.user.admin_factor_enrolled", dave) == "error"
    assert run.status("okta.user.admin_factor_enrolled", org.user_url(people["alice"])) == "pass"
    assert any(e.resource_type == "okta.admin_role" and "E0000006" in e.message for e in run.errors)
    # a suspended user whose roles could not be read is not proven role-free
    assert run.status("okta.user.inactive_without_admin_roles", org.user_url(people["grace"])) == "error"


def test_authentication_policies_decide_when_the_session_policy_does_not(org: OktaOrg) -> None:
    t = org.tenant
    contractors = t.add_group("Contractors")
    t.add_policy("OKTA_SIGN_ON", "Default Policy", system=True, rules=(signon_rule(False),))
    strict = t.add_policy("ACCESS_POLICY", "Any two factors", rules=(access_rule("2FA"),))
    mixed = t.add_policy("ACCESS_POLICY", "Wiki", rules=(
        {**access_rule("1FA", people={"groups": {"include": [contractors]}}), "priority": 1},
        {**access_rule("2FA"), "priority": 2}))
    t.add_policy("ACCESS_POLICY", "Unused", rules=(access_rule("1FA"),))  # no app uses it
    t.add_app("slack", "Slack", access_policy=strict)
    t.add_app("wiki", "Wiki", access_policy=mixed)
    staff = t.add_user("erin@acme.example", factors=(("push", "ACTIVE"),))
    contractor = t.add_user("mallory@contractor.example", groups=(contractors,), factors=(("push", "ACTIVE"),))
    run = org.run()
    assert run.status("okta.user.mfa_required_by_policy", org.user_url(staff)) == "pass"
    assert run.status("okta.user.mfa_required_by_policy", org.user_url(contractor)) == "fail"
    assert "Wiki / Rule 1" in run.message("okta.user.mfa_required_by_policy", org.user_url(contractor))
    assert len(org.api.calls(path="^/api/v1/groups/")) >= 1  # the contractors group was read for its members


def test_classic_engine_has_no_authentication_policies(org: OktaOrg) -> None:
    org.tenant.engine = "classic"
    org.tenant.add_policy("OKTA_SIGN_ON", "Default Policy", system=True, rules=(signon_rule(False),))
    user = org.tenant.add_user("dave@acme.example", factors=(("push", "ACTIVE"),))
    got = org.collect()
    assert not got.errors  # ACCESS_POLICY is refused in Classic orgs: nothing to read, not a failure
    data = got.of("okta.user")[org.user_url(user)].data["annexa"]
    assert data["mfaRequired"] is False
    assert "Classic" in data["mfaPolicy"]["authenticationPolicies"]["reason"]


def test_unreadable_sign_on_policies_leave_mfa_enforcement_unknown(org: OktaOrg, people: dict[str, str]) -> None:
    org.tenant.forbidden.append(r"^/api/v1/policies")
    run = org.run()
    assert run.status("okta.user.mfa_required_by_policy", org.user_url(people["erin"])) == "error"
    accounts = org.collect().of("identity.account")
    assert accounts[org.user_url(people["erin"])].data["mfa_enforced"] is None


def test_enrolment_secrets_of_pending_factors_are_not_kept(org: OktaOrg, people: dict[str, str]) -> None:
    import json

    raw = org.api.calls(path=f"/api/v1/users/{people['dave']}/factors")
    assert raw == []  # nothing read yet
    run = org.run()
    stored = stored_evidence(org.folder / "evidence")
    assert b"dave@acme.example" in stored and b"PENDING_ACTIVATION" in stored  # the evidence is there...
    assert b"HE64TMLL2IUZW2ZLB" not in stored and b"qrcode" not in stored  # ...without the enrolment secret
    dave = org.collect().of("okta.user")[org.user_url(people["dave"])].data["annexa"]["factors"]
    assert dave[0]["status"] == "PENDING_ACTIVATION" and "_embedded" not in json.dumps(dave)
    assert run.status("okta.user.active_factor_enrolled", org.user_url(people["dave"])) == "fail"
