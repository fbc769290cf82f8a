"""ECR service: scanning, tag immutability and lifecycle policies against moto."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from collectors.aws.services.ecr import scan_frequency
from tests.collectors.aws.conftest import ACCOUNT, run_aws

REGION = "us-east-1"


def test_repository_rules(aws: str, tmp_path: Path) -> None:
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="good", imageTagMutability="IMMUTABLE",
                          imageScanningConfiguration={"scanOnPush": True})
    ecr.put_lifecycle_policy(repositoryName="good", lifecyclePolicyText=json.dumps({"rules": [{
        "rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                         "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]}))
    ecr.create_repository(repositoryName="bad")
    # no repository-level scan-on-push, but a registry rule covers prod-* repositories
    ecr.create_repository(repositoryName="prod-api")
    ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[{
        "scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "prod-*", "filterType": "WILDCARD"}]}])

    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [ecr]\n")
    assert not run.errors
    arn = lambda n: f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{n}"  # noqa: E731
    assert run.by_rule("aws.ecr.repository_scan_on_push") == {arn("good"): "pass", arn("bad"): "fail",
                                                               arn("prod-api"): "pass"}
    assert run.status("aws.ecr.repository_tags_immutable", arn("good")) == "pass"
    assert run.status("aws.ecr.repository_tags_immutable", arn("bad")) == "fail"
    assert run.status("aws.ecr.repository_lifecycle_policy", arn("good")) == "pass"
    assert run.status("aws.ecr.repository_lifecycle_policy", arn("bad")) == "fail"


def test_scan_frequency_wildcards() -> None:
    config = {"scanType": "ENHANCED", "rules": [
        {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "prod-*", "filterType": "WILDCARD"}]},
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}]}
    assert scan_frequency(config, "prod-web") == "CONTINUOUS_SCAN"
    assert scan_frequency(config, "dev-web") == "SCAN_ON_PUSH"
    assert scan_frequency({"scanType": "BASIC", "rules": []}, "x") is None
    # AWS: a filter without a wildcard matches every repository whose name CONTAINS it
    basic = {"scanType": "BASIC", "rules": [
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "payments", "filterType": "WILDCARD"}]}]}
    assert scan_frequency(basic, "team-payments-api") == "SCAN_ON_PUSH"
    assert scan_frequency(basic, "billing") is None
    # '*' is the only wildcard: '?' and '[' are literal characters in ECR filters
    assert scan_frequency({"rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [
        {"filter": "app?*", "filterType": "WILDCARD"}]}]}, "appx-1") is None
    # a repository matched by a MANUAL rule and an automatic one is scanned automatically
    both = {"scanType": "ENHANCED", "rules": [
        {"scanFrequency": "MANUAL", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]},
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "web*", "filterType": "WILDCARD"}]}]}
    assert scan_frequency(both, "web-1") == "SCAN_ON_PUSH"
    assert scan_frequency(both, "db-1") == "MANUAL"
