"""How a user's policies are read into "is a second factor required?" (collectors.okta.policies)."""

from __future__ import annotations

from typing import Any

from collectors.okta.policies import ACCESS, SIGN_ON, Policies, mfa_required

ANY = {"network": {"connection": "ANYWHERE"}}


def signon(name: str, priority: int, rules: list[dict[str, Any]], groups: list[str] | None = None,
           status: str = "ACTIVE") -> dict[str, Any]:
    return {"id": name, "name": name, "priority": priority, "status": status,
            "conditions": {"people": {"groups": {"include": groups or ["everyone"]}}},
            "annexa": {"rules": rules, "rulesError": None}}


def rule(name: str, priority: int, require: bool, conditions: dict[str, Any] | None = None,
         access: str = "ALLOW") -> dict[str, Any]:
    return {"id": name, "name": name, "priority": priority, "status": "ACTIVE", "conditions": conditions or ANY,
            "actions": {"signon": {"access": access, "requireFactor": require}}}


def app_rule(name: str, method: dict[str, Any], conditions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": name, "name": name, "priority": 1, "status": "ACTIVE", "conditions": conditions,
            "actions": {"appSignOn": {"access": "ALLOW", "verificationMethod": method}}}


NO_ACCESS = Policies(ACCESS, available=False)


def verdict(signon_items: list[dict[str, Any]], user: str = "u1", groups: frozenset[str] = frozenset(),
            access: Policies = NO_ACCESS, in_use: set[str] | None = None) -> bool | None:
    result = mfa_required(Policies(SIGN_ON, signon_items), access, in_use, user, {"everyone", *groups})
    return result["mfaRequired"]


def test_first_matching_policy_by_priority_decides() -> None:
    strict = signon("admins", 1, [rule("r", 1, True)], groups=["admins"])
    lax = signon("default", 2, [rule("r", 1, False)])
    assert verdict([lax, strict], groups=frozenset({"admins"})) is True
    assert verdict([lax, strict]) is False
    assert verdict([lax, {**strict, "status": "INACTIVE"}], groups=frozenset({"admins"})) is False


def test_a_catch_all_rule_hides_the_rules_after_it() -> None:
    zone = {"network": {"connection": "ZONE", "include": ["office"]}}
    assert verdict([signon("p", 1, [rule("any", 1, True), rule("office", 2, False, zone)])]) is True
    assert verdict([signon("p", 1, [rule("office", 1, False, zone), rule("any", 2, True)])]) is False


def test_people_conditions_on_rules() -> None:
    excluded = rule("skip", 1, False, {**ANY, "people": {"users": {"exclude": ["u1"]}}})
    assert verdict([signon("p", 1, [excluded, rule("any", 2, True)])]) is True
    assert verdict([signon("p", 1, [excluded, rule("any", 2, True)])], user="u2") is False
    deny_only = signon("p", 1, [rule("deny", 1, False, access="DENY")])
    assert verdict([deny_only]) is True  # nobody gets in with a password alone: nobody gets in at all


def test_unknown_stays_unknown() -> None:
    assert mfa_required(Policies(SIGN_ON, error="denied: ..."), NO_ACCESS, None, "u1", set())["mfaRequired"] is None
    broken = signon("p", 1, [])
    broken["annexa"]["rulesError"] = "denied: ..."
    assert verdict([broken]) is None
    assert verdict([signon("admins", 1, [rule("r", 1, True)], groups=["admins"])]) is None  # no policy applies


def test_authentication_policies_including_method_chains() -> None:
    session = [signon("default", 1, [rule("r", 1, False)])]
    two = {"type": "ASSURANCE", "factorMode": "2FA"}
    chain2 = {"type": "AUTH_METHOD_CHAIN", "chains": [{"authenticationMethods": [{"key": "okta_password"}],
                                                      "next": [{"authenticationMethods": [{"key": "okta_verify"}]}]}]}
    chain1 = {"type": "AUTH_METHOD_CHAIN", "chains": [{"authenticationMethods": [{"key": "okta_password"}]}]}
    for method, expected in ((two, True), (chain2, True), (chain1, False), ({"factorMode": "1FA"}, False)):
        access = Policies(ACCESS, [{"id": "p1", "name": "app", "priority": 1, "status": "ACTIVE",
                                    "annexa": {"rules": [app_rule("r", method)], "rulesError": None}}])
        assert verdict(session, access=access, in_use={"p1"}) is expected, method
        assert verdict(session, access=access, in_use=set()) is False  # no app uses it: nothing enforces MFA
    assert verdict(session, access=Policies(ACCESS, error="denied")) is None
