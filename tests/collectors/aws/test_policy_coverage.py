"""The shipped IAM policy allows every call the collector makes, and nothing that writes or reads secrets.

The collector runs against a moto world with resources of every service (the bench's world), so the
per-item calls happen too; the calls it records (`signing-name:Operation`) are mapped to IAM actions
and checked against `deploy/aws/annexa-readonly-policy.json`. The CloudFormation template must carry
the same policy, pass cfn-lint (which also knows every IAM action name) and deploy.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml
from botocore import xform_name

from bench.aws_scan import seed
from collectors.aws import AwsCollector, guard
from collectors.aws.operations import OPERATIONS
from collectors.aws.services import all_services, events
from tests.collectors.aws.conftest import ACCOUNT, run_aws
from tests.collectors.aws.test_events import CloudTrailFake, quick_reset

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "aws"
POLICY = json.loads((DEPLOY / "annexa-readonly-policy.json").read_text())
CALLER_POLICY = json.loads((DEPLOY / "annexa-caller-policy.json").read_text())
TEMPLATE = DEPLOY / "annexa-readonly-role.yaml"

# Signing names that differ from the IAM action prefix.
IAM_PREFIX = {"monitoring": "cloudwatch"}
# API operations whose IAM action has another name (documented per operation in each API reference).
IAM_ACTIONS = {
    "s3:ListBuckets": ["s3:ListAllMyBuckets"],
    "s3:HeadBucket": ["s3:ListBucket"],
    "s3:GetBucketEncryption": ["s3:GetEncryptionConfiguration"],
    # s3 and s3control share the signing name "s3": the bucket-level and the account-level setting
    "s3:GetPublicAccessBlock": ["s3:GetBucketPublicAccessBlock", "s3:GetAccountPublicAccessBlock"],
    "s3:GetObjectLockConfiguration": ["s3:GetBucketObjectLockConfiguration"],
    "s3:GetBucketLifecycleConfiguration": ["s3:GetLifecycleConfiguration"],
    "s3:GetBucketReplication": ["s3:GetReplicationConfiguration"],
    "s3:GetBucketNotificationConfiguration": ["s3:GetBucketNotification"],
    "s3:GetBucketCors": ["s3:GetBucketCORS"],
    "access-analyzer:ListFindingsV2": ["access-analyzer:ListFindings"],
}
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
CALLER_SIDE = {"sts:AssumeRole", "organizations:ListAccounts"}
# Which recorded prefix shows that a service module ran.
MODULE_PREFIX = {
    "iam": "iam", "s3": "s3", "cloudtrail": "cloudtrail", "config": "config", "guardduty": "guardduty",
    "securityhub": "securityhub", "kms": "kms", "accessanalyzer": "access-analyzer", "events": "cloudtrail",
    "ec2": "ec2", "vpc": "ec2", "rds": "rds", "backup": "backup", "logs": "logs", "acm": "acm",
    "elbv2": "elasticloadbalancing", "lambda": "lambda", "ecr": "ecr", "secretsmanager": "secretsmanager",
    "eks": "eks",
}


def allowed_actions(policy: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement
        actions = statement["Action"]
        out.extend([actions] if isinstance(actions, str) else actions)
    return out


def is_allowed(action: str, patterns: list[str]) -> bool:
    """IAM matching: case-insensitive, `*` and `?` wildcards."""
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def iam_actions(call: str) -> list[str]:
    prefix, operation = call.split(":", 1)
    key = f"{IAM_PREFIX.get(prefix, prefix)}:{operation}"
    return IAM_ACTIONS.get(key, [key])


@pytest.fixture
def full_world(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudTrailFake]:
    """Every service seeded in two Regions; LookupEvents answered; moto's missing APIs fail fast."""
    fake = CloudTrailFake(aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", fake.url)
    monkeypatch.setattr(events, "MIN_INTERVAL", 0.0)
    boto3.client("organizations", region_name="us-east-1").create_organization(FeatureSet="ALL")
    seed(("us-east-1", "eu-west-1"), copies=1)
    yield fake
    fake.close()
    quick_reset(aws)


def test_every_call_of_a_full_run_is_allowed(full_world: CloudTrailFake, tmp_path: Path) -> None:
    run = run_aws(tmp_path, "    regions: [us-east-1, eu-west-1]\n    accounts: organization\n    max_attempts: 1\n")
    recorder = AwsCollector.recorder
    assert recorder is not None
    calls = set(recorder.calls)
    prefixes = {c.split(":", 1)[0] for c in calls}
    ran = {spec.name for spec in all_services()}
    assert ran <= set(MODULE_PREFIX), f"add the new service module(s) to MODULE_PREFIX: {ran - set(MODULE_PREFIX)}"
    assert {MODULE_PREFIX[name] for name in ran} <= prefixes  # every service module made calls
    assert len(calls) >= 60 and run.findings
    listed = {f"{botocore.session.get_session().get_service_model(svc).signing_name}:{op}"
              for svc, ops in OPERATIONS.items() for op in ops}
    assert calls <= listed, f"add to collectors/aws/operations.py: {sorted(calls - listed)}"

    patterns = allowed_actions(POLICY)
    caller = allowed_actions(CALLER_POLICY)
    missing = sorted(f"{call} -> {action}" for call in calls - NEEDS_NO_PERMISSION for action in iam_actions(call)
                     if not is_allowed(action, patterns) and not (call in CALLER_SIDE and is_allowed(action, caller)))
    assert not missing, "deploy/aws/annexa-readonly-policy.json lacks:\n" + "\n".join(missing)
    unused = sorted(p for p in patterns if not any(is_allowed(a, [p]) for c in calls for a in iam_actions(c)))
    # actions the moto world cannot exercise, each with its reason
    assert set(unused) <= {
        "access-analyzer:ListFindings",            # moto has no Access Analyzer: ListAnalyzers fails first
        "ec2:DescribeRegions",                     # only with `regions: all`
        "rds:DescribeDBClusterSnapshotAttributes",  # moto creates no manual cluster snapshot here
    }, unused


def _literal_calls() -> set[str]:
    """`scope.call/paginate("service", "operation")` literals in the service modules, as recorder keys."""
    session = botocore.session.get_session()
    pattern = re.compile(r"scope\.(?:call|paginate)\(\s*\"([a-z0-9-]+)\",\s*\"([a-z0-9_]+)\"")
    out: set[str] = set()
    for path in (ROOT / "collectors" / "aws" / "services").glob("*.py"):
        for service, method in pattern.findall(path.read_text()):
            model = session.get_service_model(service)
            names = {xform_name(op): op for op in model.operation_names}
            assert method in names, f"{path.name}: {service}.{method} is not an operation"
            out.add(f"{model.signing_name}:{names[method]}")
    return out


def test_every_literal_call_in_the_source_is_allowed() -> None:
    """Also the calls a moto world cannot reach (e.g. findings of an analyzer moto cannot create)."""
    calls = _literal_calls()
    assert len(calls) >= 40
    patterns = allowed_actions(POLICY) + allowed_actions(CALLER_POLICY)
    missing = sorted(a for c in calls - NEEDS_NO_PERMISSION for a in iam_actions(c) if not is_allowed(a, patterns))
    assert not missing, missing


def test_policy_is_explicit_read_only_and_small() -> None:
    actions = allowed_actions(POLICY)
    assert len(actions) == len(set(actions))
    for action in actions:
        _, name = action.split(":")
        assert "*" not in action and "?" not in action, f"{action}: list actions explicitly"
        assert guard.is_allowed(name), f"{action} is not a read the guard allows"
        assert name not in guard.SECRET_READS
    assert all(s["Resource"] == "*" for s in POLICY["Statement"])
    # an IAM managed policy holds at most 6,144 characters, whitespace not counted
    assert len("".join(json.dumps(POLICY).split())) < 6144
    caller = allowed_actions(CALLER_POLICY)
    assert set(caller) == CALLER_SIDE
    role_arns = [s["Resource"] for s in CALLER_POLICY["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert fnmatch.fnmatchcase("arn:aws:iam::111111111111:role/AnnexaReadOnly", role_arns[0])


def test_template_carries_the_policy_lints_and_deploys(aws: str) -> None:
    from cfnlint.api import ManualArgs, lint_file

    template = yaml.safe_load(TEMPLATE.read_text())
    assert template["Resources"]["AnnexaReadOnlyPolicy"]["Properties"]["PolicyDocument"] == POLICY
    problems = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert not problems, "\n".join(str(p) for p in problems)

    cfn = boto3.client("cloudformation", region_name="us-east-1")
    trusted = "arn:aws:iam::111111111111:role/annexa-collector"
    cfn.create_stack(StackName="annexa-readonly", TemplateBody=TEMPLATE.read_text(),
                     Capabilities=["CAPABILITY_NAMED_IAM"],
                     Parameters=[{"ParameterKey": "TrustedPrincipalArn", "ParameterValue": trusted},
                                 {"ParameterKey": "ExternalId", "ParameterValue": "annexa-7c1e"}])
    stack = cfn.describe_stacks(StackName="annexa-readonly")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/AnnexaReadOnly"
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.get_role(RoleName="AnnexaReadOnly")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (statement,) = trust["Statement"]
    assert statement["Principal"]["AWS"] == trusted
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == "annexa-7c1e"
    (attached,) = iam.list_attached_role_policies(RoleName="AnnexaReadOnly")["AttachedPolicies"]
    assert attached["PolicyArn"] == outputs["PolicyArn"]
    version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document == POLICY
