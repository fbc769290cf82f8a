"""Entra ID users as `identity.account`: the shared shape the cross-source people rules read."""

from __future__ import annotations

from typing import Any

from agent.fakeapi import FakeApi
from agent.fakeapi.azure import AzureTenant, acme
from tests.collectors.azure.conftest import collect

GRAPH = "https://graph.microsoft.com/v1.0/users/"


def accounts(resources: list[Any]) -> dict[str, dict[str, Any]]:
    return {r.data["login"].split("@")[0].split("_")[0]: r.data for r in resources if r.type == "identity.account"}


def test_the_acme_cast_as_identity_accounts(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]]) -> None:
    fake, _tenant, ids = acme_world
    resources, errors, _ = collect(fake, services=["entra_users"])
    assert errors == []
    people = accounts(resources)
    assert set(people) == {"alice", "bob", "carol", "dave", "erin", "mallory"}
    alice = people["alice"]
    assert alice["url"] == GRAPH + ids["user_alice"]  # the canonical id, the raw user's id too
    assert {r.id for r in resources if r.type == "azure.entra.user"} >= {GRAPH + ids["user_alice"]}
    assert alice["provider"] == "azure" and alice["tenant"] == acme.TENANT and alice["raw_type"] == "azure.entra.user"
    assert alice["email"] == "alice@acme.example" and alice["active"] is True and alice["kind"] == "human"
    assert alice["privileged"] is True and alice["privileges"] == ["Global Administrator (active)"]
    assert alice["mfa_enrolled"] is True and alice["external"] is False and alice["last_login_known"] is True
    assert alice["last_login"] and alice["mfa_methods"] == ["microsoftAuthenticatorPush", "softwareOneTimePasscode"]
    # the MFA policy is report-only and security defaults are off: MFA is not enforced for anyone
    assert alice["mfa_enforced"] is False
    carol = people["carol"]
    assert carol["active"] is True and carol["status"] == "enabled" and carol["last_login"] < alice["last_login"]
    assert people["dave"]["mfa_enrolled"] is False and people["dave"]["privileged"] is True
    mallory = people["mallory"]
    assert mallory["external"] is True and "#EXT#" in mallory["login"]
    assert mallory["email"] == "mallory@contractor.example"
    assert mallory["privileges"] == ["Security Administrator (active)"]
    assert all(p["kind"] != "service" for p in people.values())


def test_enforcement_follows_enabled_policies_and_exclusions(token: str) -> None:
    twin = acme.compliant_directory()
    twin.static_tokens[token] = None
    from agent.fakeapi.azure import serve

    fake = serve(twin)
    try:
        resources, errors, _ = collect(fake, services=["entra_users"])
    finally:
        fake.stop()
    assert errors == []
    people = accounts(resources)
    assert people["alice"]["mfa_enforced"] is True and people["bob"]["mfa_enforced"] is True
    assert people["bob"]["privileges"] == ["Global Administrator (eligible)"]


def test_a_tenant_without_premium_features(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]]) -> None:
    """No signInActivity and no registration report: sign-in times are unknown (never "never"), MFA
    registration comes from each user's methods through $batch, and without Conditional Access MFA is
    enforced only by security defaults."""
    fake, tenant, _ids = acme_world
    tenant.licence = "free"
    tenant.security_defaults["isEnabled"] = True
    resources, errors, _ = collect(fake, services=["entra_users"])
    assert errors == []
    people = accounts(resources)
    assert all(p["last_login_known"] is False and p["last_login"] is None for p in people.values())
    assert people["alice"]["mfa_enrolled"] is True and people["dave"]["mfa_enrolled"] is False
    assert people["alice"]["mfa_enforced"] is True
    assert people["alice"]["privileges"] == ["Global Administrator (active)"]  # without PIM: active roles only
    batches = fake.calls("POST", r"/v1\.0/\$batch$")
    assert batches and not fake.calls("GET", r"/authentication/methods$")  # asked in batches, not one by one
    users = {r.name: r.data for r in resources if r.type == "azure.entra.user"}
    alice = users["alice@acme.example"]
    assert alice["SignInActivityError"].startswith("licence: Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    assert alice["MfaRegistration"]["source"] == "authentication/methods"
