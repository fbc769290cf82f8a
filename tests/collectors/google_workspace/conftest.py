"""Workspace tests run the real collector and rule packs against the Admin SDK fake on loopback,
authenticating either with a bearer token or through real domain-wide delegation (google-auth signing a
JWT with a key generated here, verified by the fake's token endpoint)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.fakeapi import FakeApi
from agent.fakeapi.google_workspace import READ_SCOPES, WorkspaceTenant, serve
from tests.support.pipeline import Collected, PipelineRun, collect, run_pipeline, write_config

TOKEN = "ya29.static-test-token-0001"
SA_EMAIL = "annexa-reader@acme-sec.iam.gserviceaccount.com"
SA_CLIENT_ID = "112233445566778899001"


def service_account_key(folder: Path, token_uri: str) -> tuple[Path, str]:
    """A service account key file (as the Cloud console downloads it) and its public key PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    path = folder / "sa-key.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "acme-sec", "private_key_id": "0123456789abcdef",
        "private_key": private, "client_email": SA_EMAIL, "client_id": SA_CLIENT_ID,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/annexa-reader"}))
    return path, public


@dataclass
class WorkspaceOrg:
    tenant: WorkspaceTenant
    api: FakeApi
    folder: Path

    @property
    def url(self) -> str:
        return self.api.url

    def user_url(self, user_id: str) -> str:
        return f"{self.api.url}/admin/directory/v1/users/{user_id}"

    def activity_url(self, app: str) -> str:
        return f"{self.api.url}/admin/reports/v1/activity/users/all/applications/{app}"

    @property
    def customer_url(self) -> str:
        return f"{self.api.url}/admin/directory/v1/customers/{self.tenant.customer_id}"

    def source(self, options: str = "", auth: str = "bearer") -> str:
        if auth == "bearer":
            creds = "  token_env: WS_TOKEN\n"
        else:
            key, public = service_account_key(self.folder, f"{self.api.url}/token")
            self.tenant.add_service_account(SA_EMAIL, public, SA_CLIENT_ID)
            creds = f"  credentials_file: {key}\n  subject: {auth}\n"
        return f"- name: ws\n  type: google_workspace\n  endpoint: {self.api.url}\n{creds}{options}"

    def collect(self, options: str = "", auth: str = "bearer", cursor: dict[str, Any] | None = None) -> Collected:
        return collect(write_config(self.folder, self.source(options, auth)), "ws", cursor)

    def run(self, options: str = "", auth: str = "bearer", now: Any = None) -> PipelineRun:
        return run_pipeline(write_config(self.folder, self.source(options, auth)), now=now)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkspaceOrg]:
    monkeypatch.setenv("WS_TOKEN", TOKEN)
    tenant = WorkspaceTenant()
    tenant.static_tokens[TOKEN] = READ_SCOPES
    with serve(tenant) as api:
        yield WorkspaceOrg(tenant, api, tmp_path)
