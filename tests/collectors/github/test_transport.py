"""GitHub transport through the whole pipeline: headers, paging, ETags across runs, rate limits, GraphQL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agent.fakeapi import errors as fe
from agent.fakeapi.github import Alert, GitHubOrg, serve
from agent.http import HttpClient, ReadOnlyViolation
from agent.runner import default_http_factory
from collectors.github import GitHubCollector, graphql_url
from collectors.github.graphql import GraphQL, GraphQLRefused, check_query_only
from collectors.github.ratelimit import RateBudget
from tests.collectors.github.conftest import TOKEN_ENV, WEB, acme, ago, ms_ago, run_sources, served, source_yaml


def big_org(repos: int = 230, alerts: int = 120) -> GitHubOrg:
    org = GitHubOrg("bigco")
    org.member("owner1", "admin")
    org.member("dev1")
    for i in range(repos):
        org.repo(f"svc-{i:04d}", created_at=f"2023-01-01T00:{i // 60:02d}:{i % 60:02d}Z")
    org.dependabot += [Alert(f"svc-{i % repos:04d}", "high", ago(1)) for i in range(alerts)]
    return org


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def factory_with(sleep: Any) -> Any:
    def make(src: Any) -> Any:
        base = default_http_factory(src)
        return lambda **kw: base(**{**kw, "sleep": sleep})
    return make


def test_headers_paging_and_no_repeated_request(tmp_path: Path) -> None:
    org = big_org()
    with served(org) as fake:
        run = run_sources(tmp_path, source_yaml("gh", org, fake), env={TOKEN_ENV: org.token})
    assert run.result.status == "complete", run.errors
    gets = fake.calls("GET")
    for call in fake.log:
        headers = {k.lower(): v for k, v in call.headers.items()}
        assert headers["authorization"] == f"Bearer {org.token}"
        if call.method == "GET":
            assert headers["accept"] == "application/vnd.github+json"
            assert headers["x-github-api-version"] == "2022-11-28"
    listing = [c for c in gets if c.path == "/orgs/bigco/repos"]
    assert [c.query.get("page") for c in listing] == [None, ["2"], ["3"]]
    assert all(c.query["per_page"] == ["100"] for c in listing)
    alerts = [c for c in gets if c.path == "/orgs/bigco/dependabot/alerts"]
    assert len(alerts) == 2 and alerts[1].query["after"][0] and alerts[0].query["severity"] == ["critical,high"]
    repeated = Counter((c.method, c.path, tuple(sorted((k, tuple(v)) for k, v in c.query.items()))) for c in gets)
    assert max(repeated.values()) == 1, [k for k, n in repeated.items() if n > 1][:3]
    assert len(run.by_rule("github.repo.dependabot_alerts_within_sla")) == 230
    # repositories with alerts in the org listing skip the per-repository enablement call
    assert len(fake.calls("GET", r"/vulnerability-alerts$")) == 230 - 120


def test_etags_kept_across_runs_make_the_second_run_free(tmp_path: Path) -> None:
    org = acme()
    with served(org, rate_limit=(5000, 3600)) as fake:
        first = run_sources(tmp_path, source_yaml("gh", org, fake), env={TOKEN_ENV: org.token})
        remaining_after_first = _remaining(fake)
        fake.reset_log()
        second = run_sources(tmp_path, source_yaml("gh", org, fake), env={TOKEN_ENV: org.token},
                             store=first.store)
        remaining_after_second = _remaining(fake)
    assert first.result.status == second.result.status == "complete"
    gets = fake.calls("GET")
    # the audit log's first incremental step asks from the newest event read, a new query (then stable)
    assert gets and Counter(c.status for c in gets if "/audit-log" not in c.path).keys() <= {304, 404, 204, 403}
    assert sum(1 for c in gets if c.status == 304) >= 30
    for call in gets:
        if call.status == 304:
            assert {k.lower(): v for k, v in call.headers.items()}["if-none-match"]
    # only the uncacheable answers (GraphQL POSTs, 204/404 answers) used the budget
    uncached = len(fake.calls("POST")) + sum(1 for c in gets if c.status != 304)
    assert remaining_after_first - remaining_after_second == uncached
    assert {(f["rule_id"], f["resource_id"], f["status"]) for f in first.findings} == \
           {(f["rule_id"], f["resource_id"], f["status"]) for f in second.findings}
    assert GitHubCollector.last_stats["not_modified"] >= 30


def _remaining(fake: Any) -> int:
    limiter = fake._limits[0]
    return limiter.remaining()[0]


def test_secondary_rate_limit_without_headers_waits_at_least_a_minute(tmp_path: Path) -> None:
    org = acme()
    sleeps = Sleeps()
    with served(org) as fake:
        fake.fail(r"^/orgs/acme/teams$", lambda r: fe.github_secondary_rate_limited(r), times=1)
        fake.fail(r"^/orgs/acme/invitations$", lambda r: fe.github_secondary_rate_limited(r, status=429), times=1)
        fake.fail(r"^/orgs/acme/hooks$", lambda r: fe.github_secondary_rate_limited(r, retry_after_s=7), times=1)
        run = run_sources(tmp_path, source_yaml("gh", org, fake), env={TOKEN_ENV: org.token},
                          http_factory=factory_with(sleeps))
    assert run.result.status == "complete", run.errors
    waits = sorted(sleeps)
    assert 7.0 in waits and sum(1 for s in waits if s >= 60.0) == 2, waits
    assert [c.status for c in fake.calls("GET", r"^/orgs/acme/teams$")] == [403, 200]


def test_primary_rate_limit_pauses_until_reset_without_a_403(tmp_path: Path) -> None:
    org = acme()
    with served(org, rate_limit=(40, 2.0)) as fake:
        run = run_sources(tmp_path, source_yaml("gh", org, fake, "    rate_limit_reserve: 8\n"),
                          env={TOKEN_ENV: org.token})
    assert run.result.status == "complete", run.errors
    assert GitHubCollector.last_stats["pauses"] >= 1
    assert not [c for c in fake.log if c.status == 403 and "rate limit" in str(c.headers).lower()]
    assert fake._limits[0].refused == 0


def test_rate_budget_spreads_the_last_requests_and_pauses_when_spent() -> None:
    clock = [1000.0]
    sleeps = Sleeps()

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock[0] += s

    budget = RateBudget(reserve=1, per_minute=0, sleep=sleep, clock=lambda: clock[0], monotonic=lambda: clock[0])
    budget.before("core")
    budget.observe("core", {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "5",
                            "x-ratelimit-reset": "1040", "x-ratelimit-resource": "core"})
    for _ in range(4):
        budget.before("core")
    assert sleeps and all(s > 0 for s in sleeps[1:])  # spread: remaining under 10% of the limit
    budget.before("core")  # estimate reached the reserve: wait for the reset
    assert clock[0] >= 1040 and budget.pauses == 1
    assert budget.snapshot()["core"]["remaining"] == 5


def test_graphql_is_query_only_and_refused_before_sending() -> None:
    for bad in ("mutation { addStar(input: {starrableId: \"x\"}) { clientMutationId } }",
                "subscription { x }", "query A { a } mutation B { b }", "{ unclosed"):
        with pytest.raises(GraphQLRefused):
            check_query_only(bad)
    check_query_only("query Q($o: String!) { organization(login: $o) { login } }")
    org = GitHubOrg("acme")
    org.member("alice", "admin")
    with served(org) as fake:
        client = HttpClient(base_url=fake.url, headers={"Authorization": f"Bearer {org.token}"},
                            allow_post=[f"^{fake.url}/graphql$"])
        from collectors.github.api import GitHubApi

        gql = GraphQL(GitHubApi(client, fake.url, budget=RateBudget(per_minute=0)), f"{fake.url}/graphql")
        with pytest.raises(GraphQLRefused):
            gql.query("mutation { deleteRepository(input: {}) { clientMutationId } }")
        assert gql.query("query { organization(login: \"acme\") { login } }") == {"organization": {"login": "acme"}}
        with pytest.raises(ReadOnlyViolation):
            client.request("POST", f"{fake.url}/orgs/acme/hooks", json={})
        with pytest.raises(ReadOnlyViolation):
            client.request("PATCH", f"{fake.url}/orgs/acme", json={})
    assert [c.method for c in fake.log] == ["POST"]  # only the one query reached the server


def test_graphql_url_for_github_and_enterprise_server() -> None:
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.acme.example/api/v3/") == "https://ghe.acme.example/api/graphql"


def test_github_enterprise_server_endpoint(tmp_path: Path) -> None:
    org = acme()
    org.web = "https://ghe.acme.example"
    fake = serve(org, prefix="/api/v3", graphql_path="/api/graphql").start()
    try:
        text = source_yaml("ghes", org, fake).replace(f"endpoint: {fake.url}", f"endpoint: {fake.url}/api/v3")
        run = run_sources(tmp_path, text, env={TOKEN_ENV: org.token})
    finally:
        fake.stop()
    assert run.result.status == "complete", run.errors
    assert run.status("github.repo.default_branch_protected", "https://ghe.acme.example/acme/api") == "pass"
    assert fake.calls("POST", r"^/api/graphql$") and all(c.path.startswith("/api/") for c in fake.log)


def test_bad_token_and_missing_token_are_errors_for_every_type(tmp_path: Path) -> None:
    org = acme()
    with served(org) as fake:
        bad = run_sources(tmp_path / "bad", source_yaml("gh", org, fake), env={TOKEN_ENV: "ghp_wrong"})
        missing = run_sources(tmp_path / "none", source_yaml("gh", org, fake, token_env="GHTEST_UNSET"))
    for run, word in ((bad, "Bad credentials"), (missing, "no GitHub token")):
        assert run.result.status == "partial"
        assert {e.resource_type for e in run.errors} >= {"github.repository", "github.organization", "identity.account"}
        assert all(word in e.message and e.message.startswith("denied") for e in run.errors)
        assert {f["status"] for f in run.findings} == {"error"}


def test_org_listing_denied_makes_alert_rules_errors(tmp_path: Path) -> None:
    org = acme()
    with served(org) as fake:
        fake.fail(r"/orgs/acme/dependabot/alerts$",
                  fe.github_error(403, "Resource not accessible by integration"), times=99)
        fake.fail(r"/repos/acme/web/vulnerability-alerts$",
                  fe.github_error(403, "Resource not accessible by integration"), times=99)
        run = run_sources(tmp_path, source_yaml("gh", org, fake), env={TOKEN_ENV: org.token})
    statuses = set(run.by_rule("github.repo.dependabot_alerts_within_sla").values())
    assert statuses == {"error"}
    assert "Resource not accessible by integration" in run.message(
        "github.repo.dependabot_alerts_within_sla", f"{WEB}/acme/api")
    # "the token cannot read the setting" is an error; "disabled" (legacy) stays a fail
    assert run.status("github.repo.dependabot_alerts_enabled", f"{WEB}/acme/web") == "error"
    assert run.status("github.repo.dependabot_alerts_enabled", f"{WEB}/acme/legacy") == "fail"


def test_non_owner_token_gives_errors_not_guesses(tmp_path: Path) -> None:
    org = acme()
    org.viewer = "dave"  # a member, not an owner
    with served(org) as fake:
        run = run_sources(tmp_path, source_yaml("gh", org, fake), env={TOKEN_ENV: org.token})
    for rule in ("github.org.two_factor_required", "github.org.default_repository_permission_least",
                 "github.org.members_have_two_factor", "github.org.saml_sso_configured"):
        assert run.status(rule, f"{WEB}/acme") == "error", rule
    assert run.status("github.member.two_factor_enabled", f"{WEB}/carol") == "error"
    assert "Only owners can use this filter" in run.message("github.member.two_factor_enabled", f"{WEB}/carol")
    assert run.evidence(f"{WEB}/carol", "identity.account")["mfa_enrolled"] is None
    # the audit log is owner-only: one error, no events
    assert any(e.resource_type == "github.audit_event" and e.message.startswith("denied") for e in run.errors)


def test_team_plan_has_no_audit_log_or_saml(tmp_path: Path) -> None:
    org = acme()
    org.plan = "team"
    with served(org) as fake:
        run = run_sources(tmp_path, source_yaml("gh", org, fake), env={TOKEN_ENV: org.token})
    [audit] = [e for e in run.errors if e.resource_type == "github.audit_event"]
    assert audit.message.startswith("not_enabled") and "Enterprise Cloud" in audit.message
    assert set(run.by_rule("github.audit.push_protection_not_bypassed").values()) == {"error"}
    assert run.status("github.org.saml_sso_configured", f"{WEB}/acme") == "error"


def org_calls_phrase(calls: list[Any]) -> str:
    return next(c.query["phrase"][0] for c in calls if c.query["phrase"][0].startswith("action:org "))


def test_audit_log_is_read_incrementally(tmp_path: Path) -> None:
    org = acme()
    for i in range(130):  # more than one page of the org category
        org.event("org.add_member", "alice", ms_ago(5) + i, user=f"user{i}")
    org.audit[-1].at_ms = org.audit[-2].at_ms  # two events in the same millisecond
    with served(org) as fake:
        yaml = source_yaml("gh", org, fake, "    audit_log_lookback_days: 400\n")
        first = run_sources(tmp_path, yaml, env={TOKEN_ENV: org.token})
        calls = fake.calls("GET", r"/audit-log$")
        fake.reset_log()
        second = run_sources(tmp_path, yaml, env={TOKEN_ENV: org.token}, store=first.store)
        org.event("protected_branch.policy_override", "erin", ms_ago(0), repo="acme/api", branch="main")
        third = run_sources(tmp_path, yaml, env={TOKEN_ENV: org.token}, store=first.store)
    later = [c for c in fake.calls("GET", r"/audit-log$") if c.query["phrase"][0].startswith("action:org ")]
    assert later and all(len(c.query) >= 4 for c in later)
    assert later[0].query["phrase"][0] != org_calls_phrase(calls)
    org_calls = [c for c in calls if c.query["phrase"][0].startswith("action:org ")]
    assert len(org_calls) == 2 and org_calls[1].query["after"][0]
    assert all(c.query["include"] == ["all"] and c.query["order"] == ["asc"] for c in calls)
    assert "created:>=" in calls[0].query["phrase"][0]
    stored = [f for f in first.findings if f["rule_id"] == "github.audit.no_self_granted_access"]
    assert len(stored) == 130 + 2
    assert GitHubCollector.last_stats["requests"] > 0
    # run 2 saw nothing new; run 3 judged only the new event
    override = [f for f in third.findings if f["rule_id"] == "github.audit.branch_protection_not_removed"
                and f["status"] == "fail" and "policy_override" in f["message"]]
    assert len(override) == 1
    assert second.result.sources["gh"].resources == first.result.sources["gh"].resources  # kept events again
    assert third.result.sources["gh"].resources == first.result.sources["gh"].resources + 1
    assert len([f for f in third.findings if f["rule_id"] == "github.audit.no_self_granted_access"]) == 132
