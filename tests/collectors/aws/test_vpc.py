"""VPC service: flow logs per VPC against moto."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, run_aws

REGION = "us-east-1"


def test_flow_logs(aws: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="flow-log-bucket")
    logged = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    ec2.create_flow_logs(ResourceIds=[logged], ResourceType="VPC", TrafficType="ALL",
                         LogDestinationType="s3", LogDestination="arn:aws:s3:::flow-log-bucket")
    unlogged = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    default = next(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["IsDefault"])

    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [vpc]\n")
    assert not run.errors
    arn = lambda v: f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{v}"  # noqa: E731
    assert run.status("aws.vpc.flow_logs_enabled", arn(logged)) == "pass"
    assert run.status("aws.vpc.flow_logs_enabled", arn(unlogged)) == "fail"
    assert run.status("aws.vpc.flow_logs_enabled", arn(default)) == "fail"
    default_finding = next(f for f in run.findings if f["resource_id"] == arn(default))
    assert "default VPC" in default_finding["message"]
