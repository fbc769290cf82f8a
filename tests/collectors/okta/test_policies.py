"""Okta password policy rules: each with a passing and a failing policy, asserted by the policy's API URL."""

from __future__ import annotations

from tests.collectors.okta.conftest import OktaOrg, password_settings


def test_password_policy_rules_pass_and_fail(org: OktaOrg) -> None:
    t = org.tenant
    strong = t.add_policy("PASSWORD", "Strong", priority=1, settings=password_settings())
    weak = t.add_policy("PASSWORD", "Legacy", priority=2, settings=password_settings(
        8, classes=1, history=0, attempts=0, common=False, exclude_username=False))
    lax_lockout = t.add_policy("PASSWORD", "Contractors", priority=3, settings=password_settings(attempts=50))
    off = t.add_policy("PASSWORD", "Switched off", priority=4, status="INACTIVE",
                       settings=password_settings(6, classes=0))
    run = org.run()
    s, w, lax = org.policy_url(strong), org.policy_url(weak), org.policy_url(lax_lockout)
    for rule in ("okta.password_policy.min_length", "okta.password_policy.complexity",
                 "okta.password_policy.common_passwords_blocked", "okta.password_policy.history",
                 "okta.password_policy.lockout"):
        assert run.status(rule, s) == "pass", rule
        assert run.status(rule, w) == "fail", rule
        assert org.policy_url(off) not in run.by_rule(rule)  # inactive policies govern nobody
    assert run.status("okta.password_policy.lockout", lax) == "fail"
    assert "50 failed attempts" in run.message("okta.password_policy.lockout", lax)
    assert "8 characters" in run.message("okta.password_policy.min_length", w)


def test_password_thresholds_are_parameters(org: OktaOrg) -> None:
    policy = org.tenant.add_policy("PASSWORD", "Default", settings=password_settings(12, history=4))
    url = org.policy_url(policy)
    assert org.run().status("okta.password_policy.min_length", url) == "pass"
    run = org.run(options="  params: {min_length: 16, min_history: 10}\n")
    assert run.status("okta.password_policy.min_length", url) == "fail"
    assert run.status("okta.password_policy.history", url) == "fail"


def test_unreadable_policies_are_errors_never_passes(org: OktaOrg) -> None:
    org.tenant.add_policy("PASSWORD", "Default", settings=password_settings())
    org.tenant.forbidden.append(r"^/api/v1/policies$")
    run = org.run()
    errors = {f["resource_id"]: f for f in run.findings if f["rule_id"] == "okta.password_policy.min_length"}
    assert len(errors) == 1
    (finding,) = errors.values()
    assert finding["status"] == "error" and "E0000006" in finding["message"] and "denied" in finding["message"]
    assert not [f for f in run.findings if f["status"] == "pass" and f["rule_id"].startswith("okta.password")]
