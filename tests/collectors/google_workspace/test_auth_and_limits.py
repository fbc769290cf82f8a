"""Workspace credentials (domain-wide delegation for real, bearer tokens), Google error bodies, paging,
RESOURCE_EXHAUSTED and rateLimitExceeded back-off, and read-only enforcement."""

from __future__ import annotations

import json
import logging

import pytest

from agent.fakeapi import errors as fe
from agent.fakeapi.google_workspace import READ_SCOPES
from agent.http import ReadOnlyViolation
from tests.collectors.google_workspace.conftest import SA_CLIENT_ID, SA_EMAIL, WorkspaceOrg

NO_REPORTS = "  reports: false\n"


def test_domain_wide_delegation_signs_a_jwt_the_token_endpoint_verifies(ws: WorkspaceOrg) -> None:
    admin = ws.tenant.add_user("alice@acme.example", super_admin=True)
    ws.tenant.add_user("dave@acme.example", enrolled_2sv=False)
    got = ws.collect(NO_REPORTS, auth="alice@acme.example")
    assert not got.errors
    assert len(got.of("identity.account")) == 2
    (token_call,) = ws.api.calls(method="POST", path="^/token$")
    assert token_call.status == 200
    (grant,) = ws.tenant.issued.values()
    assert grant["subject"] == "alice@acme.example" and set(grant["scopes"]) == set(READ_SCOPES)
    api_calls = ws.api.calls(method="GET")
    assert api_calls and all(c.headers["Authorization"].startswith("Bearer ya29.fake-") for c in api_calls)
    assert admin in {r.data["id"] for r in got.of("google_workspace.user").values()}
    # what was signed (and verified with the generated key's public half): issuer, Google's audience,
    # the impersonated administrator and exactly the read-only scopes
    (claims,) = ws.tenant.assertions
    assert claims["iss"] == SA_EMAIL and claims["sub"] == "alice@acme.example"
    assert claims["aud"] == "https://oauth2.googleapis.com/token"
    assert sorted(claims["scope"].split()) == sorted(READ_SCOPES)
    assert all(s.endswith(".readonly") for s in claims["scope"].split())


def test_an_assertion_signed_by_another_key_is_refused(ws: WorkspaceOrg) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    ws.tenant.add_user("alice@acme.example", super_admin=True)
    source = ws.source(NO_REPORTS, auth="alice@acme.example")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    ws.tenant.service_accounts[SA_EMAIL] = other  # Google knows a different key for this account
    from tests.support.pipeline import collect, write_config

    got = collect(write_config(ws.folder, source), "ws")
    assert got.resources == [] and "invalid_grant" in got.error_text("google_workspace.user")
    assert ws.tenant.issued == {}


def test_delegation_without_the_scopes_granted_is_an_error_everywhere(ws: WorkspaceOrg) -> None:
    ws.tenant.add_user("alice@acme.example", super_admin=True)
    source = ws.source(NO_REPORTS, auth="alice@acme.example")  # registers the service account
    ws.tenant.delegation[SA_CLIENT_ID] = READ_SCOPES[:1]       # the admin granted only the users scope
    from tests.support.pipeline import collect, write_config

    got = collect(write_config(ws.folder, source), "ws")
    assert got.resources == []
    message = got.error_text("google_workspace.user")
    assert message.startswith("denied:") and "unauthorized_client" in message
    assert "PRIVATE KEY" not in " ".join(e.message for e in got.errors)


def test_delegation_to_a_non_admin_is_forbidden(ws: WorkspaceOrg) -> None:
    ws.tenant.add_user("alice@acme.example", super_admin=True)
    ws.tenant.add_user("dave@acme.example")
    run = ws.run(NO_REPORTS, auth="dave@acme.example")
    assert run.findings and {f["status"] for f in run.findings} == {"error"}
    users_error = next(e.message for e in run.errors if e.resource_type == "google_workspace.user")
    assert "Not Authorized to access this resource/api" in users_error and "PERMISSION_DENIED" in users_error


def test_missing_subject_or_key_is_reported(ws: WorkspaceOrg, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.pipeline import collect, write_config

    source = f"- name: ws\n  type: google_workspace\n  endpoint: {ws.url}\n"
    got = collect(write_config(tmp_path / "a", source), "ws")
    assert "credentials_file" in got.error_text("identity.account")
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    got = collect(write_config(tmp_path / "b", source), "ws")
    assert "subject" in got.error_text("google_workspace.user")
    assert ws.api.log == []


def test_invalid_bearer_token_and_missing_scope(ws: WorkspaceOrg, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.tenant.add_user("alice@acme.example", super_admin=True)
    monkeypatch.setenv("WS_TOKEN", "ya29.revoked-0000000000000")
    run = ws.run()
    user_error = next(e.message for e in run.errors if e.resource_type == "google_workspace.user")
    assert user_error.startswith("denied:") and "UNAUTHENTICATED" in user_error
    assert "revoked" not in user_error
    monkeypatch.setenv("WS_TOKEN", "ya29.users-only")
    ws.tenant.static_tokens["ya29.users-only"] = READ_SCOPES[:1]
    got = ws.collect()
    assert got.of("identity.account") and got.of("google_workspace.customer")
    assert "insufficient authentication scopes" in got.error_text("google_workspace.role")
    assert "insufficient authentication scopes" in got.error_text("google_workspace.activity")


def test_users_and_assignments_page(ws: WorkspaceOrg) -> None:
    t = ws.tenant
    for n in range(1203):
        t.add_user(f"u{n:04d}@acme.example", roles=("_HELP_DESK_ADMIN_ROLE",) if n < 250 else ())
    got = ws.collect(NO_REPORTS)
    assert not got.errors and len(got.of("google_workspace.user")) == 1203
    pages = ws.api.calls(path="^/admin/directory/v1/users$")
    assert len(pages) == 3 and all(p.query["maxResults"] == ["500"] for p in pages)
    assert all(p.query["customer"] == ["my_customer"] and p.query["projection"] == ["full"] for p in pages)
    assert "pageToken" not in pages[0].query and "pageToken" in pages[2].query
    assert len(ws.api.calls(path="/roleassignments$")) == 2  # 250 assignments, 200 per page
    assert len(got.of("google_workspace.role_assignment")) == 250


def test_resource_exhausted_and_user_rate_limit_are_backed_off(ws: WorkspaceOrg) -> None:
    ws.tenant.add_user("alice@acme.example", super_admin=True)
    ws.api.fail("^/admin/directory/v1/users$", fe.google_exhausted(0, None), times=2)  # type: ignore[arg-type]
    ws.api.fail("/roles$", fe.google_user_rate_limited(0, None), times=1)  # type: ignore[arg-type]
    got = ws.collect(NO_REPORTS)
    assert not got.errors and len(got.of("google_workspace.user")) == 1
    statuses = [c.status for c in ws.api.calls(path="^/admin/directory/v1/users$")]
    assert statuses == [429, 429, 200]
    assert [c.status for c in ws.api.calls(path="/roles$")] == [403, 200]


def test_domain_option_and_bad_customer(ws: WorkspaceOrg) -> None:
    ws.tenant.add_user("alice@acme.example", super_admin=True)
    got = ws.collect(NO_REPORTS + "  domain: acme.example\n")
    assert not got.errors
    assert ws.api.calls(path="^/admin/directory/v1/users$")[-1].query["domain"] == ["acme.example"]
    got = ws.collect(NO_REPORTS + "  customer: C0nobody\n")
    assert "badRequest" not in got.error_text("google_workspace.user")  # the message, not the reason word
    assert got.error_text("google_workspace.user").startswith("invalid_response:")
    assert "Bad Request" in got.error_text("google_workspace.user")


def test_client_refuses_writes(ws: WorkspaceOrg) -> None:
    from agent.config import load_config
    from agent.runner import default_http_factory
    from collectors.base import CollectorContext, Cursor, Progress
    from collectors.google_workspace import GoogleWorkspaceCollector, WorkspaceOptions
    from tests.support.pipeline import write_config

    src = load_config(write_config(ws.folder, ws.source())).source("ws")
    ctx = CollectorContext(source=src, options=WorkspaceOptions(), logger=logging.getLogger("t"),
                           progress=Progress(), cursor=Cursor(lambda k: None), http_factory=default_http_factory(src))
    http = ctx.http(base_url=ws.url)
    for method in ("POST", "PATCH", "DELETE"):
        with pytest.raises(ReadOnlyViolation):
            http.request(method, "/admin/directory/v1/users/alice@acme.example")
    assert ws.api.log == [] and GoogleWorkspaceCollector.type == "google_workspace"
