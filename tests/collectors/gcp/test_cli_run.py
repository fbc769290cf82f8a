"""`annexa run` end to end, in a real process: credentials from the metadata server (as on a Google Cloud
runtime), every API from the fake, findings read back with `annexa findings`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.fakeapi import FakeApi
from agent.fakeapi.gcp_world import GcpWorld, binding, policy
from tests.collectors.gcp.conftest import write_config

ROOT = Path(__file__).resolve().parents[3]


def annexa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_annexa_run_with_metadata_server_credentials(world: GcpWorld, fake: FakeApi, tmp_path: Path) -> None:
    project = world.add_project("acme-prod", "1001")
    project.iam = policy([binding("roles/owner", "user:bob@acme.example")])
    world.add_bucket(project, "acme-open", iam=policy([binding("roles/storage.objectViewer", "allUsers")]))
    world.add_bucket(project, "acme-closed")
    config = write_config(tmp_path, fake.url, token_env=None,
                          extra="identity:\n  domains: [acme.example]\n")
    host = fake.url.removeprefix("http://")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GCE_", "ANNEXA_"))}
    env.update({"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
                "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"})
    run = annexa("run", "--config", str(config), env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert any(c.path == "/computeMetadata/v1/instance/service-accounts/default/token" for c in fake.log)
    listed = annexa("findings", "--config", str(config), "--source", "gcp-main", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    findings = {(f["rule"], f["resource"]["id"]): f["status"] for f in json.loads(listed.stdout)}
    bucket = "//storage.googleapis.com/projects/_/buckets/"
    assert findings[("gcp.storage.bucket_not_public", bucket + "acme-open")] == "fail"
    assert findings[("gcp.storage.bucket_not_public", bucket + "acme-closed")] == "pass"
    project_id = "//cloudresourcemanager.googleapis.com/projects/1001"
    assert findings[("gcp.iam.no_basic_roles_for_people", project_id)] == "fail"
    assert findings[("gcp.iam.members_in_company_domains", project_id)] == "pass"
    assert all(f["resource"]["account"] in ("acme-prod", None) or f["resource"]["account"].startswith(
        ("organizations/", "folders/")) for f in json.loads(listed.stdout))
