"""S3 service: account public access block and bucket settings against moto.

botocore addresses S3 Control at `<account-id>.<endpoint host>`. Against moto on 127.0.0.1 that
name does not resolve, so the `s3control_dns` fixture resolves `<12 digits>.127.0.0.1` to loopback
(what a hosts-file entry would do); moto then serves the real S3 Control API. Without it the
account-level lookup fails, which must give `error` findings, never a pass.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from collectors.aws import session as aws_session
from tests.collectors.aws.conftest import ACCOUNT, run_aws

S3_ONLY = "    regions: [us-east-1]\n    services: [s3]\n"
ACCOUNT_BLOCK = f"arn:aws:s3::{ACCOUNT}:account-public-access-block"
ALL_ON = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
ACCOUNT_HOST = re.compile(r"^\d{12}\.(127\.0\.0\.1)$")


@pytest.fixture
def s3control_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    guarded = socket.getaddrinfo  # the loopback-only guard installed by tests/conftest.py

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        match = ACCOUNT_HOST.match(host) if isinstance(host, str) else None
        return guarded(match.group(1) if match else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def deny_http(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def build_buckets() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="log-bucket")
    s3.put_bucket_acl(Bucket="log-bucket", ACL="log-delivery-write")
    # good: every setting on
    s3.create_bucket(Bucket="good-bucket", ObjectLockEnabledForBucket=True)
    s3.put_public_access_block(Bucket="good-bucket", PublicAccessBlockConfiguration=ALL_ON)
    s3.put_bucket_policy(Bucket="good-bucket", Policy=deny_http("good-bucket"))
    s3.put_bucket_encryption(Bucket="good-bucket", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]})
    s3.put_bucket_versioning(Bucket="good-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_logging(Bucket="good-bucket", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "log-bucket", "TargetPrefix": "good/"}})
    s3.put_bucket_ownership_controls(Bucket="good-bucket", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    # bad: public ACL and public policy, nothing else configured
    s3.create_bucket(Bucket="bad-bucket")
    s3.put_bucket_acl(Bucket="bad-bucket", ACL="public-read")
    s3.put_bucket_policy(Bucket="bad-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bad-bucket/*"}]}))
    s3.put_bucket_versioning(Bucket="bad-bucket", VersioningConfiguration={"Status": "Suspended"})
    # public ACL neutralised by IgnorePublicAcls; a partial block is still not "fully covered"
    s3.create_bucket(Bucket="acl-ignored")
    s3.put_bucket_acl(Bucket="acl-ignored", ACL="public-read")
    s3.put_public_access_block(Bucket="acl-ignored", PublicAccessBlockConfiguration={
        **ALL_ON, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    # a bucket in another region; a policy shared with the organisation only (conditioned "*")
    eu = boto3.client("s3", region_name="eu-west-1")
    eu.create_bucket(Bucket="eu-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    eu.put_bucket_policy(Bucket="eu-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::eu-bucket/*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}]}))


def in_folder(folder: Path, options: str = S3_ONLY) -> Any:
    folder.mkdir()
    return run_aws(folder, options)


def test_s3_rules_against_moto(aws: str, tmp_path: Path, s3control_dns: None) -> None:
    build_buckets()
    run = in_folder(tmp_path / "first")
    assert not run.errors, run.errors
    assert run.result.status == "complete"
    good, bad = arn("good-bucket"), arn("bad-bucket")
    for rule in ("bucket_public_access_blocked", "bucket_policy_not_public", "bucket_acl_not_public",
                 "bucket_acls_disabled", "bucket_default_encryption", "bucket_secure_transport_required",
                 "bucket_versioning_enabled", "bucket_access_logging_enabled", "bucket_object_lock_enabled"):
        assert run.status(f"aws.s3.{rule}", good) == "pass", rule
        assert run.status(f"aws.s3.{rule}", bad) == "fail", rule
    assert run.status("aws.s3.bucket_acl_not_public", arn("acl-ignored")) == "pass"
    assert run.status("aws.s3.bucket_public_access_blocked", arn("acl-ignored")) == "fail"
    assert run.status("aws.s3.bucket_policy_not_public", arn("eu-bucket")) == "pass"
    assert run.status("aws.s3.bucket_policy_not_public", arn("acl-ignored")) == "pass"  # no policy at all
    regions = {f["resource_id"]: f["region"] for f in run.findings}
    assert regions[arn("eu-bucket")] == "eu-west-1" and regions[good] == "us-east-1"
    # no account-level block yet: that is a configuration (fail), not an error
    assert run.status("aws.s3.account_public_access_blocked", ACCOUNT_BLOCK) == "fail"

    # the account turns on only the two policy settings: S3 combines them with each bucket's own
    # settings one by one, so acl-ignored (ACL settings on itself) is now fully covered; bad-bucket is not
    s3control = boto3.client("s3control", region_name="us-east-1")
    s3control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration={
        **ALL_ON, "BlockPublicAcls": False, "IgnorePublicAcls": False})
    partial = in_folder(tmp_path / "partial")
    assert partial.status("aws.s3.account_public_access_blocked", ACCOUNT_BLOCK) == "fail"
    assert partial.status("aws.s3.bucket_public_access_blocked", arn("acl-ignored")) == "pass"
    assert partial.status("aws.s3.bucket_public_access_blocked", bad) == "fail"

    s3control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=ALL_ON)
    again = in_folder(tmp_path / "second")
    assert again.status("aws.s3.account_public_access_blocked", ACCOUNT_BLOCK) == "pass"
    # the account-wide block now covers every bucket, and RestrictPublicBuckets contains the public policy
    assert again.status("aws.s3.bucket_public_access_blocked", bad) == "pass"
    assert again.status("aws.s3.bucket_policy_not_public", bad) == "pass"


def test_account_block_unreadable_is_error_not_pass(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    """With S3 Control unresolvable the account rule is `error`, buckets still evaluate."""
    monkeypatch.setitem(aws_session.RETRY_CONFIG, "max_attempts", 1)  # fail fast; the path is the same
    resolving = socket.getaddrinfo

    def no_account_hosts(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and ACCOUNT_HOST.match(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolving(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_account_hosts)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="covered")
    s3.put_public_access_block(Bucket="covered", PublicAccessBlockConfiguration=ALL_ON)
    s3.create_bucket(Bucket="uncovered")
    run = in_folder(tmp_path / "run")
    assert run.result.status == "partial"
    errors = [e for e in run.errors if e.resource_type == "aws.s3.account_public_access_block"]
    assert errors and not [e for e in run.errors if e.resource_type != "aws.s3.account_public_access_block"]
    assert set(run.by_rule("aws.s3.account_public_access_blocked").values()) == {"error"}
    assert run.status("aws.s3.bucket_public_access_blocked", arn("covered")) == "pass"
    # without its own block, the bucket's coverage depends on the unreadable account setting: unknown
    assert run.status("aws.s3.bucket_public_access_blocked", arn("uncovered")) == "error"
    message = next(f["message"] for f in run.findings if f["rule_id"] == "aws.s3.bucket_public_access_blocked"
                   and f["resource_id"] == arn("uncovered"))
    assert "could not be read" in message and "Could not connect" in message


def test_access_denied_for_s3_only_fails_s3_rules(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   s3control_dns: None) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="no-s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                               {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="hidden")
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(Description="rotating")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])

    # moto's own switch for IAM enforcement (/moto-api/reset-auth): on for the run, off afterwards
    requests.post(f"{aws}/moto-api/reset-auth", data=b"0", timeout=10)
    try:
        run = in_folder(tmp_path / "run", "    regions: [us-east-1]\n    services: [s3, kms]\n")
    finally:
        requests.post(f"{aws}/moto-api/reset-auth", data=b"inf", timeout=10)

    assert run.result.status == "partial"
    failed = {e.resource_type for e in run.errors}
    assert failed == {"aws.s3.bucket", "aws.s3.account_public_access_block"}
    assert all("AccessDenied" in e.message for e in run.errors), [e.message for e in run.errors]
    s3_findings = [f for f in run.findings if f["rule_id"].startswith("aws.s3.")]
    assert s3_findings and {f["status"] for f in s3_findings} == {"error"}
    assert {f["rule_id"] for f in s3_findings} >= {"aws.s3.bucket_versioning_enabled",
                                                    "aws.s3.account_public_access_blocked"}
    key_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    assert run.status("aws.kms.key_rotation_enabled", key_arn) == "pass"  # the rest of the run completed


def test_wildcard_conditions_do_not_make_a_policy_private() -> None:
    from collectors.aws.services.policy_docs import public_statements, trusted_principals

    def statement(condition: dict[str, Any]) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*", "Condition": condition}]}

    # a real organisation id or VPC endpoint narrows "*" to known callers
    assert public_statements(statement({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}})) == []
    assert public_statements(statement({"StringEquals": {"aws:SourceVpce": ["vpce-1a2b3c"]}})) == []
    # "*" as the organisation, or the whole internet as the source address, narrows nothing
    assert len(public_statements(statement({"StringLike": {"aws:PrincipalOrgID": "*"}})) or []) == 1
    assert len(public_statements(statement({"IpAddress": {"aws:SourceIp": ["0.0.0.0/0", "::/0"]}})) or []) == 1
    # a condition unrelated to the caller (TLS only) leaves the statement public
    assert len(public_statements(statement({"Bool": {"aws:SecureTransport": "true"}})) or []) == 1
    # a trust policy "requiring" an external id of "*" requires nothing
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole",
                            "Condition": {"StringLike": {"sts:ExternalId": "*"}}}]}
    assert trusted_principals(trust, ACCOUNT, set())[0]["ExternalIdRequired"] is False
