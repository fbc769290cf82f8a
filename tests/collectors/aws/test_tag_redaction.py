"""A tag such as `db_password=…` on an EC2 instance, an S3 bucket or an RDS instance never reaches the
store, the evidence blobs, the logs or an export bundle: the runner redacts it before hashing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3

from agent.redaction import MARKER
from tests.support.evidence import evidence_payloads

ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
CANARY = "hunter2-7c41e0d2"
TAGS = [{"Key": "Name", "Value": "web-1"}, {"Key": "db_password", "Value": CANARY},
        {"Key": "Owner", "Value": "alice@acme.example"}]


def plant() -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                      TagSpecifications=[{"ResourceType": "instance", "Tags": TAGS}])
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="tagged-bucket")
    s3.put_bucket_tagging(Bucket="tagged-bucket", Tagging={"TagSet": TAGS})
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_instance(DBInstanceIdentifier="tagged-db", DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="admin", MasterUserPassword="not-a-real-password-1",
                           AllocatedStorage=20, Tags=TAGS)


def test_a_secret_tag_value_appears_nowhere(aws: str, tmp_path: Path) -> None:
    plant()
    config = tmp_path / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n  evidence: {tmp_path / 'evidence'}\n"
                      "sources:\n  - name: aws-main\n    type: aws\n    regions: [us-east-1]\n"
                      "    services: [ec2, s3, rds]\n    max_attempts: 2\n")
    cli = [sys.executable, "-m", "agent", "--config", str(config), "--log-level", "debug", "--log-format", "json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outputs: dict[str, bytes] = {}

    def annexa(*args: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([*cli, *args], capture_output=True, env=env, cwd=tmp_path, timeout=300)
        outputs[f"{args[0]} stdout"], outputs[f"{args[0]} stderr"] = done.stdout, done.stderr
        return done

    run = annexa("run", "--format", "json")
    assert run.returncode in (0, 3), run.stderr[-3000:]
    assert b"redacted 1 secret-looking value" in run.stderr  # debug log: a count, never the value
    findings = annexa("findings", "--format", "json")
    assert findings.returncode == 0
    bundle = tmp_path / "bundle.zip"
    exported = annexa("export", "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr[-3000:]

    haystacks = dict(outputs)
    for path in tmp_path.iterdir():
        if path.name.startswith("annexa.db"):
            haystacks[path.name] = path.read_bytes()
    blobs: dict[str, bytes] = {}
    for digest, raw in evidence_payloads(tmp_path / "evidence").items():
        blobs[digest] = haystacks[f"evidence/{digest}"] = raw
    with zipfile.ZipFile(bundle) as archive:
        for member in archive.namelist():
            haystacks[f"export!{member}"] = archive.read(member)
    leaked = [name for name, data in haystacks.items() if CANARY.encode() in data]
    assert not leaked, leaked

    # the tags really were collected: redacted in place, the other tags kept as they were
    docs = [json.loads(raw) for raw in blobs.values() if raw.startswith(b"{")]
    tagged = {d["resource"]["type"]: d["data"] for d in docs
              if d.get("resource", {}).get("type") in ("aws.ec2.instance", "aws.rds.db_instance")}
    assert set(tagged) == {"aws.ec2.instance", "aws.rds.db_instance"}, sorted({d["resource"]["type"] for d in docs})
    assert {"Key": "db_password", "Value": MARKER} in tagged["aws.ec2.instance"]["Tags"]
    assert {"Key": "db_password", "Value": MARKER} in tagged["aws.rds.db_instance"]["TagList"]
    assert {"Key": "Owner", "Value": "alice@acme.example"} in tagged["aws.ec2.instance"]["Tags"]
