"""`annexa demo` end to end: one real invocation of the installed console script, offline.

The subprocess gets no AWS settings at all (no AWS_ENDPOINT_URL, no credentials) and every proxy
variable points at a closed loopback port, so any request that escaped the in-process simulator
would fail. The assertions then use the ordinary commands on the demo's annexa.yaml.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

ANNEXA = shutil.which("annexa") or "annexa"
SCRUB = ("AWS_", "ANNEXA_", "MOTO_", "AZURE_", "GOOGLE_", "GITHUB_", "OKTA_", "TEST_SERVER_MODE")
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def offline_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(SCRUB) and k not in PROXIES and k.upper() != "NO_PROXY"}
    dead = f"http://127.0.0.1:{closed_port()}"
    env.update({name: dead for name in PROXIES})
    env.update(extra)
    return env


def annexa(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ANNEXA, *args], capture_output=True, text=True, cwd=cwd,
                          env=env or offline_env(), timeout=180)


@dataclass
class Demo:
    folder: Path
    elsewhere: Path
    proc: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def config(self) -> Path:
        return self.folder / "annexa.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    base = tmp_path_factory.mktemp("demo")
    folder, elsewhere = base / "acme demo", base / "elsewhere"
    elsewhere.mkdir()
    env = offline_env()
    assert "AWS_ENDPOINT_URL" not in env
    began = time.monotonic()
    proc = annexa("demo", "--dir", str(folder), cwd=base, env=env)
    return Demo(folder, elsewhere, proc, time.monotonic() - began)


def test_demo_completes_offline_quickly(demo: Demo) -> None:
    assert demo.proc.returncode == 0, demo.proc.stderr[-3000:]
    assert demo.seconds < 60, f"annexa demo took {demo.seconds:.1f}s"
    assert "Traceback" not in demo.proc.stderr


def test_demo_prints_the_control_table_and_next_steps(demo: Demo) -> None:
    out = demo.proc.stdout
    assert "ISO/IEC 27001:2022 Annex A controls" in out
    assert "failing" in out and "passing" in out
    assert "not_applicable" in out  # the SoA's physical-security exclusions
    for theme in ("Organizational:", "People:", "Physical:", "Technological:"):
        assert theme in out
    assert "Could not be collected" in out  # simulator gaps are reported, not hidden
    assert f"ANNEXA_CONFIG={demo.config}" in out.replace("'", "")


def test_demo_folder_holds_config_with_relative_paths(demo: Demo) -> None:
    text = demo.config.read_text()
    assert "url: sqlite:///annexa.db" in text and "evidence: ./evidence" in text
    assert "accounts: organization" in text and "role_name: AnnexaReadOnly" in text
    assert (demo.folder / "annexa.db").is_file() and (demo.folder / "evidence").is_dir()


def _findings(demo: Demo, *args: str, env: dict[str, str] | None = None) -> list[dict]:  # type: ignore[type-arg]
    proc = annexa(*args, cwd=demo.elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _check_findings(findings: list[dict]) -> None:  # type: ignore[type-arg]
    assert "demo-aws" in {f["source"] for f in findings}
    findings = [f for f in findings if f["source"] == "demo-aws"]  # simulated SaaS tenants add their own
    accounts = {f["resource"]["account"] for f in findings if f["resource"].get("account")}
    regions = {f["resource"]["region"] for f in findings if f["resource"].get("region")}
    statuses = Counter(f["status"] for f in findings)
    assert len(accounts) >= 3, accounts
    assert {"eu-west-1", "us-east-1"} <= regions, regions
    assert statuses["pass"] > 0 and statuses["fail"] > 0, statuses
    # the simulated AWS organisation, plus any simulated SaaS tenant (agent/demo/providers), all demo sources
    sources = {f["source"] for f in findings}
    assert "demo-aws" in sources and all(s.startswith("demo-") for s in sources), sources


def test_findings_with_config_option_from_another_folder(demo: Demo) -> None:
    _check_findings(_findings(demo, "--config", str(demo.config), "findings", "--format", "json"))


def test_findings_with_config_after_the_subcommand(demo: Demo) -> None:
    """The contract's spelling: `annexa findings --config DIR/annexa.yaml`."""
    _check_findings(_findings(demo, "findings", "--config", str(demo.config), "--format", "json"))


def test_the_simulated_fix_shows_in_history(demo: Demo) -> None:
    findings = _findings(demo, "--config", str(demo.config), "findings", "--format", "json")
    bucket = {f["rule"]: f for f in findings if f["resource"]["id"] == "arn:aws:s3:::acme-prod-customer-uploads"}
    fixed = bucket.get("aws.s3.bucket_public_access_blocked")
    if fixed is None:
        pytest.fail("no public-access finding for the demo's public bucket; rules: " + ", ".join(sorted(bucket)))
    assert fixed["status"] == "pass"
    # it changed state in the second run; findings on resources the fix did not touch keep their first run
    # (a finding on the fixed bucket itself starts a new interval too: its evidence snapshot changed)
    earliest = min(f["first_seen"] for f in findings)
    assert fixed["first_seen"] > earliest


def test_controls_through_env_config(demo: Demo) -> None:
    env = offline_env(ANNEXA_CONFIG=str(demo.config))
    proc = annexa("controls", "--format", "json", cwd=demo.elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr
    controls = json.loads(proc.stdout)
    assert len(controls) == 93
    status = Counter(c["status"] for c in controls)
    assert status["failing"] > 0 and status["passing"] > 0, status
    by_id = {c["id"]: c for c in controls}
    assert by_id["A.7.1"]["status"] == "not_applicable"
    assert by_id["A.5.1"]["manual_evidence"] >= 1


def test_store_verifies(demo: Demo) -> None:
    proc = annexa("--config", str(demo.config), "verify", "--store", cwd=demo.elsewhere)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "store OK" in proc.stdout


def test_export_bundle_verifies_and_shows_the_fix(demo: Demo) -> None:
    bundle = demo.folder / "annexa-demo-export.zip"
    assert bundle.is_file()
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        history = list(csv.DictReader(io.TextIOWrapper(zf.open("controls/A.8.3/findings.csv"), "utf-8")))
    assert {"index.html", "manifest.json", "SHA256SUMS"} <= names
    intervals = [(row["status"], row["first_run"], row["open"]) for row in history
                 if row["rule"] == "aws.s3.bucket_public_access_blocked"
                 and row["resource_id"] == "arn:aws:s3:::acme-prod-customer-uploads"]
    assert sorted(intervals) == [("fail", "1", "no"), ("pass", "2", "yes")]
    proc = annexa("verify", str(bundle), cwd=demo.elsewhere)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_risk_acceptance_makes_a_finding_excepted(demo: Demo) -> None:
    findings = _findings(demo, "findings", "--config", str(demo.config), "--status", "excepted", "--format", "json")
    assert [f["resource"]["name"] for f in findings] == ["legacy-reporting-db"]
    assert findings[0]["rule"] == "aws.rds.instance_storage_encrypted"


def test_running_the_demo_again_on_its_folder_rebuilds_it(demo: Demo) -> None:
    """Last in this module: it rebuilds the shared folder. The store's lock files are the demo's own."""
    locks = sorted(p.name for p in demo.folder.iterdir() if p.name.endswith(".lock"))
    assert locks, "the first run left no lock files: nothing to show here"
    again = annexa("demo", "--dir", str(demo.folder), cwd=demo.elsewhere)
    assert again.returncode == 0, again.stderr[-3000:]
    runs = json.loads(annexa("--config", str(demo.config), "runs", "--format", "json", cwd=demo.elsewhere).stdout)
    assert len(runs) == 2  # a fresh store, not the first demo's runs plus the second's
    assert annexa("--config", str(demo.config), "verify", "--store", cwd=demo.elsewhere).returncode == 0
