"""Lambda service against moto: runtimes, function URLs, resource policies, and secret scrubbing."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from collectors.aws.services.lambda_ import RUNTIME_DEPRECATION
from tests.collectors.aws.conftest import ACCOUNT, run_aws
from tests.support.evidence import evidence_payloads

REGION = "us-east-1"
CANARY_ENV = "CANARY-lambda-env-7f3a9c1e2d"
CANARY_USERDATA = "CANARY-ec2-userdata-5b8e0d4f61"


def code() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def function(name: str, runtime: str, env: dict[str, str] | None = None) -> str:
    iam = boto3.client("iam", region_name=REGION)
    try:
        role = iam.get_role(RoleName="lambda-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    args: dict[str, Any] = {"FunctionName": name, "Runtime": runtime, "Role": role, "Handler": "handler.handler",
                            "Code": {"ZipFile": code()}}
    if env:
        args["Environment"] = {"Variables": env}
    return boto3.client("lambda", region_name=REGION).create_function(**args)["FunctionArn"]


def test_lambda_rules(aws: str, tmp_path: Path) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    current = function("current", "python3.12")
    old = function("old", "python3.8")
    public_url = function("public-url", "python3.12")
    lam.create_function_url_config(FunctionName="public-url", AuthType="NONE")
    lam.add_permission(FunctionName="public-url", StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    iam_url = function("iam-url", "python3.12")
    lam.create_function_url_config(FunctionName="iam-url", AuthType="AWS_IAM")
    public = function("public", "python3.12")
    lam.add_permission(FunctionName="public", StatementId="anyone", Action="lambda:InvokeFunction", Principal="*")
    py39 = function("py39", "python3.9")
    java17 = function("java17", "java17")
    scoped = function("scoped", "python3.12")
    lam.add_permission(FunctionName="scoped", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::uploads", SourceAccount=ACCOUNT)

    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [lambda]\n",
                  now=datetime(2025, 1, 1, tzinfo=UTC))
    assert not run.errors
    assert run.status("aws.lambda.function_runtime_supported", current) == "pass"
    assert run.status("aws.lambda.function_runtime_supported", old) == "fail"
    assert run.status("aws.lambda.function_url_requires_auth", public_url) == "fail"
    assert run.status("aws.lambda.function_url_requires_auth", iam_url) == "pass"
    assert run.status("aws.lambda.function_url_requires_auth", current) == "pass"
    assert run.status("aws.lambda.function_not_publicly_invocable", public) == "fail"
    assert run.status("aws.lambda.function_not_publicly_invocable", public_url) == "fail"
    assert run.status("aws.lambda.function_not_publicly_invocable", scoped) == "pass"
    assert run.status("aws.lambda.function_not_publicly_invocable", current) == "pass"

    # the runtime table is compared with the run clock: python3.9 is deprecated from 2025-12-15
    assert RUNTIME_DEPRECATION["python3.9"] == "2025-12-15"
    assert run.status("aws.lambda.function_runtime_supported", py39) == "pass"
    assert run.status("aws.lambda.function_runtime_supported", java17) == "pass"
    # java17 (like java11 and provided.al2) reaches deprecation on 2026-06-30
    later = tmp_path / "later"
    later.mkdir()
    run = run_aws(later, "    regions: [us-east-1]\n    services: [lambda]\n", now=datetime(2026, 7, 1, tzinfo=UTC))
    assert run.status("aws.lambda.function_runtime_supported", py39) == "fail"
    assert run.status("aws.lambda.function_runtime_supported", java17) == "fail"
    assert run.status("aws.lambda.function_runtime_supported", current) == "pass"  # python3.12: 2028-10-31


def test_secrets_never_stored(aws: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Canaries planted in Lambda environment values and EC2 user data appear nowhere Annexa writes."""
    arn = function("with-secrets", "python3.12", env={"DB_PASSWORD": CANARY_ENV, "PLAIN": "x"})
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 UserData=f"#!/bin/sh\nexport TOKEN={CANARY_USERDATA}\n")["Instances"][0]
    # the canaries really are in moto, so a collector that read them would have found them
    assert lam_env(arn)["DB_PASSWORD"] == CANARY_ENV

    # Capture everything Annexa logs, at debug level. Third-party wire loggers are held at WARNING
    # exactly as agent.logsetup.configure_logging holds them (botocore would otherwise echo bodies).
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        caplog.set_level(logging.WARNING, logger=noisy)
    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [lambda, ec2]\n")
    assert not run.errors
    assert run.by_rule("aws.lambda.function_runtime_supported")[arn] == "pass"
    assert f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance['InstanceId']}" in run.by_rule(
        "aws.ec2.instance_imdsv2_required")

    written: list[bytes] = [(tmp_path / "annexa.db").read_bytes()]
    written += evidence_payloads(tmp_path / "evidence").values()
    assert len(written) > 2  # evidence blobs were written and inspected
    for canary in (CANARY_ENV, CANARY_USERDATA):
        for blob in written:
            assert canary.encode() not in blob
        assert canary not in caplog.text
    # the key is still visible, its value only as a redaction marker
    decoded = b"\n".join(written)
    assert b"DB_PASSWORD" in decoded and b'"redacted":true' in decoded.replace(b" ", b"")


def lam_env(arn: str) -> dict[str, str]:
    fn = boto3.client("lambda", region_name=REGION).get_function(FunctionName=arn)
    return fn["Configuration"]["Environment"]["Variables"]


def test_denied_policy_lookup_is_error_not_pass(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If a function's resource policy cannot be read, the function is not judged on half the evidence."""
    import collectors.aws as aws_collector

    arn = function("unreadable", "python3.12")
    original = aws_collector.base_session

    def deny_get_policy(request: Any, **_: Any) -> AWSResponse | None:
        if not request.url.split("?")[0].endswith("/policy"):
            return None
        body = json.dumps({"Type": "User", "Message": "not authorized to perform lambda:GetPolicy"}).encode()
        return AWSResponse(request.url, 403, {"x-amzn-ErrorType": "AccessDeniedException",
                                              "Content-Type": "application/json"}, _Body(body))

    def session(*args: Any, **kwargs: Any) -> Any:
        sess = original(*args, **kwargs)
        sess.events.register("before-send.lambda.*", deny_get_policy)
        return sess

    monkeypatch.setattr(aws_collector, "base_session", session)
    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [lambda]\n")
    assert [e.resource_type for e in run.errors] == ["aws.lambda.function"]
    assert "AccessDenied" in run.errors[0].message
    for rule in ("aws.lambda.function_not_publicly_invocable", "aws.lambda.function_runtime_supported"):
        statuses = run.by_rule(rule)
        assert arn not in statuses
        assert set(statuses.values()) == {"error"}


class _Body:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body
