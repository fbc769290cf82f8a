"""The demo's simulated Google Workspace: the cast's problems are found, the fixes show up."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from agent.demo.providers import discover
from agent.demo.providers.google_workspace import PROVIDER
from tests.support.pipeline import collect, run_pipeline, write_config


def test_workspace_demo_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert any(p.source == "demo-workspace" for p in discover())
    demo = PROVIDER()
    demo.start(tmp_path / "sources" / demo.source, date.today())
    try:
        for key, value in demo.env().items():
            monkeypatch.setenv(key, value)
        config = write_config(tmp_path, demo.source_yaml())
        began = time.monotonic()
        got = collect(config, demo.source)
        assert time.monotonic() - began < 2.0 and not got.errors
        accounts = {r.data["login"]: r.data for r in got.of("identity.account").values()}
        assert accounts["carol@acme.example"]["active"] is True
        assert accounts["heidi@acme.example"]["active"] is False
        assert accounts["frank@acme.example"]["last_login"] is None
        assert accounts["ivan@acme.example"]["last_login"] < accounts["erin@acme.example"]["last_login"]
        base = demo.api.url if demo.api else ""
        user = f"{base}/admin/directory/v1/users/{{}}".format
        run = run_pipeline(config)
        assert run.status("google_workspace.user.2sv_enrolled", user(demo.ids["dave"])) == "fail"
        assert run.status("google_workspace.user.2sv_enrolled", user(demo.ids["erin"])) == "pass"
        assert run.status("google_workspace.user.inactive_without_admin_roles", user(demo.ids["heidi"])) == "fail"
        reports = f"{base}/admin/reports/v1/activity/users/all/applications"
        assert run.status("google_workspace.login.no_login_without_2sv", f"{reports}/login") == "fail"
        assert run.status("google_workspace.admin.two_step_enforcement_not_disabled", f"{reports}/admin") == "fail"
        assert run.status("google_workspace.customer.super_admin_count",
                          f"{base}/admin/directory/v1/customers/C03az79cb") == "fail"
        demo.apply_fixes()
        after = run_pipeline(config)
        assert after.status("google_workspace.user.2sv_enrolled", user(demo.ids["dave"])) == "pass"
        assert after.status("google_workspace.user.inactive_without_admin_roles", user(demo.ids["heidi"])) == "pass"
    finally:
        demo.stop()
