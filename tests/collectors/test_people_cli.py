"""`annexa run` as a real process over an Okta org and a Workspace customer (the fakes on loopback), then
`annexa findings` on the store it wrote: the whole path a user takes, secrets kept out of the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.demo.providers.google_workspace import TOKEN as WS_TOKEN
from agent.demo.providers.google_workspace import build_tenant as workspace_tenant
from agent.demo.providers.okta import TOKEN as OKTA_TOKEN
from agent.demo.providers.okta import build_tenant as okta_tenant
from agent.fakeapi import google_workspace, okta
from tests.support.pipeline import stored_evidence, write_config

ROOT = Path(__file__).resolve().parents[2]


def annexa(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_CONFIG": str(config), "OKTA_TOKEN": OKTA_TOKEN,
           "WS_TOKEN": WS_TOKEN, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, env=env,
                          cwd=config.parent, timeout=180)


def test_annexa_run_and_findings_over_okta_and_workspace(tmp_path: Path) -> None:
    o_tenant, o_ids = okta_tenant()
    w_tenant, w_ids = workspace_tenant()
    with okta.serve(o_tenant) as o_api, google_workspace.serve(w_tenant) as w_api:
        sources = (f"- name: okta\n  type: okta\n  endpoint: {o_api.url}\n  token_env: OKTA_TOKEN\n"
                   f"- name: workspace\n  type: google_workspace\n  endpoint: {w_api.url}\n  token_env: WS_TOKEN\n")
        config = write_config(tmp_path, sources, extra="identity:\n  domains: [acme.example]\n")
        proc = annexa(config, "run", "--format", "json")
        assert proc.returncode == 0, proc.stderr[-2000:]
        summary = json.loads(proc.stdout)
        assert summary["status"] == "complete" and summary["errors"] == []
        assert {s["source"] for s in summary["sources"]} == {"okta", "workspace"}
        okta_url, ws_url = o_api.url, w_api.url
    found = annexa(config, "findings", "--format", "json")
    assert found.returncode == 0, found.stderr[-2000:]
    findings = {(f["rule"], f["resource"]["id"]): f for f in json.loads(found.stdout)}
    dave = f"{okta_url}/api/v1/users/{o_ids['dave']}"
    assert findings[("okta.user.active_factor_enrolled", dave)]["status"] == "fail"
    assert findings[("okta.user.active_factor_enrolled", dave)]["controls"] == ["A.8.5", "A.5.17"]
    heidi = f"{ws_url}/admin/directory/v1/users/{w_ids['heidi']}"
    assert findings[("google_workspace.user.inactive_without_admin_roles", heidi)]["status"] == "fail"
    assert findings[("google_workspace.user.inactive_without_admin_roles", heidi)]["source"] == "workspace"
    everything = proc.stdout + proc.stderr + found.stdout + found.stderr
    assert OKTA_TOKEN not in everything and WS_TOKEN not in everything
    stored = stored_evidence(tmp_path / "evidence")
    assert b"heidi@acme.example" in stored
    assert OKTA_TOKEN.encode() not in stored and WS_TOKEN.encode() not in stored
