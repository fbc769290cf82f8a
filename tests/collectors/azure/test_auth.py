"""Tokens from the real azure-identity library against the fake's token endpoints, one per audience,
renewed before they expire; a static token from token_env; what happens without any credential."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from agent.fakeapi import FakeApi
from agent.fakeapi.azure import ARM_AUDIENCE, GRAPH_AUDIENCE, MSI_PATH, AzureTenant, acme, serve
from collectors.azure.auth import CredentialTokens, StaticTokens, arm_scope, authority_for, graph_root, graph_scope
from tests.collectors.azure.conftest import run_azure

CLIENT_ID = "0a1b2c3d-0000-4000-8000-a00e0a000001"
STORAGE_AND_VAULTS = "    services: [storage, keyvault, entra_apps]\n"


def source(fake: FakeApi, extra: str = "") -> str:
    """Options for a source without token_env: the credential chain is used."""
    return f"    arm_endpoint: {fake.url}\n    graph_endpoint: {fake.url}\n{extra}"


def run_with_credential(tmp_path: Path, fake: FakeApi, extra: str) -> object:
    cfg = tmp_path / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\n"
                   f"sources:\n  - name: az\n    type: azure\n{source(fake, extra)}")
    from agent.config import load_config
    from agent.rules.engine import RuleSet
    from agent.runner import Runner, select_sources
    from agent.store.store import EvidenceStore
    from tests.collectors.azure.conftest import AzureRun, builtin_rules

    config = load_config(cfg)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    result = Runner(config, store, RuleSet(builtin_rules())).run(select_sources(config, None, None))
    return AzureRun(result, store, list(store.current_findings()))


@pytest.fixture
def msi_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeApi, AzureTenant]]:
    tenant, _ids = acme.build()
    fake = serve(tenant)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{fake.url}{MSI_PATH}")
    monkeypatch.setenv("IDENTITY_HEADER", tenant.identity_header)
    try:
        yield fake, tenant
    finally:
        fake.stop()


def test_scopes_per_cloud() -> None:
    assert arm_scope("https://management.azure.com") == "https://management.azure.com/.default"
    assert arm_scope("https://management.usgovcloudapi.net/") == "https://management.usgovcloudapi.net/.default"
    assert arm_scope("http://127.0.0.1:8080") == "https://management.azure.com/.default"  # a fake speaks for public
    assert graph_scope("https://microsoftgraph.chinacloudapi.cn") == "https://microsoftgraph.chinacloudapi.cn/.default"
    assert graph_root("http://127.0.0.1:9") == "https://graph.microsoft.com"
    assert authority_for("https://management.chinacloudapi.cn") == "https://login.chinacloudapi.cn"


@pytest.mark.parametrize("kind", ["managed_identity", "default"])
def test_managed_identity_gets_one_token_per_audience(msi_world: tuple[FakeApi, AzureTenant], tmp_path: Path,
                                                      kind: str) -> None:
    """The App Service MSI protocol over http; DefaultAzureCredential finds it through the environment."""
    fake, tenant = msi_world
    run = run_with_credential(tmp_path, fake, f"    credential: {kind}\n")
    assert run.errors == [], run.errors
    audiences = sorted(r["audience"] for r in tenant.token_requests)
    assert audiences == sorted([ARM_AUDIENCE, GRAPH_AUDIENCE])  # cached for the whole run
    arm_calls = [c for c in fake.log if c.path.startswith("/subscriptions")]
    graph_calls = [c for c in fake.log if c.path.startswith("/v1.0")]
    assert arm_calls and graph_calls and all(c.status == 200 for c in arm_calls + graph_calls)
    tokens = {c.headers.get("Authorization") for c in arm_calls} | {c.headers.get("Authorization")
                                                                   for c in graph_calls}
    assert len(tokens) == 2  # never a Graph token sent to ARM or the other way round


def test_a_token_for_the_wrong_audience_is_refused_by_the_fake(msi_world: tuple[FakeApi, AzureTenant],
                                                               tmp_path: Path) -> None:
    """The fake checks audiences, so the previous test proves the collector asked for the right ones."""
    fake, tenant = msi_world
    token, _ = tenant.issue(GRAPH_AUDIENCE)
    import requests

    answer = requests.get(f"{fake.url}/subscriptions?api-version=2022-12-01",
                          headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_short_lived_tokens_are_renewed_before_they_expire(msi_world: tuple[FakeApi, AzureTenant],
                                                           tmp_path: Path) -> None:
    fake, tenant = msi_world
    tenant.token_lifetime = 2
    fake.latency = 0.25
    run = run_with_credential(tmp_path, fake, "    credential: managed_identity\n    max_workers: 1\n"
                              "    item_workers: 1\n" + STORAGE_AND_VAULTS)
    assert run.errors == []
    arm_tokens = [r for r in tenant.token_requests if r["audience"] == ARM_AUDIENCE]
    assert len(arm_tokens) >= 2
    assert [c for c in fake.log if c.status == 401] == []


def test_credential_tokens_refresh_margin() -> None:
    class Credential:
        def __init__(self) -> None:
            self.calls = 0

        def get_token(self, scope: str, **_: object) -> object:
            self.calls += 1
            from azure.core.credentials import AccessToken

            return AccessToken(f"{scope}-{self.calls}", int(now[0]) + lifetime[0])

    now, lifetime = [1000.0], [3600]
    credential = Credential()
    tokens = CredentialTokens(credential, clock=lambda: now[0])
    assert tokens.token("a") == "a-1" and tokens.token("a") == "a-1" and tokens.token("b") == "b-2"
    now[0] += 3600 - 301
    assert tokens.token("a") == "a-1"
    now[0] += 2  # within five minutes of expiry
    assert tokens.token("a") == "a-3"
    lifetime[0] = 10
    now[0] += 10_000
    first = tokens.token("c")
    now[0] += 4
    assert tokens.token("c") == first
    now[0] += 2  # past half of a short lifetime
    assert tokens.token("c") != first


def test_static_tokens_per_audience(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARM_T", "arm-token")
    monkeypatch.setenv("GRAPH_T", "graph-token")
    static = StaticTokens("ARM_T", "GRAPH_T", "https://graph.microsoft.com/.default")
    assert static.token("https://management.azure.com/.default") == "arm-token"
    assert static.token("https://graph.microsoft.com/.default") == "graph-token"
    monkeypatch.setenv("ARM_T", "rotated")
    assert static.token("https://management.azure.com/.default") == "rotated"


def test_client_secret_credential_over_https(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A service principal from the environment, against an https authority (trustme CA)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, str(bundle))
    tenant, _ids = acme.build()
    tenant.client_secrets[CLIENT_ID] = "fake-client-secret"
    fake = serve(tenant, tls=context)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "fake-client-secret")
    monkeypatch.setenv("AZURE_TENANT_ID", acme.TENANT)
    try:
        assert fake.url.startswith("https://")
        run = run_with_credential(tmp_path, fake, f"    credential: environment\n    authority_host: {fake.url}\n"
                                  f"    instance_discovery: false\n    tenant_id: {acme.TENANT}\n"
                                  + STORAGE_AND_VAULTS)
    finally:
        fake.stop()
    assert run.errors == [], run.errors
    assert sorted(r["audience"] for r in tenant.token_requests) == sorted([ARM_AUDIENCE, GRAPH_AUDIENCE])
    assert {r["flow"] for r in tenant.token_requests} == {"client_credentials"}
    secret_seen = [f for f in run.findings if "fake-client-secret" in str(f)]
    assert secret_seen == []


def test_a_refused_secret_makes_every_type_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, str(bundle))
    tenant = AzureTenant()
    tenant.client_secrets[CLIENT_ID] = "the-right-one"
    fake = serve(tenant, tls=context)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "a-wrong-one")
    monkeypatch.setenv("AZURE_TENANT_ID", tenant.tenant_id)
    try:
        run = run_with_credential(tmp_path, fake, f"    credential: environment\n    authority_host: {fake.url}\n"
                                  "    instance_discovery: false\n")
    finally:
        fake.stop()
    assert run.errors and all(e.message.startswith("credentials:") for e in run.errors)
    assert all("a-wrong-one" not in e.message for e in run.errors)
    assert not [c for c in fake.log if c.path.startswith(("/subscriptions", "/v1.0"))]


def test_a_missing_token_variable_is_a_credentials_error(tmp_path: Path) -> None:
    tenant = AzureTenant()
    fake = serve(tenant)
    try:
        run = run_azure(tmp_path, fake)  # AZURE_TEST_TOKEN is not set in this test
    finally:
        fake.stop()
    assert run.errors and all("AZURE_TEST_TOKEN" in e.message and e.message.startswith("credentials")
                              for e in run.errors)
    assert time.time() > 0
