"""CloudWatch Logs service: log group retention and KMS keys against moto."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, run_aws

REGION = "us-east-1"


def test_log_group_rules(aws: str, tmp_path: Path) -> None:
    logs = boto3.client("logs", region_name=REGION)
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    logs.create_log_group(logGroupName="/app/forever", kmsKeyId=key)
    logs.create_log_group(logGroupName="/app/year")
    logs.put_retention_policy(logGroupName="/app/year", retentionInDays=400)
    logs.create_log_group(logGroupName="/app/short")
    logs.put_retention_policy(logGroupName="/app/short", retentionInDays=30)

    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [logs]\n")
    assert not run.errors
    arn = lambda n: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{n}"  # noqa: E731
    retention = run.by_rule("aws.logs.log_group_retention_365_days")
    assert retention == {arn("/app/forever"): "pass", arn("/app/year"): "pass", arn("/app/short"): "fail"}
    defined = run.by_rule("aws.logs.log_group_retention_defined")
    assert defined == {arn("/app/forever"): "fail", arn("/app/year"): "pass", arn("/app/short"): "pass"}
    assert run.status("aws.logs.log_group_kms_encrypted", arn("/app/forever")) == "pass"
    assert run.status("aws.logs.log_group_kms_encrypted", arn("/app/year")) == "fail"
