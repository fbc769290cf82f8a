"""Okta paging, rate limits (E0000047, X-Rate-Limit-*), auth errors and read-only enforcement."""

from __future__ import annotations

import logging

import pytest

from agent.fakeapi import errors as fe
from agent.http import ReadOnlyViolation
from agent.runner import default_http_factory
from collectors.base import CollectorContext, Cursor, Progress
from collectors.okta import OktaCollector, OktaOptions, api
from tests.collectors.okta.conftest import OktaOrg

QUIET = "  applications: false\n  system_log: false\n"


def test_users_page_across_pages_in_both_listings(org: OktaOrg) -> None:
    t = org.tenant
    active = [t.add_user(f"u{n:03d}@acme.example") for n in range(450)]
    gone = [t.add_user(f"gone{n:03d}@acme.example", status="DEPROVISIONED") for n in range(210)]
    got = org.collect(QUIET)
    assert not got.errors
    assert set(got.of("okta.user")) == {org.user_url(u) for u in active + gone}
    listing = org.api.calls(path="^/api/v1/users$")
    plain = [c for c in listing if "search" not in c.query]
    searched = [c for c in listing if "search" in c.query]
    assert len(plain) == 3 and len(searched) == 2
    assert all(c.query["limit"] == ["200"] for c in listing)
    assert all(c.query["search"] == ['status eq "DEPROVISIONED"'] for c in searched)
    assert [c.query.get("after") is not None for c in plain] == [False, True, True]
    # calls for N users: user pages + one factor call per user who is not deprovisioned
    assert len(org.api.calls(path="/factors$")) == 450


def test_rate_limited_429_e0000047_is_waited_out(org: OktaOrg) -> None:
    t = org.tenant
    users = [t.add_user(f"u{n}@acme.example", factors=(("push", "ACTIVE"),)) for n in range(6)]
    org.api.rate_limit(4, 1.0, fe.okta_rate_limited)
    got = org.collect(QUIET + "  max_concurrency: 2\n")
    assert not got.errors
    assert {r.data["annexa"]["mfaEnrolled"] for r in got.of("okta.user").values()} == {True}
    assert len(got.of("okta.user")) == len(users)
    assert any(c.status == 429 for c in org.api.log)


def test_low_remaining_budget_slows_down_before_a_429(org: OktaOrg) -> None:
    t = org.tenant
    t.rate_window = 1.0
    t.limits["/api/v1/users/{id}"] = 5
    for n in range(12):
        t.add_user(f"u{n}@acme.example", factors=(("push", "ACTIVE"),))
    got = org.collect(QUIET + "  max_concurrency: 1\n")
    assert not got.errors and len(got.of("okta.user")) == 12
    factor_calls = org.api.calls(path="/factors$")
    assert len(factor_calls) == 12 and all(c.status == 200 for c in factor_calls)  # paced, never refused
    spread = factor_calls[-1].at - factor_calls[0].at
    assert spread >= 1.0  # 12 calls at 5 per second-long window cannot all fit in one window


def test_invalid_token_is_an_error_for_every_type_with_e0000011(org: OktaOrg, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    org.tenant.add_user("alice@acme.example")
    org.tenant.add_policy("PASSWORD", "Default")
    monkeypatch.setenv("OKTA_TOKEN", "00-revoked-token-000000")
    run = org.run()
    assert run.findings and {f["status"] for f in run.findings} == {"error"}
    by_type = {e.resource_type: e.message for e in run.errors}
    for rtype in ("okta.user", "identity.account", "okta.password_policy", "okta.signon_policy", "okta.app",
                  "okta.log.activity"):
        assert "E0000011" in by_type[rtype] and by_type[rtype].startswith("denied"), rtype
    assert "00-revoked-token" not in " ".join(by_type.values())
    assert run.result.status != "complete" or run.errors


def test_missing_token_is_reported_not_raised(org: OktaOrg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OKTA_TOKEN")
    got = org.collect()
    assert got.resources == []
    assert "OKTA_TOKEN" in got.error_text("okta.user") and got.error_text("okta.user").startswith("denied")
    assert org.api.log == []


def test_bearer_auth_option(org: OktaOrg) -> None:
    org.tenant.tokens = {"oauth-access-token-1234": "Bearer"}
    org.tenant.add_user("alice@acme.example")
    import os
    os.environ["OKTA_TOKEN"] = "oauth-access-token-1234"
    assert org.collect(QUIET).error_text("okta.user") != ""  # SSWS with an OAuth token is refused
    got = org.collect(QUIET + "  auth: bearer\n")
    assert not got.errors and len(got.of("okta.user")) == 1
    assert org.api.log[-1].headers["Authorization"].startswith("Bearer ")


def test_the_client_refuses_writes_before_sending(org: OktaOrg) -> None:
    from agent.config import load_config

    src = load_config(org.config()).source("okta")
    ctx = CollectorContext(source=src, options=OktaOptions(), logger=logging.getLogger("t"), progress=Progress(),
                           cursor=Cursor(lambda k: None), http_factory=default_http_factory(src))
    http = api.client(ctx, "ssws")
    user = org.tenant.add_user("alice@acme.example")
    for method in ("POST", "PUT", "DELETE"):
        with pytest.raises(ReadOnlyViolation):
            http.request(method, f"/api/v1/users/{user}/lifecycle/deactivate")
    assert org.api.log == []
    assert OktaCollector.type == "okta"


def test_fallbacks_when_search_or_the_assignee_listing_are_missing(org: OktaOrg) -> None:
    from agent.fakeapi import okta_routes
    from agent.fakeapi.server import Reply, Request

    t = org.tenant
    admin = t.add_user("alice@acme.example", roles=("SUPER_ADMIN",))
    gone = t.add_user("heidi@acme.example", status="DEPROVISIONED")

    def no_search(request: Request) -> Reply:
        if "search" in request.query:
            return fe.okta_error(400, "E0000031", "Invalid search criteria.")
        return okta_routes._list_users(t, request)

    org.api.fail(r"^/api/v1/users$", no_search, times=3)
    org.api.fail(r"^/api/v1/iam/assignees/users$", fe.okta_error(404, "E0000007", "Not found"), times=1)
    got = org.collect(QUIET)
    assert not got.errors
    assert set(got.of("okta.user")) == {org.user_url(admin), org.user_url(gone)}
    assert [c.query.get("filter") for c in org.api.calls(path="^/api/v1/users$")][-1] == ['status eq "DEPROVISIONED"']
    assert got.of("okta.user")[org.user_url(admin)].data["annexa"]["adminRoles"] == ["SUPER_ADMIN"]
    assert org.api.calls(path=f"^/api/v1/users/{admin}/roles$")


def test_config_mistakes(org: OktaOrg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.config import load_config
    from agent.errors import ConfigError
    from tests.support.pipeline import collect, write_config

    bad = write_config(tmp_path / "a", "- name: okta\n  type: okta\n  endpoint: https://acme.okta.com\n"
                                       "  token_env: OKTA_TOKEN\n  log_lookback_days: 365\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "log_lookback_days" in str(err.value)
    unknown = write_config(tmp_path / "b", "- name: okta\n  type: okta\n  org: acme\n  token_env: OKTA_TOKEN\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(unknown)
    no_endpoint = write_config(tmp_path / "c", "- name: okta\n  type: okta\n  token_env: OKTA_TOKEN\n")
    got = collect(no_endpoint, "okta")
    assert got.resources == [] and "endpoint" in got.error_text("okta.user")
