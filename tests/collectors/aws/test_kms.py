"""KMS rules against keys built in moto (the collector is services/kms.py)."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, run_aws


def test_kms_rules_against_moto(aws: str, tmp_path: Path) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    new = lambda description, **kw: kms.create_key(Description=description, **kw)["KeyMetadata"]["KeyId"]  # noqa: E731
    rotating, static, doomed, disabled = new("rotating"), new("static"), new("doomed"), new("disabled")
    asymmetric = new("signing", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    kms.enable_key_rotation(KeyId=rotating)
    kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    kms.disable_key(KeyId=disabled)

    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [kms]\n")
    assert not run.errors, run.errors
    arn = lambda key_id: f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"  # noqa: E731
    assert run.status("aws.kms.key_rotation_enabled", arn(rotating)) == "pass"
    assert run.status("aws.kms.key_rotation_enabled", arn(static)) == "fail"
    for key_id in (doomed, disabled, asymmetric):  # rotation does not apply to these
        assert arn(key_id) not in run.by_rule("aws.kms.key_rotation_enabled")
    assert run.status("aws.kms.key_not_pending_deletion", arn(rotating)) == "pass"
    assert run.status("aws.kms.key_not_pending_deletion", arn(doomed)) == "fail"
    assert run.status("aws.kms.key_enabled", arn(static)) == "pass"
    assert run.status("aws.kms.key_enabled", arn(disabled)) == "fail"
    assert arn(doomed) not in run.by_rule("aws.kms.key_enabled")  # judged by key_not_pending_deletion
