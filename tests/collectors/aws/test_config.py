"""AWS Config service: one resource per region, configured or not, against moto."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, run_aws


def region_id(region: str) -> str:
    return f"arn:aws:config:{region}:{ACCOUNT}:configuration-recorders"


def test_config_rules_against_moto(aws: str, tmp_path: Path) -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="config-history")
    role = f"arn:aws:iam::{ACCOUNT}:role/aws-config"
    # us-east-1: records everything, delivers, running
    good = boto3.client("config", region_name="us-east-1")
    good.put_configuration_recorder(ConfigurationRecorder={"name": "default", "roleARN": role, "recordingGroup": {
        "allSupported": True, "includeGlobalResourceTypes": True}})
    good.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-history"})
    good.start_configuration_recorder(ConfigurationRecorderName="default")
    # us-west-2: a recorder for two hand-picked types, never started, no delivery channel
    partial = boto3.client("config", region_name="us-west-2")
    partial.put_configuration_recorder(ConfigurationRecorder={"name": "default", "roleARN": role, "recordingGroup": {
        "allSupported": False, "includeGlobalResourceTypes": False,
        "resourceTypes": ["AWS::EC2::Instance", "AWS::S3::Bucket"]}})
    # eu-west-1: nothing at all

    run = run_aws(tmp_path, "    regions: [us-east-1, us-west-2, eu-west-1]\n    services: [config]\n")
    assert not run.errors, run.errors
    assert run.status("aws.config.recorder_recording", region_id("us-east-1")) == "pass"
    assert run.status("aws.config.recorder_recording", region_id("us-west-2")) == "fail"
    assert run.status("aws.config.recorder_recording", region_id("eu-west-1")) == "fail"
    assert run.status("aws.config.recorder_records_all_resources", region_id("us-east-1")) == "pass"
    assert run.status("aws.config.recorder_records_all_resources", region_id("us-west-2")) == "fail"
    # no recorder at all is already a failure of recorder_recording; not judged twice
    assert region_id("eu-west-1") not in run.by_rule("aws.config.recorder_records_all_resources")
