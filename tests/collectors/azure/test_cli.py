"""`annexa run` end to end in a subprocess against the Azure fake: exit codes, findings, secrets kept out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.fakeapi import FakeApi
from agent.fakeapi.azure import AzureTenant, acme
from agent.fakeapi.errors import arm_error
from tests.collectors.azure.conftest import TOKEN, source_yaml, stored_bytes

GRAPH = "https://graph.microsoft.com/v1.0"


def annexa(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ANNEXA_"))}
    env["AZURE_TEST_TOKEN"] = TOKEN
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return subprocess.run([sys.executable, "-m", "agent", "--config", str(config), *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_annexa_run_end_to_end(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]], tmp_path: Path) -> None:
    fake, _tenant, ids = acme_world
    config = tmp_path / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n  evidence: {tmp_path / 'evidence'}\n"
                      f"sources:\n{source_yaml(fake, name='azure-acme')}")
    run = annexa(config, "run")
    assert run.returncode == 0, run.stderr[-2000:]
    findings = json.loads(annexa(config, "findings", "--format", "json", "--source", "azure-acme").stdout)
    by = {(f["rule"], f["resource"]["id"]): f for f in findings}
    bad = by[("azure.storage.https_only", ids["storage_bad"])]
    assert bad["status"] == "fail" and bad["resource"]["account"] == acme.DEV
    assert bad["resource"]["type"] == "azure.storage.account" and bad["controls"] == ["A.8.24", "A.5.14"]
    assert by[("azure.entra.user_mfa_registered", f"{GRAPH}/users/{ids['user_dave']}")]["status"] == "fail"
    assert by[("azure.entra.mfa_required_for_all_users", f"{GRAPH}/organization/{acme.TENANT}")]["status"] == "fail"
    assert by[("azure.activitylog.no_diagnostic_setting_deleted", ids[f"activity_{acme.DEV}"])]["status"] == "fail"
    assert annexa(config, "run", "--fail-on", "fail").returncode == 1
    # the token never reaches the store, the evidence or the output
    stored = stored_bytes(tmp_path)
    assert ids["storage_bad"].encode() in stored
    assert TOKEN.encode() not in stored
    assert TOKEN not in run.stdout + run.stderr


def test_a_partial_run_exits_3_and_reports_the_reason(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                      tmp_path: Path) -> None:
    fake, _tenant, _ids = acme_world
    fake.fail(r"/providers/Microsoft\.KeyVault/vaults$", arm_error(403, "AuthorizationFailed", "The client does "
              "not have authorization to perform action 'Microsoft.KeyVault/vaults/read'."), times=100)
    config = tmp_path / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n  evidence: {tmp_path / 'evidence'}\n"
                      f"sources:\n{source_yaml(fake)}")
    run = annexa(config, "run")
    assert run.returncode == 3, run.stderr[-2000:]
    errors = json.loads(annexa(config, "findings", "--format", "json", "--status", "error").stdout)
    assert errors and {f["rule"].split(".")[1] for f in errors} == {"keyvault"}
    assert all("denied: AuthorizationFailed" in f["message"] for f in errors)
