"""IAM service: users, access keys, policies, roles, password policy and root user against moto.

moto stamps every user and key with the current time and never records use, so to get old or
idle credentials the test ages them in moto's in-process backend (the server runs in this
process); the collector still reads them through the real IAM API. moto's credential report has
no `<root_account>` row: the root rules are shown to be `error` against moto, and their pass/fail
logic is checked with the rule engine on a resource shaped like a real credential-report row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from agent.model import Resource
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from collectors.aws.services import iam_account
from collectors.aws.services.iam_account import CredentialReportTimeout, credential_report, parse_report
from collectors.aws.services.policy_docs import allows_full_admin, load_document, trusted_principals
from collectors.registry import known_resource_types
from tests.collectors.aws.conftest import ACCOUNT, run_aws

IAM_ONLY = "    regions: [us-east-1]\n    services: [iam]\n"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
SCOPED = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}
OUTSIDER = "999988887777"


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def trust(principal: Any, condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def age(user: str, *, created_days: int | None = None, key_days: dict[int, int] | None = None,
        key_used_days: dict[int, int] | None = None) -> None:
    """Move a moto user's creation time (= its login profile's CreateDate) and keys into the past."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    now = datetime.now(UTC)
    record = iam_backends[ACCOUNT]["aws"].users[user]
    if created_days is not None:
        record.create_date = now - timedelta(days=created_days)
    for index, days in (key_days or {}).items():
        record.access_keys[index].create_date = now - timedelta(days=days)
    for index, days in (key_used_days or {}).items():
        record.access_keys[index].last_used = AccessKeyLastUsed(now - timedelta(days=days), "s3", "us-east-1")


def build_world() -> dict[str, str]:
    iam = boto3.client("iam")
    keys: dict[str, str] = {}
    # console users: with MFA and fresh; without MFA and dormant for 100 days
    for name in ("mfa-user", "dormant-user"):
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password="Not-a-real-pw-123!")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="mfa-user")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="mfa-user", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    age("dormant-user", created_days=100)
    # administrators: AdministratorAccess attached directly; an inline *:* policy; through a group
    iam.create_user(UserName="admin-user")
    iam.attach_user_policy(UserName="admin-user", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_user(UserName="inline-admin")
    iam.put_user_policy(UserName="inline-admin", PolicyName="everything", PolicyDocument=json.dumps(ADMIN))
    iam.create_user(UserName="grouped-user")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="grouped-user")
    scoped = iam.create_policy(PolicyName="scoped", PolicyDocument=json.dumps(SCOPED))["Policy"]["Arn"]
    shadow = iam.create_policy(PolicyName="shadow-admin", PolicyDocument=json.dumps(ADMIN))["Policy"]["Arn"]
    iam.create_policy(PolicyName="unused-admin", PolicyDocument=json.dumps(ADMIN))
    # *:* but with IAM explicitly denied: it no longer allows every action (what Prowler concludes too)
    minus_iam = iam.create_policy(PolicyName="admin-minus-iam", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [*ADMIN["Statement"],
                                                {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}))
    iam.attach_group_policy(GroupName="readers", PolicyArn=scoped)
    iam.create_group(GroupName="ops")
    iam.attach_group_policy(GroupName="ops", PolicyArn=shadow)
    iam.attach_group_policy(GroupName="ops", PolicyArn=minus_iam["Policy"]["Arn"])
    # access keys: one fresh key; two keys, the first 120 days old and unused, the second inactive
    iam.create_user(UserName="fresh-key")
    keys["fresh"] = iam.create_access_key(UserName="fresh-key")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="two-keys")
    keys["old"] = iam.create_access_key(UserName="two-keys")["AccessKey"]["AccessKeyId"]
    keys["second"] = iam.create_access_key(UserName="two-keys")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="old-but-used")
    keys["old_used"] = iam.create_access_key(UserName="old-but-used")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="inactive-key")
    keys["inactive"] = iam.create_access_key(UserName="inactive-key")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="inactive-key", AccessKeyId=keys["inactive"], Status="Inactive")
    age("two-keys", key_days={0: 120})
    age("old-but-used", key_days={0: 60}, key_used_days={0: 2})
    age("inactive-key", key_days={0: 400})
    # roles: inline admin; trusted by an outsider with / without ExternalId, by the world, by the org
    iam.create_role(RoleName="inline-admin-role", AssumeRolePolicyDocument=trust({"Service": "ec2.amazonaws.com"}))
    iam.put_role_policy(RoleName="inline-admin-role", PolicyName="all", PolicyDocument=json.dumps(ADMIN))
    iam.create_role(RoleName="vendor-with-id", AssumeRolePolicyDocument=trust(
        {"AWS": f"arn:aws:iam::{OUTSIDER}:root"}, {"StringEquals": {"sts:ExternalId": "agreed-id"}}))
    iam.create_role(RoleName="vendor-no-id", AssumeRolePolicyDocument=trust({"AWS": OUTSIDER}))
    iam.create_role(RoleName="world", AssumeRolePolicyDocument=trust(
        {"AWS": "*"}, {"StringEquals": {"sts:ExternalId": "guessable"}}))
    iam.create_role(RoleName="org-only", AssumeRolePolicyDocument=trust(
        {"AWS": "*"}, {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}))
    iam.create_role(RoleName="same-account", AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    iam.put_role_policy(RoleName="same-account", PolicyName="read", PolicyDocument=json.dumps(SCOPED))
    return keys


def run_in(folder: Path, options: str = IAM_ONLY) -> Any:
    folder.mkdir()
    return run_aws(folder, options)


def test_iam_rules_against_moto(aws: str, tmp_path: Path) -> None:
    keys = build_world()
    run = run_in(tmp_path / "first")
    by = run.status

    # console users
    assert by("aws.iam.user_console_mfa_enabled", user_arn("mfa-user")) == "pass"
    assert by("aws.iam.user_console_mfa_enabled", user_arn("dormant-user")) == "fail"
    assert by("aws.iam.user_console_password_recently_used", user_arn("mfa-user")) == "pass"
    assert by("aws.iam.user_console_password_recently_used", user_arn("dormant-user")) == "fail"
    assert user_arn("admin-user") not in run.by_rule("aws.iam.user_console_mfa_enabled")  # no console access
    # administrator rights and group-based permissions
    assert by("aws.iam.user_no_direct_full_admin", user_arn("admin-user")) == "fail"
    assert by("aws.iam.user_no_direct_full_admin", user_arn("inline-admin")) == "fail"
    assert by("aws.iam.user_no_direct_full_admin", user_arn("grouped-user")) == "pass"
    assert by("aws.iam.user_permissions_through_groups", user_arn("grouped-user")) == "pass"
    assert by("aws.iam.user_permissions_through_groups", user_arn("admin-user")) == "fail"
    assert by("aws.iam.user_permissions_through_groups", user_arn("inline-admin")) == "fail"
    policy = f"arn:aws:iam::{ACCOUNT}:policy/"
    assert by("aws.iam.policy_no_full_admin", policy + "shadow-admin") == "fail"
    assert by("aws.iam.policy_no_full_admin", policy + "scoped") == "pass"
    assert by("aws.iam.policy_no_full_admin", policy + "admin-minus-iam") == "pass"
    assert policy + "unused-admin" not in run.by_rule("aws.iam.policy_no_full_admin")  # not attached
    # access keys
    key = lambda user, name: f"{user_arn(user)}/access-key/{keys[name]}"  # noqa: E731
    assert by("aws.iam.user_one_active_access_key", user_arn("two-keys")) == "fail"
    assert by("aws.iam.user_one_active_access_key", user_arn("fresh-key")) == "pass"
    assert by("aws.iam.access_key_rotated_90_days", key("fresh-key", "fresh")) == "pass"
    assert by("aws.iam.access_key_rotated_90_days", key("two-keys", "old")) == "fail"
    assert by("aws.iam.access_key_rotated_90_days", key("old-but-used", "old_used")) == "pass"
    assert by("aws.iam.access_key_used_45_days", key("fresh-key", "fresh")) == "pass"  # new, not yet used
    assert by("aws.iam.access_key_used_45_days", key("two-keys", "old")) == "fail"
    assert by("aws.iam.access_key_used_45_days", key("old-but-used", "old_used")) == "pass"
    assert key("inactive-key", "inactive") not in run.by_rule("aws.iam.access_key_rotated_90_days")
    # roles
    assert by("aws.iam.role_no_inline_full_admin", role_arn("inline-admin-role")) == "fail"
    assert by("aws.iam.role_no_inline_full_admin", role_arn("same-account")) == "pass"
    assert by("aws.iam.role_external_trust_restricted", role_arn("vendor-with-id")) == "pass"
    assert by("aws.iam.role_external_trust_restricted", role_arn("org-only")) == "pass"
    assert by("aws.iam.role_external_trust_restricted", role_arn("vendor-no-id")) == "fail"
    assert by("aws.iam.role_external_trust_restricted", role_arn("world")) == "fail"
    assert role_arn("same-account") not in run.by_rule("aws.iam.role_external_trust_restricted")
    # no password policy yet: both password rules fail (a missing policy is data, not an error)
    policy_id = f"arn:aws:iam::{ACCOUNT}:account-password-policy"
    assert by("aws.iam.password_policy_min_length_14", policy_id) == "fail"
    assert by("aws.iam.password_policy_prevents_reuse", policy_id) == "fail"
    # moto's credential report has no <root_account> row: root rules are errors, never passes
    root_errors = [e for e in run.errors if e.resource_type == "aws.iam.root_account"]
    assert root_errors and "<root_account>" in root_errors[0].message
    assert set(run.by_rule("aws.iam.root_mfa_enabled").values()) == {"error"}
    assert run.result.status == "partial"
    assert not [e for e in run.errors if e.resource_type != "aws.iam.root_account"]
    # nothing secret reaches the store: no password, no secret access key
    assert b"Not-a-real-pw-123!" not in (tmp_path / "first" / "annexa.db").read_bytes()

    boto3.client("iam").update_account_password_policy(MinimumPasswordLength=16, PasswordReusePrevention=24)
    again = run_in(tmp_path / "second")
    assert again.status("aws.iam.password_policy_min_length_14", policy_id) == "pass"
    assert again.status("aws.iam.password_policy_prevents_reuse", policy_id) == "pass"


@cache
def _ruleset_rules() -> tuple[Any, ...]:
    return tuple(load_rules(known_types=set(known_resource_types())))


def evaluate(rule_id: str, rtype: str, data: dict[str, Any], now: datetime | None = None) -> str:
    """One rule on one hand-shaped resource through the real engine ("n/a" if it does not apply)."""
    rules = [r for r in _ruleset_rules() if r.id == rule_id]
    assert rules, rule_id
    out = RuleSet(rules, now=now).evaluate(Resource(rtype, f"arn:aws:test::{ACCOUNT}:x", "x", data, ACCOUNT))
    return out[0][1].status.value if out else "n/a"


# A <root_account> row as IAM writes it (column set and the "N/A"/"no_information"/"not_supported"
# conventions documented for the credential report).
ROOT_CSV = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,"
    "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"
    f"<root_account>,arn:aws:iam::{ACCOUNT}:root,2019-01-01T00:00:00+00:00,not_supported,{{pw}},not_supported,"
    "not_supported,{mfa},{k1},{k1rot},{k1used},N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
)
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def root(*, pw: str = "no_information", mfa: str = "true", k1: str = "false", k1used: str = "N/A",
         mfa_enabled: int = 1, keys_present: int = 0) -> dict[str, Any]:
    row = parse_report(ROOT_CSV.format(pw=pw, mfa=mfa, k1=k1, k1rot="N/A" if k1 == "false" else
                                       "2024-01-01T00:00:00+00:00", k1used=k1used).encode())[0]
    return {"CredentialReport": row, "AccountSummary": {"AccountMFAEnabled": mfa_enabled,
                                                       "AccountAccessKeysPresent": keys_present}}


@pytest.mark.parametrize(("rule", "good", "bad"), [
    ("aws.iam.root_mfa_enabled", root(), root(mfa="false", mfa_enabled=0)),
    ("aws.iam.root_no_access_keys", root(), root(k1="true", keys_present=1)),
    ("aws.iam.root_not_used_recently", root(pw="2024-11-01T10:00:00+00:00"),
     root(pw="2025-05-20T10:00:00+00:00")),
    ("aws.iam.root_not_used_recently", root(k1="true", k1used="2024-01-05T00:00:00+00:00"),
     root(k1="true", k1used="2025-05-31T00:00:00+00:00")),
])
def test_root_rules_on_credential_report_rows(rule: str, good: dict[str, Any], bad: dict[str, Any]) -> None:
    assert evaluate(rule, "aws.iam.root_account", good, NOW) == "pass"
    assert evaluate(rule, "aws.iam.root_account", bad, NOW) == "fail"


def test_root_never_used_counts_as_not_recently_used() -> None:
    assert evaluate("aws.iam.root_not_used_recently", "aws.iam.root_account", root(), NOW) == "pass"


def test_policy_document_analysis() -> None:
    encoded = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C" \
              "%22Resource%22%3A%22%2A%22%7D%5D%7D"
    assert load_document(encoded) == {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert allows_full_admin(encoded) is True
    assert allows_full_admin({"Statement": {"Effect": "Allow", "Action": ["*:*"], "Resource": ["*"]}}) is True
    assert allows_full_admin({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}) is False
    assert allows_full_admin({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}) is False
    assert allows_full_admin("not json") is None  # unreadable is never "safe"
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    # an unconditional Deny takes actions back; a conditional one (e.g. "without MFA") does not
    assert allows_full_admin({"Statement": [everything, {"Effect": "Deny", "NotAction": "s3:*",
                                                         "Resource": "*"}]}) is False
    assert allows_full_admin({"Statement": [everything, {
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}) is True
    # Allow * on one resource only is not full administration
    assert allows_full_admin({"Statement": [{"Effect": "Allow", "Action": "*",
                                             "Resource": "arn:aws:s3:::bucket/*"}]}) is False
    doc = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:role/x",
                                                                   "444455556666", f"arn:aws:iam::{ACCOUNT}:root"]},
                          "Action": "sts:AssumeRole"}]}
    found = trusted_principals(doc, ACCOUNT, {"444455556666"})
    assert found == [{"Statement": 0, "Principal": "arn:aws:iam::111122223333:role/x", "Account": "111122223333",
                      "ExternalIdRequired": False, "OrganizationRestricted": False}]
    assert trusted_principals("{", ACCOUNT, set()) is None


class _ClientScope:
    """Just enough of AwsScope for credential_report(): a client."""

    def __init__(self, client: Any):
        self._client = client

    def client(self, service: str, region: str | None = None) -> Any:
        return self._client


def _stubbed_iam() -> tuple[Any, Stubber]:
    client = boto3.client("iam", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="x", aws_secret_access_key="y")
    return client, Stubber(client)


def test_credential_report_waits_while_in_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iam_account.time, "sleep", lambda _s: None)
    client, stub = _stubbed_iam()
    stub.add_response("generate_credential_report", {"State": "STARTED"})
    stub.add_client_error("get_credential_report", "ReportInProgress", http_status_code=404)
    stub.add_client_error("get_credential_report", "ReportExpired", http_status_code=410)
    stub.add_response("generate_credential_report", {"State": "STARTED"})  # expired: asked again
    stub.add_response("get_credential_report", {"Content": b"user,arn,mfa_active\nx,arn:aws:iam::1:user/x,false\n",
                                                "ReportFormat": "text/csv",
                                                "GeneratedTime": datetime(2025, 1, 1, tzinfo=UTC)})
    with stub:
        report = credential_report(_ClientScope(client), wait=30)  # type: ignore[arg-type]
    stub.assert_no_pending_responses()
    assert report == {"GeneratedTime": "2025-01-01T00:00:00Z",
                      "Rows": [{"user": "x", "arn": "arn:aws:iam::1:user/x", "mfa_active": "false"}]}


def test_credential_report_wait_is_bounded() -> None:
    client, stub = _stubbed_iam()
    stub.add_response("generate_credential_report", {"State": "STARTED"})
    stub.add_client_error("get_credential_report", "ReportInProgress", http_status_code=404)
    with stub, pytest.raises(CredentialReportTimeout):
        credential_report(_ClientScope(client), wait=0)  # type: ignore[arg-type]
