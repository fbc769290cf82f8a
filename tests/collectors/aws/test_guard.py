"""The read-only guard: a mutating or secret-reading call never leaves the process.

Every request goes through a counting proxy in front of moto (`CloudTrailFake` forwards whatever is
not LookupEvents), so "not sent" is observed on the wire, and the world is checked afterwards with
an unguarded client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest

from collectors.aws import guard
from collectors.aws.guard import ReadOnlyViolation
from collectors.aws.scope import AwsScope, RunCache
from collectors.aws.services import events
from collectors.aws.session import AccountSession, CallRecorder
from tests.collectors.aws.conftest import ACCOUNT
from tests.collectors.aws.test_events import CloudTrailFake, quick_reset

REGION = "us-east-1"
MODELS = botocore.session.get_session()


@pytest.fixture
def wire(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudTrailFake]:
    """All AWS traffic through the counting proxy."""
    proxy = CloudTrailFake(aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.close()
    quick_reset(aws)


def guarded() -> AccountSession:
    return AccountSession(boto3.Session(region_name=REGION), ACCOUNT, CallRecorder())


def plain(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def test_mutations_are_refused_before_sending(wire: CloudTrailFake) -> None:
    instance = plain("ec2").run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]
    session = guarded()
    before = len(wire.proxied)
    attempts = [
        lambda: session.client("s3", REGION).create_bucket(Bucket="annexa-must-not-exist"),
        lambda: session.client("iam", None).create_user(UserName="annexa-must-not-exist"),
        lambda: session.client("ec2", REGION).terminate_instances(InstanceIds=[instance["InstanceId"]]),
        lambda: session.client("cloudtrail", REGION).stop_logging(Name="main"),
        lambda: session.client("kms", REGION).schedule_key_deletion(KeyId="1234abcd"),
        lambda: session.client("ec2", REGION).get_paginator("describe_instances") and
        session.client("ec2", REGION).modify_instance_attribute(InstanceId=instance["InstanceId"],
                                                                 DisableApiTermination={"Value": True}),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyViolation, match="Annexa only reads"):
            attempt()
    assert len(wire.proxied) == before, wire.proxied[before:]
    assert "annexa-must-not-exist" not in [b["Name"] for b in plain("s3").list_buckets()["Buckets"]]
    assert "annexa-must-not-exist" not in [u["UserName"] for u in plain("iam").list_users()["Users"]]
    state = plain("ec2").describe_instances(InstanceIds=[instance["InstanceId"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] in ("pending", "running")


def test_secret_reads_are_refused(wire: CloudTrailFake) -> None:
    plain("secretsmanager").create_secret(Name="db", SecretString="s3cr3t-value")
    plain("ssm").put_parameter(Name="/app/key", Value="s3cr3t-value", Type="SecureString")
    session = guarded()
    before = len(wire.proxied)
    refused = [
        lambda: session.client("secretsmanager", REGION).get_secret_value(SecretId="db"),
        lambda: session.client("ssm", REGION).get_parameter(Name="/app/key", WithDecryption=True),
        lambda: session.client("ssm", REGION).get_parameters(Names=["/app/key"]),
        lambda: session.client("ssm", REGION).get_parameters_by_path(Path="/app"),
        lambda: session.client("lambda", REGION).get_function_configuration(FunctionName="f"),
        lambda: session.client("ec2", REGION).get_password_data(InstanceId="i-0123456789abcdef0"),
        lambda: session.client("ec2", REGION).get_launch_template_data(InstanceId="i-0123456789abcdef0"),
        lambda: session.client("kms", REGION).decrypt(CiphertextBlob=b"x" * 32),
        lambda: session.client("s3", REGION).get_object(Bucket="b", Key="k"),
        lambda: session.client("sts", REGION).get_session_token(),
    ]
    for attempt in refused:
        with pytest.raises(ReadOnlyViolation):
            attempt()
    assert len(wire.proxied) == before


def test_reads_go_through_and_are_counted(wire: CloudTrailFake) -> None:
    plain("s3").create_bucket(Bucket="evidence")
    recorder = CallRecorder()
    session = AccountSession(boto3.Session(region_name=REGION), ACCOUNT, recorder)
    before = len(wire.proxied)
    assert session.client("sts", REGION).get_caller_identity()["Account"] == ACCOUNT
    assert [b["Name"] for b in session.client("s3", REGION).list_buckets()["Buckets"]] == ["evidence"]
    session.client("iam", None).list_users()
    session.client("iam", None).generate_credential_report()
    list(session.client("ec2", REGION).get_paginator("describe_security_groups").paginate())
    session.client("s3", REGION).head_bucket(Bucket="evidence")
    assert len(wire.proxied) - before == 6
    assert recorder.calls["sts:GetCallerIdentity"] == 1 and recorder.calls["s3:ListBuckets"] == 1
    assert recorder.calls["iam:GenerateCredentialReport"] == 1


def test_events_own_client_is_guarded_too(wire: CloudTrailFake) -> None:
    """The LookupEvents client (own retry policy) comes from the guarded session, not around it."""
    recorder = CallRecorder()
    scope = AwsScope(AccountSession(boto3.Session(region_name=REGION), ACCOUNT, recorder), REGION, "aws",
                     RunCache(), lambda *a, **k: None, home_region=REGION)
    client = events._client(scope)
    before = len(wire.proxied)
    with pytest.raises(ReadOnlyViolation):
        client.stop_logging(Name="main")
    with pytest.raises(ReadOnlyViolation):
        client.delete_trail(Name="main")
    assert len(wire.proxied) == before
    client.describe_trails()
    assert recorder.calls == {"cloudtrail:DescribeTrails": 1}


WRITE_VERBS = ("Create", "Delete", "Put", "Update", "Modify", "Terminate", "Stop", "Start", "Attach", "Detach",
               "Associate", "Disassociate", "Authorize", "Revoke", "Enable", "Disable", "Tag", "Untag", "Set",
               "Add", "Remove", "Reboot", "Restore", "Run", "Import", "Upload", "Send", "Invoke", "Copy", "Reset",
               "Register", "Deregister", "Cancel", "Accept", "Reject", "Rotate", "Schedule", "Replace", "Release")
SERVICES = ("iam", "s3", "cloudtrail", "config", "guardduty", "securityhub", "kms", "accessanalyzer", "ec2", "rds",
            "backup", "logs", "acm", "elbv2", "lambda", "ecr", "secretsmanager", "eks", "organizations",
            "ssm", "cloudwatch", "sns", "ecs", "inspector2")


@pytest.mark.parametrize("service", SERVICES)
def test_every_write_operation_of_scanned_services_is_refused(service: str) -> None:
    model = MODELS.get_service_model(service)
    writes = [op for op in model.operation_names if op.startswith(WRITE_VERBS)]
    assert writes, service
    allowed = [op for op in writes if guard.is_allowed(op)]
    assert allowed == [], f"{service}: write operations let through: {allowed}"
    refused_reads = [op for op in model.operation_names if not guard.is_allowed(op)]
    # and the secret-bearing reads of this service are among the refused ones
    assert set(refused_reads) >= {op for op in model.operation_names if op in guard.SECRET_READS}


@pytest.mark.parametrize("operation", ["GetParameterHistory", "SelectObjectContent"])
def test_value_returning_reads_outside_the_secret_list_are_refused(operation: str) -> None:
    assert not guard.is_allowed(operation)
