"""Credentials: Application Default Credentials (service-account key, gcloud user, workload identity
federation), an explicit credentials file, a static token; each against the fake's real token endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.fakeapi import FakeApi
from agent.fakeapi.gcp_world import GcpWorld
from tests.collectors.gcp.conftest import collect

PROJECT_TYPES = ("gcp.project", "gcp.iam.policy")


@pytest.fixture(autouse=True)
def no_gcloud_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No gcloud ADC file from the machine, and never a metadata-server probe."""
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setattr("google.auth.compute_engine._metadata._NO_GCE_CHECK", True, raising=False)


def key_file(tmp_path: Path, world: GcpWorld, fake: FakeApi, *, register: bool = True) -> Path:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    key_id = "0123456789abcdef0123456789abcdef01234567"
    if register:
        world.signing_keys[key_id] = private.public_key()
    info = {"type": "service_account", "project_id": "acme-ops", "private_key_id": key_id, "private_key": pem,
            "client_email": "annexa@acme-ops.iam.gserviceaccount.com", "client_id": "1000000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": f"{fake.url}/token"}
    path = tmp_path / "annexa-key.json"
    path.write_text(json.dumps(info))
    return path


def header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def token_calls(fake: FakeApi) -> list[str]:
    return [c.path for c in fake.log if c.path in ("/token", "/v1/token")]


def test_service_account_key_through_application_default_credentials(
        world: GcpWorld, fake: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_project("acme-prod", "1001")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file(tmp_path, world, fake)))
    got = collect(fake, monkeypatch, {"audit_logs": False}, token_env=None)
    assert got.errors == []
    assert got.ids("gcp.project") == {"//cloudresourcemanager.googleapis.com/projects/1001"}
    assert token_calls(fake) == ["/token"]  # one token for every API and the client library
    issued = [header(c.headers, "Authorization") for c in fake.log if c.path not in ("/token",)]
    assert len(set(issued)) == 1 and issued[0].startswith("Bearer ya29.fake-")


def test_credentials_file_option_and_a_key_the_token_endpoint_rejects(
        world: GcpWorld, fake: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_project("acme-prod", "1001")
    path = key_file(tmp_path, world, fake, register=False)  # signed with a key Google does not know
    got = collect(fake, monkeypatch, {"credentials_file": str(path)}, token_env=None)
    assert got.resources == []
    assert {e.resource_type for e in got.errors} == set(got_types())
    message = got.errors[0].message
    assert message.startswith("denied: ") and "invalid_grant" in message and "token refresh failed" in message
    assert [c.path for c in fake.log] == ["/token"]


def got_types() -> list[str]:
    from collectors.gcp import GcpCollector

    return list(GcpCollector.resource_types)


def test_gcloud_user_credentials_send_the_quota_project(world: GcpWorld, fake: FakeApi, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_project("acme-prod", "1001")
    world.refresh_tokens.add("1//refresh-token-of-ann")
    adc = tmp_path / "application_default_credentials.json"
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "764086051850-x.apps.googleusercontent.com",
                               "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//refresh-token-of-ann",
                               "quota_project_id": "acme-ops", "token_uri": f"{fake.url}/token"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    # google-auth always sends user refresh tokens to Google's own endpoint (ignoring token_uri): point
    # that address at the fake, as a hosts-file entry would.
    monkeypatch.setattr("google.oauth2.credentials._GOOGLE_OAUTH2_TOKEN_ENDPOINT", f"{fake.url}/token")
    got = collect(fake, monkeypatch, {"services": ["project", "storage"], "audit_logs": False}, token_env=None)
    assert got.errors == []
    api_calls = [c for c in fake.log if c.path != "/token"]
    assert api_calls and all(header(c.headers, "x-goog-user-project") == "acme-ops" for c in api_calls)


def test_workload_identity_federation(world: GcpWorld, fake: FakeApi, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_project("acme-prod", "1001")
    subject = tmp_path / "oidc-token"
    subject.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvaW5mcmEifQ.c2ln")
    config = tmp_path / "wif.json"
    config.write_text(json.dumps({
        "type": "external_account", "universe_domain": "googleapis.com",
        "audience": "//iam.googleapis.com/projects/1001/locations/global/workloadIdentityPools/ci/providers/gh",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": f"{fake.url}/v1/token",
        "credential_source": {"file": str(subject)}}))
    got = collect(fake, monkeypatch, {"credentials_file": str(config), "services": ["project"],
                                      "audit_logs": False}, token_env=None)
    assert got.errors == []
    assert got.ids("gcp.project") and token_calls(fake) == ["/v1/token"]


def test_static_token_from_token_env_and_a_revoked_one(world: GcpWorld, fake: FakeApi,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_project("acme-prod", "1001")
    assert collect(fake, monkeypatch, {"services": ["project"], "audit_logs": False}).errors == []
    world.tokens.clear()  # the token was revoked
    got = collect(fake, monkeypatch, {"services": ["project"], "audit_logs": False})
    assert got.resources == []
    assert all(e.message.startswith("denied: ") and "401" in e.message for e in got.errors)


def test_empty_token_env_is_a_clear_error(world: GcpWorld, fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_project("acme-prod", "1001")
    got = collect(fake, monkeypatch, {"audit_logs": False}, token_env="ANNEXA_TEST_UNSET_TOKEN")
    assert got.resources == [] and fake.log == []
    assert "ANNEXA_TEST_UNSET_TOKEN (token_env) is empty" in got.errors[0].message


def test_no_credentials_anywhere_is_an_error_not_a_crash(world: GcpWorld, fake: FakeApi,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    got = collect(fake, monkeypatch, {}, token_env=None)
    assert got.resources == [] and fake.log == []
    assert got.errors and got.errors[0].message.startswith("denied: ")
    assert "no Google credentials" in got.errors[0].message
