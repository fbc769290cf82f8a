"""Acme's simulated Okta org for `annexa demo`: the shared cast, with the leaver who kept access.

alice (platform lead, super admin, MFA), bob (auditor, read-only admin), carol (left 30 days ago per HR,
still ACTIVE here), dave (no finished factor), erin (MFA), frank (joined 5 days ago, activation pending),
grace (serving notice), heidi (left 60 days ago, DEPROVISIONED but still assigned to Slack), ivan
(last sign-in 200 days ago), mallory@contractor.example (no HR record) and ci-bot (a service account,
marked by its Okta user type). A Classic Engine org with a weak password policy, an office-network
sign-on rule that skips MFA, and a System Log with an admin grant, a factor reset and a password-only
session.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from agent.fakeapi import FakeApi
from agent.fakeapi.okta import OktaTenant, serve

TOKEN_ENV = "DEMO_OKTA_TOKEN"
TOKEN = "demo-okta-api-token-not-a-secret"
ANYWHERE = {"network": {"connection": "ANYWHERE"}}


def _signon(require: bool, conditions: dict[str, object]) -> dict[str, object]:
    return {"conditions": conditions, "actions": {"signon": {"access": "ALLOW", "requireFactor": require,
                                                             "factorPromptMode": "ALWAYS"}}}


def build_tenant() -> tuple[OktaTenant, dict[str, str]]:
    t = OktaTenant(engine="classic", tokens={TOKEN: "SSWS"})
    admins = t.add_group("Platform admins")
    t.add_user_type("serviceAccount", "Service Account")
    u = {
        "alice": t.add_user("alice@acme.example", first="Alice", last="Lindqvist", groups=(admins,),
                            factors=(("push", "ACTIVE"), ("webauthn", "ACTIVE")), roles=("SUPER_ADMIN",)),
        "bob": t.add_user("bob@acme.example", first="Bob", last="Mensah", factors=(("webauthn", "ACTIVE"),),
                          roles=("READ_ONLY_ADMIN",), last_login_days=3),
        "carol": t.add_user("carol@acme.example", first="Carol", last="Dubois", factors=(("push", "ACTIVE"),),
                            last_login_days=31),
        "dave": t.add_user("dave@acme.example", first="Dave", last="Okafor",
                           factors=(("token:software:totp", "PENDING_ACTIVATION"),), last_login_days=2),
        "erin": t.add_user("erin@acme.example", first="Erin", last="Novak", factors=(("push", "ACTIVE"),)),
        "frank": t.add_user("frank@acme.example", first="Frank", last="Ibarra", status="PROVISIONED",
                            created_days=5),
        "grace": t.add_user("grace@acme.example", first="Grace", last="Sato", factors=(("push", "ACTIVE"),)),
        "heidi": t.add_user("heidi@acme.example", first="Heidi", last="Brandt", status="DEPROVISIONED",
                            status_changed_days=60, last_login_days=61),
        "ivan": t.add_user("ivan@acme.example", first="Ivan", last="Petrov", factors=(("sms", "ACTIVE"),),
                           last_login_days=200),
        "mallory": t.add_user("mallory@contractor.example", first="Mallory", last="Reyes",
                              factors=(("push", "ACTIVE"),), last_login_days=4),
        "ci": t.add_user("ci-bot@acme.example", first="CI", last="Bot", user_type="serviceAccount",
                         last_login_days=None),
    }
    u["password"] = t.add_policy("PASSWORD", "Default Policy", system=True, settings={"password": {
        "complexity": {"minLength": 8, "minLowerCase": 1, "minUpperCase": 1, "minNumber": 1, "minSymbol": 0,
                       "excludeUsername": True, "dictionary": {"common": {"exclude": False}},
                       "excludeAttributes": []},
        "age": {"maxAgeDays": 0, "expireWarnDays": 0, "minAgeMinutes": 0, "historyCount": 0},
        "lockout": {"maxAttempts": 10, "autoUnlockMinutes": 30, "userLockoutNotificationChannels": ["EMAIL"],
                    "showLockoutFailures": False}}})
    t.add_policy("OKTA_SIGN_ON", "Platform admins", priority=1, groups=(admins,), rules=(_signon(True, ANYWHERE),))
    t.add_policy("OKTA_SIGN_ON", "Default Policy", priority=2, system=True, rules=(
        _signon(False, {"network": {"connection": "ZONE", "include": ["nzoAcmeOffice"]}}),
        _signon(True, ANYWHERE)))
    t.add_app("slack", "Slack", users=(u["alice"], u["bob"], u["erin"], u["carol"], u["heidi"]))
    t.add_app("github_enterprise", "GitHub Enterprise", users=(u["alice"], u["dave"], u["mallory"], u["ci"]))
    t.add_event("user.account.privilege.grant", actor=u["alice"], minutes_ago=60 * 24 * 3,
                targets=(t.user_target(u["bob"]),), message="Grant user privilege (Read-only Administrator)")
    t.add_event("user.mfa.factor.reset_all", actor=u["alice"], minutes_ago=60 * 24 * 2,
                targets=(t.user_target(u["dave"]),), message="Reset all factors for user")
    t.add_event("policy.rule.update", actor=u["alice"], minutes_ago=60 * 24,
                targets=({"id": "0prOffice", "type": "PolicyRule", "alternateId": "Office network",
                          "displayName": "Office network", "detailEntry": None},))
    for who, sid, factor, ago in ((u["alice"], "idxAlice", "OKTA_VERIFY_PUSH", 240),
                                  (u["dave"], "idxDave", None, 180)):
        t.add_event("user.session.start", actor=who, minutes_ago=ago, session=sid)
        if factor:
            t.add_event("user.authentication.auth_via_mfa", actor=who, minutes_ago=ago - 0.2, session=sid,
                        debug={"factor": factor})
        t.add_event("user.authentication.sso", actor=who, minutes_ago=ago - 0.5, session=sid,
                    targets=({"id": "0oaSlack", "type": "AppInstance", "alternateId": "Slack",
                              "displayName": "Slack", "detailEntry": None},))
    return t, u


class OktaDemo:
    source = "demo-okta"
    title = "Okta org (simulated): 11 users, password and sign-on policies, apps, System Log"

    def __init__(self) -> None:
        self.tenant, self.ids = build_tenant()
        self.api: FakeApi | None = None

    def start(self, folder: Path, today: date) -> None:
        self.api = serve(self.tenant).start()

    def source_yaml(self) -> str:
        assert self.api is not None
        return (f"- name: {self.source}\n  type: okta\n  endpoint: {self.api.url}\n  token_env: {TOKEN_ENV}\n"
                "  log_lookback_days: 7\n")

    def env(self) -> dict[str, str]:
        return {TOKEN_ENV: TOKEN}

    def apply_fixes(self) -> list[str]:
        t = self.tenant
        for factor in t.factors[self.ids["dave"]]:
            factor["status"] = "ACTIVE"
        complexity = next(p for p in t.policies if p["id"] == self.ids["password"])["settings"]["password"]
        complexity["complexity"]["minLength"] = 14
        complexity["complexity"]["dictionary"]["common"]["exclude"] = True
        complexity["age"]["historyCount"] = 5
        return ["Okta: dave finished enrolling his authenticator app",
                "Okta: the default password policy now asks for 14 characters, blocks common passwords and "
                "remembers 5"]

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None


PROVIDER = OktaDemo
