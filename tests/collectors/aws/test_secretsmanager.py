"""Secrets Manager service: rotation settings and secret age against moto (values never read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from tests.collectors.aws.conftest import run_aws

REGION = "us-east-1"
OPTIONS = "    regions: [us-east-1]\n    services: [secretsmanager]\n"
VALUE = "CANARY-secretsmanager-value-90e1"


def test_secret_rules(aws: str, tmp_path: Path) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    rotated = sm.create_secret(Name="rotated", SecretString=VALUE)["ARN"]
    sm.rotate_secret(SecretId="rotated", RotationRules={"AutomaticallyAfterDays": 30})
    static = sm.create_secret(Name="static", SecretString=VALUE)["ARN"]

    run = run_aws(tmp_path, OPTIONS)
    assert not run.errors
    assert run.status("aws.secretsmanager.secret_rotation_enabled", rotated) == "pass"
    assert run.status("aws.secretsmanager.secret_rotation_enabled", static) == "fail"
    assert run.status("aws.secretsmanager.secret_rotated_90_days", rotated) == "pass"
    assert run.status("aws.secretsmanager.secret_rotated_90_days", static) == "pass"  # created today
    assert VALUE.encode() not in (tmp_path / "annexa.db").read_bytes()

    later = tmp_path / "later"
    later.mkdir()
    run = run_aws(later, OPTIONS, now=datetime.now(UTC) + timedelta(days=120))
    assert run.status("aws.secretsmanager.secret_rotated_90_days", rotated) == "fail"
    assert run.status("aws.secretsmanager.secret_rotated_90_days", static) == "fail"
