"""AWS IAM users as an identity source: one `identity.account` per user, beside `aws.iam.user`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, run_aws
from tests.collectors.aws.test_events import stored_resources
from tests.collectors.aws.test_iam import ADMIN, IAM_ONLY, user_arn


def seed() -> None:
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    iam = boto3.client("iam")
    iam.create_group(GroupName="platform-admins")
    iam.attach_group_policy(GroupName="platform-admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_user(UserName="alice@acme.com")
    iam.create_login_profile(UserName="alice@acme.com", Password="Not-a-real-pw-123!")
    iam.add_user_to_group(GroupName="platform-admins", UserName="alice@acme.com")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="alice@acme.com", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    iam.create_user(UserName="bob", Tags=[{"Key": "Email", "Value": "Bob@Acme.com"}])
    iam.create_login_profile(UserName="bob", Password="Not-a-real-pw-123!")
    iam.create_user(UserName="deploy-bot")
    iam.put_user_policy(UserName="deploy-bot", PolicyName="everything", PolicyDocument=json.dumps(ADMIN))
    iam.create_access_key(UserName="deploy-bot")
    iam.create_user(UserName="retired")  # no password, no key: cannot sign in or act
    key = iam.create_access_key(UserName="retired")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="retired", AccessKeyId=key, Status="Inactive")
    now = datetime.now(UTC)
    users = iam_backends[ACCOUNT]["aws"].users
    users["bob"].password_last_used = now - timedelta(days=10)
    users["deploy-bot"].access_keys[0].last_used = AccessKeyLastUsed(now - timedelta(days=3), "s3", "us-east-1")


def test_iam_users_in_the_identity_shape(tmp_path: Path, aws: str) -> None:
    seed()
    run = run_aws(tmp_path, IAM_ONLY)
    accounts = {rid: doc["data"] for rid, doc in stored_resources(run, "identity.account").items()}
    assert set(accounts) == {user_arn(n) for n in ("alice@acme.com", "bob", "deploy-bot", "retired")}
    alice, bob = accounts[user_arn("alice@acme.com")], accounts[user_arn("bob")]
    bot, retired = accounts[user_arn("deploy-bot")], accounts[user_arn("retired")]
    assert (alice["provider"], alice["tenant"], alice["raw_type"]) == ("aws", ACCOUNT, "aws.iam.user")
    assert alice["email"] == "alice@acme.com" and alice["status"] == "console" and alice["active"] is True
    assert alice["mfa_enrolled"] is alice["mfa_enforced"] is True and alice["mfa_methods"] == ["virtual"]
    assert alice["privileged"] and alice["privileges"] == ["AdministratorAccess (via group platform-admins)"]
    assert bob["email"] == "Bob@Acme.com"  # from the e-mail tag
    assert bob["mfa_enrolled"] is False and bob["mfa_enforced"] is False and not bob["privileged"]
    assert bob["last_login"] and bob["last_login_known"] is True
    assert bot["status"] == "access_keys" and bot["email"] is None and bot["kind"] == "unknown"
    assert bot["mfa_enforced"] is None  # no console: MFA applies only where policies demand it
    assert bot["privileges"] == ["everything (inline policy)"] and bot["last_login"].startswith(
        (datetime.now(UTC) - timedelta(days=3)).date().isoformat())
    assert retired["active"] is False and retired["status"] == "no_credentials"
    assert alice["created"] and alice["account_id"]  # the IAM UserId
    # the identity rules judge them (no HR in this run: leaver and orphan rules do not apply)
    assert run.status("identity.mfa_enrolled", user_arn("bob")) == "fail"
    assert run.status("identity.mfa_enrolled", user_arn("alice@acme.com")) == "pass"
    assert run.status("identity.privileged_mfa_enforced", user_arn("alice@acme.com")) == "pass"
    assert run.status("identity.privileged_mfa_enforced", user_arn("deploy-bot")) == "fail"
    assert run.status("identity.stale_accounts", user_arn("deploy-bot")) == "pass"
    assert not run.by_rule("identity.leaver_accounts_disabled") and not run.by_rule("identity.orphan_accounts")


def test_iam_user_collection_failure_makes_identity_rules_error(tmp_path: Path, aws: str,
                                                                monkeypatch: object) -> None:
    from collectors.aws.services import iam

    seed()

    def denied(scope: object) -> dict[str, object]:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}},
                          "GetAccountAuthorizationDetails")

    monkeypatch.setattr(iam, "authorization_details", denied)  # type: ignore[attr-defined]
    run = run_aws(tmp_path, IAM_ONLY)
    assert any(e.resource_type == "identity.account" for e in run.errors)
    statuses = run.by_rule("identity.mfa_enrolled")
    assert statuses and set(statuses.values()) == {"error"}
