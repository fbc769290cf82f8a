"""The demo's simulated Okta org: the real collector and rules find the cast's problems, fixes show up."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from agent.demo.providers import discover
from agent.demo.providers.okta import PROVIDER
from tests.support.pipeline import collect, run_pipeline, write_config


def test_okta_demo_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert any(p.source == "demo-okta" for p in discover())
    demo = PROVIDER()
    demo.start(tmp_path / "sources" / demo.source, date.today())
    try:
        for key, value in demo.env().items():
            monkeypatch.setenv(key, value)
        config = write_config(tmp_path, demo.source_yaml())
        began = time.monotonic()
        got = collect(config, demo.source)
        assert time.monotonic() - began < 2.0 and not got.errors
        url = f"{demo.api.url}/api/v1" if demo.api else ""
        ids = demo.ids
        accounts = {r.data["login"]: r.data for r in got.of("identity.account").values()}
        assert accounts["carol@acme.example"]["active"] is True          # the leaver who kept access
        assert accounts["heidi@acme.example"]["active"] is False
        assert accounts["frank@acme.example"]["status"] == "PROVISIONED"
        assert accounts["ci-bot@acme.example"]["kind"] == "service"
        assert "mallory@contractor.example" in accounts
        run = run_pipeline(config)
        assert run.status("okta.user.active_factor_enrolled", f"{url}/users/{ids['dave']}") == "fail"
        assert run.status("okta.user.admin_factor_enrolled", f"{url}/users/{ids['alice']}") == "pass"
        assert run.status("okta.password_policy.min_length", f"{url}/policies/{ids['password']}") == "fail"
        assert run.status("okta.log.no_sign_in_without_mfa", f"{url}/logs") == "fail"
        stale_app = [u for u, s in run.by_rule("okta.app.no_inactive_user_assignments").items() if s == "fail"]
        assert len(stale_app) == 1
        changes = demo.apply_fixes()
        assert len(changes) == 2
        after = run_pipeline(config)
        assert after.status("okta.user.active_factor_enrolled", f"{url}/users/{ids['dave']}") == "pass"
        assert after.status("okta.password_policy.min_length", f"{url}/policies/{ids['password']}") == "pass"
    finally:
        demo.stop()
