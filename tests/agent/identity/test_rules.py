"""The cross-source identity rules, each with passing and failing accounts asserted by id.

Accounts are built exactly as the collectors build them (IdentityAccount(...).to_resource()), for
several providers at once; dates are judged on the rule set's clock (NOW), never the wall clock.
"""

from __future__ import annotations

from datetime import timedelta

from agent.config import IdentityConfig
from tests.agent.identity.helpers import NOW, account, ago, day, evaluate, person

LEAVER = "identity.leaver_accounts_disabled"
ORPHAN = "identity.orphan_accounts"
STALE = "identity.stale_accounts"
MFA = "identity.mfa_enrolled"
PRIV_MFA = "identity.privileged_mfa_enforced"
REVIEW = "identity.privileged_access_review"
SERVICE = "identity.service_account_not_privileged"
ACME = IdentityConfig(domains=["acme.com", "acme.io"], aliases={"github:carol-acme": "carol@acme.com"},
                      service_accounts=["ci-bot@acme.com", "aws:deploy-*"])


def test_leaver_with_accounts_in_three_sources_fails_on_each_active_one() -> None:
    okta, gws, aws = (account("okta", "carol@acme.com"), account("google_workspace", "carol@acme.io"),
                      account("aws", "carol@acme.com"))
    gh_disabled = account("github", "carol-acme", email=None, active=False)
    roster = person("carol@acme.com", status="terminated", end=day(-30), row=4)
    out = evaluate(LEAVER, [roster, okta, gws, aws, gh_disabled], identity=ACME)
    for acct in (okta, gws, aws):
        status, message = out[acct.id]
        assert status == "fail"
        assert "left 30 days ago" in message and "3 active account(s) left" in message
        assert "okta:carol@acme.com" in message and "aws:carol@acme.com" in message
    assert out[gh_disabled.id][0] == "pass" and "disabled" in out[gh_disabled.id][1]
    assert out[roster.id][0] == "fail" and "still has 3 active account(s)" in out[roster.id][1]


def test_leaver_with_every_account_disabled_passes() -> None:
    roster = person("heidi@acme.com", status="terminated", end=day(-60))
    accounts = [account("okta", "heidi@acme.com", active=False), account("aws", "heidi@acme.com", active=False)]
    out = evaluate(LEAVER, [roster, *accounts], identity=ACME)
    assert {s for s, _ in out.values()} == {"pass"}
    assert "all 2 account(s) found are disabled" in out[roster.id][1]


def test_serving_notice_passes_and_becomes_a_fail_after_the_end_date() -> None:
    roster = person("grace@acme.com", end=day(20))
    okta = account("okta", "grace@acme.com")
    assert evaluate(LEAVER, [roster, okta])[okta.id][0] == "pass"
    later = NOW + timedelta(days=21)
    status, message = evaluate(LEAVER, [roster, okta], now=later)[okta.id]
    assert status == "fail" and "left 1 days ago" in message


def test_grace_period_parameter() -> None:
    roster = person("carol@acme.com", end=day(-3))
    okta = account("okta", "carol@acme.com")
    assert evaluate(LEAVER, [roster, okta])[okta.id][0] == "fail"  # default grace: 0 days
    within = evaluate(LEAVER, [roster, okta], params={"leaver_grace_days": 5})[okta.id]
    assert within[0] == "pass" and "5-day grace period" in within[1]
    assert evaluate(LEAVER, [roster, okta], params={"leaver_grace_days": 2})[okta.id][0] == "fail"


def test_left_status_without_end_date_fails_whatever_the_grace() -> None:
    roster = person("ivan@acme.com", status="Terminated")
    okta = account("okta", "ivan@acme.com")
    status, message = evaluate(LEAVER, [roster, okta], params={"leaver_grace_days": 30})[okta.id]
    assert status == "fail" and "no end date" in message


def test_current_employee_accounts_pass_the_leaver_rule() -> None:
    okta = account("okta", "alice@acme.com")
    out = evaluate(LEAVER, [person("alice@acme.com", start=day(-400)), okta])
    assert out[okta.id][0] == "pass"


def test_hr_record_in_error_makes_the_persons_accounts_error_never_pass() -> None:
    roster = person("carol@acme.com", end=None, row=9, errors=["roster.csv line 9: end_date '31/02' is not a date"])
    okta = account("okta", "carol@acme.com")
    for rule in (LEAVER, ORPHAN):
        status, message = evaluate(rule, [roster, okta])[okta.id]
        assert status == "error" and "line 9" in message


def test_duplicate_record_of_a_leaver_is_error() -> None:
    first = person("carol@acme.com", status="terminated", end=day(-10), row=3)
    dup = person("carol@acme.com", status="active", row=8, origin="file:///hr/roster.csv#L8",
                 errors=["roster.csv line 8: the same person (carol@acme.com) as line 3"])
    okta = account("okta", "carol@acme.com")
    assert evaluate(LEAVER, [first, dup, okta])[okta.id][0] == "error"


def test_orphans_pass_fail_service_and_external() -> None:
    alice, mallory = account("okta", "alice@acme.io"), account("okta", "mallory@contractor.example")
    guest = account("google_workspace", "guest@partner.example", external=True)
    bot, deployer = account("okta", "ci-bot@acme.com"), account("aws", "deploy-payments")
    marked = account("github", "renovate", email=None, kind="service")
    nameless = account("github", "dave-acme", email=None)
    disabled = account("okta", "old@acme.com", active=False)
    leaver = account("okta", "carol@acme.com")
    roster = [person("alice@acme.com"), person("carol@acme.com", end=day(-5))]
    out = evaluate(ORPHAN, [*roster, alice, mallory, guest, bot, deployer, marked, nameless, disabled, leaver],
                   identity=ACME)
    assert out[alice.id][0] == "pass"
    assert out[mallory.id] == ("fail", out[mallory.id][1]) and "no HR record for mallory@contractor.example" \
        in out[mallory.id][1]
    assert out[guest.id][0] == "fail" and "external" in out[guest.id][1]
    assert out[bot.id][0] == out[deployer.id][0] == out[marked.id][0] == "pass"
    assert out[nameless.id][0] == "fail" and "identity.aliases" in out[nameless.id][1]
    assert out[leaver.id][0] == "fail" and "no longer employed" in out[leaver.id][1]
    assert disabled.id not in out  # inactive accounts are not orphans
    allowed = evaluate(ORPHAN, [*roster, guest], identity=ACME, params={"allow_external": True})
    assert allowed[guest.id][0] == "pass"


def test_unreadable_roster_rows_turn_unmatched_accounts_into_errors() -> None:
    bad = person("", row=12, errors=["roster.csv line 12: no e-mail"], origin="file:///hr/roster.csv#L12")
    mallory, alice = account("okta", "mallory@contractor.example"), account("okta", "alice@acme.com")
    out = evaluate(ORPHAN, [bad, person("alice@acme.com"), mallory, alice])
    assert out[mallory.id][0] == "error" and "line 12" in out[mallory.id][1]
    assert out[alice.id][0] == "pass"  # a matched account is still judged


def test_stale_accounts() -> None:
    fresh, stale = account("okta", "alice@acme.com", last_login=ago(10)), account("aws", "ivan@acme.com",
                                                                                      last_login=ago(120))
    joiner = account("okta", "frank@acme.com", last_login=None, created=ago(3))
    ghost = account("google_workspace", "old@acme.com", last_login=None, created=ago(200))
    blind = account("github", "erin-acme", email=None, last_login=None, last_login_known=False)
    undated = account("okta", "x@acme.com", last_login=None, created=None)
    garbled = account("okta", "y@acme.com", last_login="yesterday")
    inactive = account("okta", "z@acme.com", active=False, last_login=ago(900))
    out = evaluate(STALE, [fresh, stale, joiner, ghost, blind, undated, garbled, inactive])
    assert out[fresh.id][0] == "pass"
    assert out[stale.id] == ("fail", "aws:ivan@acme.com (111111111111) last signed in 120 days ago (limit 90)")
    assert out[joiner.id][0] == "pass" and "joiner" in out[joiner.id][1]
    assert out[ghost.id][0] == "fail" and "never signed in" in out[ghost.id][1]
    assert blind.id not in out and inactive.id not in out  # not judged: the source cannot know
    assert out[undated.id][0] == "error" and out[garbled.id][0] == "error"
    assert evaluate(STALE, [stale], params={"stale_after_days": 180})[stale.id][0] == "pass"


def test_stale_uses_the_hr_start_date_of_a_recent_joiner() -> None:
    # the account was pre-created 120 days ago, the person started 5 days ago and has not signed in yet
    frank = account("okta", "frank@acme.com", last_login=None, created=ago(120))
    assert evaluate(STALE, [frank])[frank.id][0] == "fail"
    assert evaluate(STALE, [frank, person("frank@acme.com", start=day(-5))])[frank.id][0] == "pass"


def test_mfa_enrolled() -> None:
    yes, no = account("okta", "alice@acme.com", mfa_methods=["webauthn"]), account("aws", "bob@acme.com",
                                                                                   mfa_enrolled=False)
    unknown = account("github", "erin-acme", email=None, mfa_enrolled=None)
    bot = account("okta", "ci-bot@acme.com", mfa_enrolled=False)
    out = evaluate(MFA, [yes, no, unknown, bot], identity=ACME)
    assert out[yes.id] == ("pass", "okta:alice@acme.com (acme.okta.com) has MFA enrolled (webauthn)")
    assert out[no.id][0] == "fail"
    assert out[unknown.id][0] == "error"
    assert bot.id not in out  # machines are judged by identity.service_account_not_privileged


def test_privileged_mfa_enforced() -> None:
    admin = {"privileged": True, "privileges": ["Super Admin"]}
    enforced = account("google_workspace", "alice@acme.com", **admin)
    enrolled_only = account("okta", "dave@acme.com", mfa_enforced=False, **admin)
    none = account("aws", "bob@acme.com", mfa_enrolled=False, mfa_enforced=None, **admin)
    unknown = account("github", "erin-acme", email=None, mfa_enforced=None, **admin)
    plain = account("okta", "frank@acme.com", mfa_enforced=False)
    out = evaluate(PRIV_MFA, [enforced, enrolled_only, none, unknown, plain])
    assert out[enforced.id][0] == "pass"
    assert out[enrolled_only.id][0] == "fail" and "not enforced" in out[enrolled_only.id][1]
    assert out[none.id][0] == "fail" and "no second factor" in out[none.id][1]
    assert out[unknown.id][0] == "error"
    assert plain.id not in out


def test_privileged_access_review_population() -> None:
    admin = {"privileged": True, "privileges": ["AdministratorAccess (via group platform-admins)"]}
    alice = account("aws", "alice@acme.com", **admin)
    carol = account("okta", "carol@acme.com", privileges=["SUPER_ADMIN"], privileged=True)
    bob = account("aws", "bob@acme.com", mfa_enrolled=False, **admin)
    stranger = account("okta", "root@acme.com", **admin)
    unread = account("github", "erin-acme", email=None, mfa_enrolled=None, **admin)
    ordinary = account("okta", "dave@acme.com")
    roster = [person("alice@acme.com"), person("bob@acme.com"), person("carol@acme.com", end=day(-30))]
    out = evaluate(REVIEW, [*roster, alice, carol, bob, stranger, unread, ordinary])
    assert out[alice.id][0] == "pass" and "AdministratorAccess" in out[alice.id][1]
    assert out[carol.id][0] == "fail" and "left 30 days ago" in out[carol.id][1]
    assert out[bob.id][0] == "fail" and "no second factor" in out[bob.id][1]
    assert out[stranger.id][0] == "fail" and "matches no current employee" in out[stranger.id][1]
    assert out[unread.id][0] == "fail"  # unknown to HR decides before the unknown MFA state
    assert ordinary.id not in out
    # without HR records in the run the review still lists every privileged account
    no_hr = evaluate(REVIEW, [alice, stranger, unread])
    assert no_hr[alice.id][0] == no_hr[stranger.id][0] == "pass"
    assert no_hr[unread.id][0] == "error"


def test_service_accounts_hold_no_admin_rights() -> None:
    scoped = account("aws", "deploy-web")
    admin = account("aws", "deploy-legacy", privileged=True, privileges=["AdministratorAccess (managed policy)"])
    human = account("aws", "alice@acme.com", privileged=True)
    out = evaluate(SERVICE, [scoped, admin, human], identity=ACME)
    assert out[scoped.id][0] == "pass"
    assert out[admin.id][0] == "fail" and "AdministratorAccess" in out[admin.id][1]
    assert human.id not in out
