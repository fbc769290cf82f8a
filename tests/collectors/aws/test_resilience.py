"""Throttling is retried; a denied or crashing service becomes `error` findings while the rest completes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

import collectors.aws as aws_collector
from collectors.aws.services import logs as logs_service
from tests.collectors.aws.conftest import run_aws
from tests.collectors.aws.test_events import CloudTrailFake, quick_reset

ROOT = Path(__file__).resolve().parents[3]
OPTIONS = "    regions: [us-east-1]\n    services: [kms, logs]\n"
ROTATION = "aws.kms.key_rotation_enabled"
RETENTION = "aws.logs.log_group_retention_defined"


class _Body:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def throttle(operations: dict[str, int], seen: Counter[str]) -> Any:
    """A `before-send` handler answering the first N attempts of each named operation with ThrottlingException."""

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        name = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
        if name not in operations:
            return None
        seen[name] += 1
        if seen[name] > operations[name]:
            return None
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Body(body))

    return handler


@pytest.fixture
def estate(aws: str) -> Iterator[dict[str, str]]:
    """Two KMS keys (rotation on / off) and two log groups (retention set / never expires)."""
    kms = boto3.client("kms", region_name="us-east-1")
    rotated = kms.create_key(Description="rotated")["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=rotated)
    plain_key = kms.create_key(Description="plain")["KeyMetadata"]["Arn"]
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="/kept")
    logs.put_retention_policy(logGroupName="/kept", retentionInDays=400)
    logs.create_log_group(logGroupName="/forever")
    arns = {g["logGroupName"]: g["arn"].removesuffix(":*") for g in logs.describe_log_groups()["logGroups"]}
    yield {"rotated": rotated, "plain": plain_key, "kept": arns["/kept"], "forever": arns["/forever"]}
    quick_reset(aws)


def test_throttling_is_retried_and_findings_are_right(estate: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Counter[str] = Counter()
    plan = {"ListKeys": 2, "DescribeLogGroups": 2, "GetKeyRotationStatus": 1}
    original = aws_collector.base_session

    def throttled_session(*args: Any, **kwargs: Any) -> Any:
        session = original(*args, **kwargs)
        session.events.register("before-send.*.*", throttle(plan, seen))
        return session

    monkeypatch.setattr(aws_collector, "base_session", throttled_session)
    run = run_aws(tmp_path, OPTIONS)

    assert not run.errors and run.result.status == "complete"
    assert seen["ListKeys"] == 3 and seen["DescribeLogGroups"] == 3  # two throttled attempts, then success
    assert seen["GetKeyRotationStatus"] == 3  # one throttled, then one per key
    assert run.status(ROTATION, estate["rotated"]) == "pass"
    assert run.status(ROTATION, estate["plain"]) == "fail"
    assert run.status(RETENTION, estate["kept"]) == "pass"
    assert run.status(RETENTION, estate["forever"]) == "fail"
    recorder = aws_collector.AwsCollector.recorder
    assert recorder is not None and recorder.calls["kms:ListKeys"] == 1  # one call, retried underneath


def test_denied_service_is_error_and_the_rest_completes(estate: dict[str, str], tmp_path: Path, aws: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = CloudTrailFake(aws)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", proxy.url)
        proxy.deny("AccessDeniedException", "TrentService.")  # every KMS operation
        run = run_aws(tmp_path, OPTIONS)
        assert run.result.status == "partial"
        assert {(e.resource_type, e.account, e.region) for e in run.errors} == {
            ("aws.kms.key", "123456789012", "us-east-1")}
        kms_rules = {f["rule_id"]: f["status"] for f in run.findings if f["rule_id"].startswith("aws.kms.")}
        assert kms_rules and set(kms_rules.values()) == {"error"}
        assert estate["rotated"] not in {f["resource_id"] for f in run.findings}  # no half-judged keys
        assert run.status(RETENTION, estate["kept"]) == "pass"
        assert run.status(RETENTION, estate["forever"]) == "fail"

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cli = [sys.executable, "-m", "agent", "--config", str(tmp_path / "annexa.yaml")]
        done = subprocess.run([*cli, "run", "--format", "json"], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=240)
        assert done.returncode == 3, done.stderr[-2000:]
        listed = subprocess.run([*cli, "findings", "--status", "error", "--format", "json"], capture_output=True,
                                text=True, env=env, cwd=tmp_path, timeout=120)
        assert listed.returncode == 0, listed.stderr[-2000:]
        errors = json.loads(listed.stdout)
        assert errors and {f["rule"].split(".")[1] for f in errors} == {"kms"}
        assert all("AccessDenied" in f["message"] for f in errors)
        assert {f["resource"]["account"] for f in errors} == {"123456789012"}
    finally:
        proxy.close()


def test_a_crashing_service_only_fails_its_own_types(estate: dict[str, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(scope: Any) -> Iterator[Any]:
        yield from ()
        raise KeyError("unexpected response shape")

    monkeypatch.setattr(logs_service, "SERVICE", dataclasses.replace(logs_service.SERVICE, collect=broken))
    run = run_aws(tmp_path, OPTIONS)
    assert {e.resource_type for e in run.errors} == {"aws.logs.log_group"}
    assert "KeyError" in run.errors[0].message
    assert set(run.by_rule(RETENTION).values()) == {"error"}
    assert run.status(ROTATION, estate["plain"]) == "fail"
