"""GuardDuty service: one resource per region, with or without a detector, against moto."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, run_aws


def region_id(region: str) -> str:
    return f"arn:aws:guardduty:{region}:{ACCOUNT}:detectors"


def test_guardduty_rules_against_moto(aws: str, tmp_path: Path) -> None:
    boto3.client("guardduty", region_name="us-east-1").create_detector(
        Enable=True, Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}])
    boto3.client("guardduty", region_name="us-west-2").create_detector(Enable=True)
    boto3.client("guardduty", region_name="ap-south-1").create_detector(Enable=False)  # suspended
    # eu-west-1: never enabled

    run = run_aws(tmp_path, "    regions: [us-east-1, us-west-2, ap-south-1, eu-west-1]\n"
                            "    services: [guardduty]\n")
    assert not run.errors, run.errors
    assert run.status("aws.guardduty.enabled", region_id("us-east-1")) == "pass"
    assert run.status("aws.guardduty.enabled", region_id("us-west-2")) == "pass"
    assert run.status("aws.guardduty.enabled", region_id("ap-south-1")) == "fail"
    assert run.status("aws.guardduty.enabled", region_id("eu-west-1")) == "fail"
    assert run.status("aws.guardduty.s3_protection_enabled", region_id("us-east-1")) == "pass"
    assert run.status("aws.guardduty.s3_protection_enabled", region_id("us-west-2")) == "fail"
    assert region_id("eu-west-1") not in run.by_rule("aws.guardduty.s3_protection_enabled")
