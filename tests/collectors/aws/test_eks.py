"""EKS service: endpoint exposure, control plane logging, secrets encryption and version support."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3

from collectors.aws.services.eks import standard_support_end
from tests.collectors.aws.conftest import ACCOUNT, run_aws

REGION = "us-east-1"


def test_cluster_rules(aws: str, tmp_path: Path) -> None:
    eks = boto3.client("eks", region_name=REGION)
    role = f"arn:aws:iam::{ACCOUNT}:role/eks"
    eks.create_cluster(name="good", roleArn=role, version="1.33",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"], "endpointPublicAccess": False,
                                           "endpointPrivateAccess": True},
                       logging={"clusterLogging": [{"types": ["api", "audit", "authenticator"], "enabled": True},
                                                   {"types": ["scheduler"], "enabled": False}]},
                       encryptionConfig=[{"resources": ["secrets"],
                                          "provider": {"keyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"}}])
    eks.create_cluster(name="bad", roleArn=role, version="1.28",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"], "endpointPublicAccess": True,
                                           "publicAccessCidrs": ["0.0.0.0/0"]},
                       logging={"clusterLogging": [{"types": ["api"], "enabled": True},
                                                   {"types": ["audit", "authenticator"], "enabled": False}]})
    eks.create_cluster(name="office-only", roleArn=role, version="1.33",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"], "endpointPublicAccess": True,
                                           "publicAccessCidrs": ["203.0.113.0/24"]})

    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [eks]\n", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert not run.errors
    arn = lambda n: f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{n}"  # noqa: E731
    assert run.by_rule("aws.eks.cluster_endpoint_not_public") == {
        arn("good"): "pass", arn("bad"): "fail", arn("office-only"): "pass"}
    assert run.status("aws.eks.cluster_audit_logging_enabled", arn("good")) == "pass"
    assert run.status("aws.eks.cluster_audit_logging_enabled", arn("bad")) == "fail"
    assert run.status("aws.eks.cluster_audit_logging_enabled", arn("office-only")) == "fail"
    assert run.status("aws.eks.cluster_secrets_encrypted", arn("good")) == "pass"
    assert run.status("aws.eks.cluster_secrets_encrypted", arn("bad")) == "fail"
    assert run.status("aws.eks.cluster_version_supported", arn("good")) == "pass"
    assert run.status("aws.eks.cluster_version_supported", arn("bad")) == "fail"


def test_standard_support_table() -> None:
    assert standard_support_end("1.30") == "2025-07-23"
    assert standard_support_end("1.19") == "2023-10-11"  # older than the table: ended before its oldest entry
    assert standard_support_end("1.99") is None  # newer than the table: not judged unsupported
    assert standard_support_end(None) is None
