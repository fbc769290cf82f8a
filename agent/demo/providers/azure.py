"""Acme's simulated Azure for `annexa demo`: three subscriptions and the Entra ID tenant, on the Azure fake.

The real Azure collector reads them through the real HTTP client over loopback, authenticated with a
throw-away token the fake accepts. Violations sit beside compliant twins (see agent.fakeapi.azure.acme),
and the platform team fixes three of them between the two runs.
"""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path

from agent.fakeapi import FakeApi
from agent.fakeapi.azure import AzureTenant, acme, serve

TOKEN_ENV = "ANNEXA_DEMO_AZURE_TOKEN"


class AzureDemo:
    source = "demo-azure"
    title = ("Azure: production, development and sandbox subscriptions and the Entra ID tenant of Acme "
             "(simulated Resource Manager and Microsoft Graph)")

    def __init__(self) -> None:
        self.fake: FakeApi | None = None
        self.tenant: AzureTenant | None = None
        self.ids: dict[str, str] = {}
        self.token = secrets.token_urlsafe(24)

    def start(self, folder: Path, today: date) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.tenant, self.ids = acme.build()
        self.tenant.static_tokens[self.token] = None
        self.fake = serve(self.tenant)

    def source_yaml(self) -> str:
        assert self.fake is not None
        return (f"- name: {self.source}\n  type: azure\n  token_env: {TOKEN_ENV}\n"
                f"  arm_endpoint: {self.fake.url}   # the simulated tenant; normally left at its default\n"
                f"  graph_endpoint: {self.fake.url}\n  tenant_id: {acme.TENANT}\n  schedule: \"30 */6 * * *\"\n")

    def env(self) -> dict[str, str]:
        return {TOKEN_ENV: self.token}

    def apply_fixes(self) -> list[str]:
        assert self.tenant is not None
        return acme.fix(self.tenant, self.ids)

    def stop(self) -> None:
        if self.fake is not None:
            self.fake.stop()
            self.fake = None


PROVIDER = AzureDemo
