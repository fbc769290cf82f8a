"""Several accounts: AWS Organizations discovery, an explicit account list, a member that refuses the role.

moto keeps accounts apart by credentials: what is created after AssumeRole into a member lives in
that member only. moto does not enforce role trust, so "cannot assume" is injected on the wire: STS
goes through the proxy, which answers AssumeRole into one member's AnnexaReadOnly with AccessDenied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.collectors.aws.conftest import ACCOUNT, run_aws
from tests.collectors.aws.test_events import CloudTrailFake, quick_reset

REGIONS = ("us-east-1", "eu-west-1")
ROOT = Path(__file__).resolve().parents[3]
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"sts:ExternalId": "annexa-test"}}}]})


@pytest.fixture
def org(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CloudTrailFake, list[str]]]:
    """An organization with three members, each with the read-only role, a KMS key and a log group per Region."""
    # Four accounts: skip loading AWS-managed IAM policies into each (seconds per account, none needed here).
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    proxy = CloudTrailFake(aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", proxy.url)
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    members = [client.create_account(Email=f"member{i}@example.com", AccountName=f"member-{i}")
               ["CreateAccountStatus"]["AccountId"] for i in range(3)]
    for account in [ACCOUNT, *members]:
        session = boto3.Session(region_name="us-east-1") if account == ACCOUNT else _assumed(account)
        if account != ACCOUNT:
            session.client("iam").create_role(RoleName="AnnexaReadOnly", AssumeRolePolicyDocument=TRUST)
        for region in REGIONS:
            session.client("kms", region_name=region).create_key(Description=f"key-{account}-{region}")
            session.client("logs", region_name=region).create_log_group(logGroupName=f"/app/{account}")
    yield proxy, members
    proxy.close()
    quick_reset(aws)


def _assumed(account: str) -> boto3.Session:
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="seed")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name="us-east-1")


def _options(accounts: str) -> str:
    return (f"    regions: [{', '.join(REGIONS)}]\n    accounts: {accounts}\n    services: [kms, logs]\n"
            "    external_id: annexa-test\n")


def _by_account_region(run: Any, rule: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in run.findings:
        if f["rule_id"] == rule:
            out.setdefault((f["account"], f["region"]), []).append(f)
    return out


def test_organization_across_regions_with_one_member_refusing(
        org: tuple[CloudTrailFake, list[str]], tmp_path: Path) -> None:
    proxy, members = org
    refusing = members[2]
    proxy.deny("AccessDenied", f"arn:aws:iam::{refusing}:role/AnnexaReadOnly")

    run = run_aws(tmp_path, _options("organization"))

    reached = [ACCOUNT, members[0], members[1]]
    keys = _by_account_region(run, "aws.kms.key_rotation_enabled")
    groups = _by_account_region(run, "aws.logs.log_group_retention_defined")
    for account in reached:
        for region in REGIONS:
            (key,) = keys[(account, region)]
            assert key["resource_id"].startswith(f"arn:aws:kms:{region}:{account}:key/")
            assert key["status"] == "fail"  # rotation off on a new key
            (group,) = groups[(account, region)]
            assert group["resource_id"].startswith(f"arn:aws:logs:{region}:{account}:log-group:/app/{account}")
            assert group["status"] == "fail"  # never-expiring group: no retention defined
    # the refusing member: `error` findings scoped to it, for every rule of the scanned services
    errors = [f for f in run.findings if f["status"] == "error"]
    assert errors and {f["account"] for f in errors} == {refusing}
    assert {f["rule_id"] for f in errors} >= {"aws.kms.key_rotation_enabled", "aws.logs.log_group_retention_defined"}
    assert all("AccessDenied" in f["message"] and "AnnexaReadOnly" in f["message"] for f in errors)
    assert run.result.status == "partial"
    assert {e.account for e in run.errors} == {refusing}
    # every member is still inventoried from Organizations, the refusing one included
    accounts = {f["account"] for f in run.findings}
    assert accounts == {*reached, refusing}
    assert proxy.denied == 1

    # the same through the CLI: exit code 3 (partial), and `findings --status error` names the member
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "agent", "--config", str(tmp_path / "annexa.yaml"), "run",
                           "--format", "json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert done.returncode == 3, done.stderr[-2000:]
    listed = subprocess.run([sys.executable, "-m", "agent", "--config", str(tmp_path / "annexa.yaml"), "findings",
                             "--status", "error", "--format", "json"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert {f["resource"]["account"] for f in json.loads(listed.stdout)} == {refusing}


def test_explicit_account_list(org: tuple[CloudTrailFake, list[str]], tmp_path: Path) -> None:
    _, members = org
    run = run_aws(tmp_path, _options(f"['{members[0]}', '{members[2]}']"))
    assert not run.errors and run.result.status == "complete"
    keys = _by_account_region(run, "aws.kms.key_rotation_enabled")
    assert set(keys) == {(m, r) for m in (members[0], members[2]) for r in REGIONS}
    assert all(f["resource_id"].split(":")[4] == f["account"] for group in keys.values() for f in group)
