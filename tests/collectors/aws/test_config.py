"""AWS Config service: one resource per region, configured or not, against moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from agent.model import Resource
from agent.rules.engine import RuleSet
from tests.collectors.aws.conftest import ACCOUNT, builtin_rules, run_aws


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
    # eu-central-1: every type except an exclusion list (the newer recording strategy), running
    excl = boto3.client("config", region_name="eu-central-1")
    excl.put_configuration_recorder(ConfigurationRecorder={"name": "default", "roleARN": role, "recordingGroup": {
        "allSupported": False, "includeGlobalResourceTypes": False,
        "exclusionByResourceTypes": {"resourceTypes": ["AWS::EC2::NetworkInterface"]},
        "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"}}})

    run = run_aws(tmp_path, "    regions: [us-east-1, us-west-2, eu-west-1, eu-central-1]\n    services: [config]\n")
    assert not run.errors, run.errors
    assert run.status("aws.config.recorder_recording", region_id("us-east-1")) == "pass"
    assert run.status("aws.config.recorder_recording", region_id("us-west-2")) == "fail"
    assert run.status("aws.config.recorder_recording", region_id("eu-west-1")) == "fail"
    assert run.status("aws.config.recorder_records_all_resources", region_id("us-east-1")) == "pass"
    assert run.status("aws.config.recorder_records_all_resources", region_id("us-west-2")) == "fail"
    assert run.status("aws.config.recorder_records_all_resources", region_id("eu-central-1")) == "pass"
    # no recorder at all is already a failure of recorder_recording; not judged twice
    assert region_id("eu-west-1") not in run.by_rule("aws.config.recorder_records_all_resources")


def judge(rule_id: str, data: dict[str, Any]) -> str:
    rules = RuleSet([r for r in builtin_rules() if r.id == rule_id])
    out = rules.evaluate(Resource("aws.config.region", region_id("eu-west-2"), "AWS Config in eu-west-2", data,
                                  ACCOUNT, "eu-west-2"))
    return out[0][1].status.value if out else "n/a"


def test_recorder_status_shapes() -> None:
    """DescribeConfigurationRecorder(Status) shapes moto does not produce: a failing delivery, and the
    service-linked recorders some AWS services create (servicePrincipal set, narrow internal scope)."""
    customer = {"name": "default", "roleARN": "arn:aws:iam::123456789012:role/config",
                "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}}
    linked = {"arn": f"arn:aws:config:eu-west-2:{ACCOUNT}:configuration-recorder/AWSConfigurationRecorderForX/abc",
              "name": "AWSConfigurationRecorderForX", "servicePrincipal": "x.amazonaws.com",
              "recordingScope": "INTERNAL",
              "recordingGroup": {"allSupported": False, "resourceTypes": ["AWS::EC2::Instance"]}}
    channel = [{"name": "default", "s3BucketName": "config-history"}]

    def status(name: str, last: str, principal: str | None = None) -> dict[str, Any]:
        entry = {"name": name, "recording": True, "lastStatus": last}
        return {**entry, "servicePrincipal": principal} if principal else entry

    healthy = {"ConfigurationRecorders": [customer], "DeliveryChannels": channel,
               "ConfigurationRecordersStatus": [status("default", "Success")]}
    failing = {**healthy, "ConfigurationRecordersStatus": [status("default", "Failure")]}
    only_linked = {"ConfigurationRecorders": [linked], "DeliveryChannels": channel,
                   "ConfigurationRecordersStatus": [status(linked["name"], "Success", linked["servicePrincipal"])]}
    assert judge("aws.config.recorder_recording", healthy) == "pass"
    assert judge("aws.config.recorder_recording", failing) == "fail"
    assert judge("aws.config.recorder_recording", only_linked) == "fail"
    # a service-linked recorder's narrow scope is not the customer's recording choice
    assert judge("aws.config.recorder_records_all_resources", {**healthy, "ConfigurationRecorders": [customer, linked]}
                 ) == "pass"
    assert judge("aws.config.recorder_records_all_resources", only_linked) == "n/a"
