"""The Okta System Log: what is kept, sign-ins without MFA by session, and the cursor across runs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from agent.fakeapi.okta import OktaTenant
from collectors.logwindow import parse
from collectors.okta.syslog import FILTER, event_url
from tests.collectors.okta.conftest import OktaOrg

NO_APPS = "  applications: false\n"
LOG = "okta.log.no_sign_in_without_mfa"


def session(t: OktaTenant, user: str, sid: str, minutes_ago: float, *, factor: str | None = None,
            app: bool = True) -> str:
    """A sign-in: session start, optionally an MFA verification with `factor`, optionally an app opened."""
    start = t.add_event("user.session.start", actor=user, minutes_ago=minutes_ago, session=sid)
    if factor is not None:
        password = factor == "Password"
        t.add_event("user.authentication.auth_via_mfa", actor=user, minutes_ago=minutes_ago - 0.2, session=sid,
                    debug={} if password else {"factor": factor},
                    targets=({"id": "pfd1", "type": "AuthenticatorEnrollment", "alternateId": "unknown",
                              "displayName": factor, "detailEntry": None},))
    if app:
        t.add_event("user.authentication.sso", actor=user, minutes_ago=minutes_ago - 0.5, session=sid,
                    targets=({"id": "0oa1", "type": "AppInstance", "alternateId": "Slack", "displayName": "Slack",
                              "detailEntry": None},))
    return start


@pytest.fixture
def log(org: OktaOrg) -> dict[str, str]:
    t = org.tenant
    alice = t.add_user("alice@acme.example", roles=("SUPER_ADMIN",))
    dave = t.add_user("dave@acme.example")
    bob = t.add_user("bob@acme.example")
    ids = {"alice": alice, "dave": dave}
    ids["grant"] = t.add_event("user.account.privilege.grant", actor=alice, minutes_ago=60 * 24 * 10,
                               targets=(t.user_target(dave),), message="Grant user privilege")
    ids["old_grant"] = t.add_event("user.account.privilege.grant", actor=alice, minutes_ago=60 * 24 * 40,
                                   targets=(t.user_target(bob),))
    ids["failed_grant"] = t.add_event("user.account.privilege.grant", actor=alice, minutes_ago=600,
                                      outcome="FAILURE", targets=(t.user_target(bob),))
    ids["reset"] = t.add_event("user.mfa.factor.reset_all", actor=alice, minutes_ago=300,
                               targets=(t.user_target(bob),))
    ids["policy"] = t.add_event("policy.rule.update", actor=alice, minutes_ago=200,
                                targets=({"id": "0pr1", "type": "PolicyRule", "alternateId": "Rule 1",
                                          "displayName": "Rule 1", "detailEntry": None},))
    t.add_event("policy.evaluate_sign_on", actor=dave, minutes_ago=120)  # not asked for
    session(t, alice, "idx-alice", 120, factor="Okta Verify")
    ids["single"] = session(t, dave, "idx-dave", 100)
    ids["password_only"] = session(t, bob, "idx-bob", 90, factor="Password")
    session(t, dave, "idx-abandoned", 80, app=False)  # MFA prompt abandoned: no app reached
    ids["young"] = session(t, dave, "idx-young", 3)   # judged next run
    return ids


def test_first_run_reads_the_lookback_with_a_filter_and_judges_sessions(org: OktaOrg, log: dict[str, str]) -> None:
    run = org.run(NO_APPS)
    activity = f"{org.url}/api/v1/logs"
    assert run.status(LOG, activity) == "fail"
    message = run.message(LOG, activity)
    assert message.startswith("2 recent Okta sessions") and "bob@acme.example" in message
    for rule in ("okta.log.admin_privilege_grants_recorded", "okta.log.mfa_factor_resets_recorded",
                 "okta.log.policy_changes_recorded"):
        assert run.status(rule, activity) == "pass"
    assert "1 admin role grants" in run.message("okta.log.admin_privilege_grants_recorded", activity)
    (call,) = org.api.calls(path="^/api/v1/logs$")
    since, until = parse(call.query["since"][0]), parse(call.query["until"][0])
    assert since and until and timedelta(days=29.9) < until - since <= timedelta(days=30)
    assert call.query["filter"] == [FILTER] and call.query["limit"] == ["1000"]
    got = org.collect(NO_APPS)
    events = got.of("okta.log.event")
    assert set(events) == {event_url(org.url, log[k]) for k in ("grant", "reset", "policy", "single",
                                                                 "password_only")}
    assert events[event_url(org.url, log["single"])].data["annexa"]["categories"] == ["sign_in_without_mfa"]


def test_second_run_overlaps_counts_nothing_twice_and_judges_deferred_sessions(org: OktaOrg,
                                                                             log: dict[str, str]) -> None:
    first = org.collect(NO_APPS)
    state = first.cursor["okta/system-log"]
    until = parse(state["until"])
    assert until is not None
    org.api.reset_log()
    second = org.collect(NO_APPS, cursor=first.cursor)
    (call,) = org.api.calls(path="^/api/v1/logs$")
    assert parse(call.query["since"][0]) == until - timedelta(minutes=30)
    cats = second.of("okta.log.activity")[f"{org.url}/api/v1/logs"].data["Categories"]
    assert cats["admin_privilege_grant"]["Count"] == 1
    assert cats["sign_in_without_mfa"]["Count"] == 2  # read again in the overlap, not counted again
    # the young session is still within the settle time of this window too: it waits, it is not lost
    assert log["young"] not in state["seen"]


def test_young_sessions_are_counted_once_they_settle(org: OktaOrg, log: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import collectors.logwindow as lw

    first = org.collect(NO_APPS)
    later = datetime.fromisoformat(first.cursor["okta/system-log"]["until"].replace("Z", "+00:00")) \
        + timedelta(minutes=15)
    monkeypatch.setattr(lw, "utcnow", lambda: later)
    second = org.collect(NO_APPS, cursor=first.cursor)
    cats = second.of("okta.log.activity")[f"{org.url}/api/v1/logs"].data["Categories"]
    assert cats["sign_in_without_mfa"]["Count"] == 3
    assert cats["sign_in_without_mfa"]["Recent"][0]["Uuid"] == log["young"]


def test_every_session_with_a_second_factor_passes(org: OktaOrg) -> None:
    t = org.tenant
    erin = t.add_user("erin@acme.example")
    session(t, erin, "idx-1", 50, factor="Okta Verify")
    session(t, erin, "idx-2", 40, factor="Google Authenticator")
    run = org.run(NO_APPS)
    assert run.status(LOG, f"{org.url}/api/v1/logs") == "pass"


def test_cursor_moves_only_when_the_log_was_read(org: OktaOrg, log: dict[str, str]) -> None:
    org.tenant.forbidden.append(r"^/api/v1/logs$")
    failed = org.run(NO_APPS)
    assert failed.store.cursor_value("okta", "okta/system-log") is None
    assert failed.by_rule(LOG) and set(failed.by_rule(LOG).values()) == {"error"}
    assert any("E0000006" in f["message"] for f in failed.findings if f["rule_id"] == LOG)
    org.tenant.forbidden.clear()
    ok = org.run(NO_APPS)
    saved = ok.store.cursor_value("okta", "okta/system-log")
    assert saved and saved["until"]
    org.api.reset_log()
    org.run(NO_APPS)
    (call,) = org.api.calls(path="^/api/v1/logs$")
    assert parse(call.query["since"][0]) == parse(saved["until"]) - timedelta(minutes=30)


def test_log_pages_are_followed(org: OktaOrg) -> None:
    t = org.tenant
    alice = t.add_user("alice@acme.example")
    for n in range(1203):
        t.add_event("policy.rule.update", actor=alice, minutes_ago=5000 - n)
    got = org.collect(NO_APPS)
    cats = got.of("okta.log.activity")[f"{org.url}/api/v1/logs"].data["Categories"]
    assert cats["policy_change"]["Count"] == 1203 and len(cats["policy_change"]["Recent"]) == 20
    calls = org.api.calls(path="^/api/v1/logs$")
    assert len(calls) == 2 and "after" in calls[1].query


def test_recorded_rules_fail_on_a_summary_with_no_history_read() -> None:
    """The collector yields a summary only after reading the log (else the type is `error`), and nothing
    in it changes from run to run; the failing shape is judged on a stored-form summary."""
    from agent.model import Resource
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from collectors.registry import known_resource_types

    recorded = ("okta.log.admin_privilege_grants_recorded", "okta.log.mfa_factor_resets_recorded",
                "okta.log.policy_changes_recorded")
    rules = RuleSet([r for r in load_rules(known_types=set(known_resource_types())) if r.id in recorded])
    empty = {"Count": 0, "Last": None, "Recent": []}
    base = {"ObservedSince": "2026-01-01T00:00:00Z", "RetentionDays": 90,
            "Categories": {c: empty for c in ("admin_privilege_grant", "mfa_factor_reset", "policy_change")}}

    def judge(data: dict[str, object]) -> list[str]:
        resource = Resource("okta.log.activity", "https://acme.okta.example/api/v1/logs", "log", data)
        return [ev.status.value for _, ev in rules.evaluate(resource)]

    assert judge(base) == ["pass"] * 3
    assert judge(base | {"ObservedSince": None}) == ["fail"] * 3
