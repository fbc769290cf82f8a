"""Okta tests run the real collector and rule packs against the Okta fake on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.fakeapi import FakeApi
from agent.fakeapi.okta import OktaTenant, serve
from tests.support.pipeline import Collected, PipelineRun, collect, run_pipeline, write_config

TOKEN = "test-okta-token"
ANYWHERE = {"network": {"connection": "ANYWHERE"}}


def signon_rule(require: bool, **conditions: Any) -> dict[str, Any]:
    return {"conditions": {**ANYWHERE, **conditions},
            "actions": {"signon": {"access": "ALLOW", "requireFactor": require, "factorPromptMode": "ALWAYS",
                                   "primaryFactor": "PASSWORD_IDP"}}}


def access_rule(factor_mode: str, **conditions: Any) -> dict[str, Any]:
    return {"conditions": conditions or None,
            "actions": {"appSignOn": {"access": "ALLOW", "verificationMethod": {
                "factorMode": factor_mode, "type": "ASSURANCE", "reauthenticateIn": "PT12H", "constraints": []}}}}


def password_settings(min_length: int = 14, *, classes: int = 4, history: int = 5, attempts: int = 5,
                      common: bool = True, exclude_username: bool = True) -> dict[str, Any]:
    flags = [1 if n < classes else 0 for n in range(4)]
    return {"password": {
        "complexity": {"minLength": min_length, "minLowerCase": flags[0], "minUpperCase": flags[1],
                       "minNumber": flags[2], "minSymbol": flags[3], "excludeUsername": exclude_username,
                       "dictionary": {"common": {"exclude": common}}, "excludeAttributes": []},
        "age": {"maxAgeDays": 0, "expireWarnDays": 0, "minAgeMinutes": 0, "historyCount": history},
        "lockout": {"maxAttempts": attempts, "autoUnlockMinutes": 0, "userLockoutNotificationChannels": [],
                    "showLockoutFailures": False}}}


@dataclass
class OktaOrg:
    tenant: OktaTenant
    api: FakeApi
    folder: Path

    @property
    def url(self) -> str:
        return self.api.url

    def user_url(self, user_id: str) -> str:
        return f"{self.api.url}/api/v1/users/{user_id}"

    def policy_url(self, policy_id: str) -> str:
        return f"{self.api.url}/api/v1/policies/{policy_id}"

    def app_url(self, app_id: str) -> str:
        return f"{self.api.url}/api/v1/apps/{app_id}"

    def config(self, options: str = "", extra: str = "", token_env: str = "OKTA_TOKEN") -> Path:
        return write_config(self.folder, f"- name: okta\n  type: okta\n  endpoint: {self.api.url}\n"
                                         f"  token_env: {token_env}\n{options}", extra)

    def collect(self, options: str = "", cursor: dict[str, Any] | None = None) -> Collected:
        return collect(self.config(options), "okta", cursor)

    def run(self, options: str = "", now: Any = None, extra: str = "") -> PipelineRun:
        return run_pipeline(self.config(options, extra), now=now)


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OktaOrg]:
    monkeypatch.setenv("OKTA_TOKEN", TOKEN)
    tenant = OktaTenant()
    with serve(tenant) as api:
        yield OktaOrg(tenant, api, tmp_path)
