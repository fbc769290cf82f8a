"""Secrets planted everywhere AWS keeps them never reach the store, the evidence, the logs or an export.

A canary string goes into Lambda environment variables, EC2 user data, launch template user data,
SSM parameters (SecureString and String), Secrets Manager secret values, an ECS task definition's
container environment, an IAM console password, RDS master passwords and a CloudTrail event's
request parameters. Then the real CLI runs the whole pipeline over every service that exists
(`annexa run` at debug log level, `annexa findings`, `annexa export`) in subprocesses, and every
byte it leaves behind is searched: database files, each evidence blob (decompressed), stdout and
stderr, and every file of the export bundle (nested archives opened too).
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.aws_scan import seed
from collectors.aws.services import all_services
from tests.collectors.aws.test_events import CloudTrailFake, ct_record, quick_reset
from tests.support.evidence import evidence_payloads

ROOT = Path(__file__).resolve().parents[3]
CANARY = "cnry-5d1f0a7e9b3c"


def needles() -> list[bytes]:
    """The canary as planted, and in the encodings AWS hands some of it back (base64 user data)."""
    script = f"#!/bin/sh\nexport DB_PASSWORD={CANARY}\n".encode()
    return [CANARY.encode(), base64.b64encode(script), base64.b64encode(CANARY.encode()).rstrip(b"=")]


def leaks(name: str, data: bytes) -> list[str]:
    found = [f"{name}: {n[:24]!r}" for n in needles() if n in data]
    if data[:2] == b"PK":  # a nested archive (xlsx, zip): look inside too
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                for member in inner.namelist():
                    found += leaks(f"{name}!{member}", inner.read(member))
        except zipfile.BadZipFile:
            pass
    return found


@pytest.fixture
def planted(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudTrailFake]:
    fake = CloudTrailFake(aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", fake.url)
    seed(("us-east-1", "eu-west-1"), copies=1, canary=CANARY)
    now = datetime.now(UTC)
    for name, params in (("CreateLoginProfile", {"userName": "bench-user-0", "password": f"{CANARY}-Aa1!"}),
                         ("UpdateLoginProfile", {"userName": "bench-user-1", "password": CANARY}),
                         ("CreateUser", {"userName": "eve", "tags": [{"key": "note", "value": "hello"}]})):
        fake.add(ct_record(name, now - timedelta(hours=2), source="iam.amazonaws.com", request=params))
    yield fake
    fake.close()
    quick_reset(aws)


def test_canary_appears_nowhere(planted: CloudTrailFake, tmp_path: Path) -> None:
    config = tmp_path / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n  evidence: {tmp_path / 'evidence'}\n"
                      "sources:\n  - name: aws-main\n    type: aws\n    regions: [us-east-1, eu-west-1]\n"
                      # moto answers a few operations it lacks with errors botocore would retry for a minute
                      "    max_attempts: 2\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "agent", "--config", str(config), "--log-level", "debug", "--log-format", "json"]
    outputs: dict[str, bytes] = {}

    def annexa(label: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([*cli, *args], capture_output=True, env=env, cwd=tmp_path, timeout=300)
        outputs[f"{label} stdout"], outputs[f"{label} stderr"] = done.stdout, done.stderr
        return done

    run = annexa("run", "run", "--format", "json")
    assert run.returncode in (0, 3), run.stderr[-3000:]  # 3: moto lacks a few APIs (error findings)
    assert b'"resources"' in run.stdout or b"aws-main" in run.stdout
    assert len(run.stderr) > 1000  # debug logging really was on
    findings = annexa("findings", "findings", "--format", "json")
    assert findings.returncode == 0 and b"aws.lambda." in findings.stdout
    bundle = tmp_path / "bundle.zip"
    exported = annexa("export", "export", "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr[-3000:]

    # the run really saw the places the canary was planted
    for marker in (b"aws.lambda.function", b"aws.ec2.instance", b"aws.secretsmanager.secret",
                   b"aws.cloudtrail.event", b"aws.iam.user", b"aws.rds."):
        assert marker in findings.stdout or marker in (tmp_path / "annexa.db").read_bytes(), marker
    assert planted.calls("us-east-1"), "LookupEvents was not called"

    found: list[str] = []
    for label, data in outputs.items():
        found += leaks(label, data)
    db_files = [p for p in tmp_path.iterdir() if p.name.startswith("annexa.db")]
    assert db_files
    for path in db_files:
        found += leaks(path.name, path.read_bytes())
    blobs = evidence_payloads(tmp_path / "evidence")
    assert len(blobs) > 50
    for digest, raw in blobs.items():
        found += leaks(f"evidence/{digest}", raw)
    with zipfile.ZipFile(bundle) as archive:
        members = archive.namelist()
        assert any(m.startswith("controls/") for m in members)
        for member in members:
            found += leaks(f"export!{member}", archive.read(member))
    assert not found, "canary leaked:\n" + "\n".join(found)

    services = {spec.name for spec in all_services()}
    assert {"lambda", "ec2", "secretsmanager", "events", "iam", "rds"} <= services
