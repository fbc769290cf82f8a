"""The leaver rule end to end across three identity sources: AWS IAM (moto), an IdP (testkit, in the
shared identity shape) and the HR roster CSV, through `annexa run` with the clock set by ANNEXA_NOW."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, aws, moto_server  # noqa: F401 (fixtures)
from tests.collectors.hr.test_hr_csv_run import annexa, by_id, okta_account
from tests.conftest import World

ROSTER = ("email,status,start_date,end_date\n"
          "alice@acme.com,active,2019-05-01,\n"
          "carol@acme.com,terminated,2021-03-01,2026-02-13\n"
          "heidi@acme.com,terminated,2020-01-01,2026-01-14\n"
          "grace@acme.com,active,2020-01-01,2026-04-04\n")


def seed_iam() -> None:
    iam = boto3.client("iam")
    iam.create_group(GroupName="platform-admins")
    iam.attach_group_policy(GroupName="platform-admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    for name in ("alice@acme.com", "carol@acme.com", "grace@acme.com"):
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password="Not-a-real-pw-123!")
    iam.add_user_to_group(GroupName="platform-admins", UserName="alice@acme.com")
    iam.create_user(UserName="heidi", Tags=[{"Key": "email", "Value": "heidi@acme.com"}])  # no credentials left
    iam.create_user(UserName="deploy-bot")
    iam.create_access_key(UserName="deploy-bot")


def test_leaver_rule_across_aws_idp_and_hr(tmp_path: Path, aws: str) -> None:  # noqa: F811
    seed_iam()
    world = World(tmp_path / "idp.json")
    okta_carol, okta_heidi = okta_account(world, "carol@acme.io"), okta_account(world, "heidi@acme.com", active=False)
    (tmp_path / "roster.csv").write_text(ROSTER)
    config = tmp_path / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n  evidence: {tmp_path / 'ev'}\n"
                      "identity:\n  domains: [acme.com, acme.io]\n  service_accounts: ['aws:deploy-*']\n"
                      "sources:\n"
                      "  - name: aws-main\n    type: aws\n    regions: [us-east-1]\n    services: [iam]\n"
                      "  - name: hr\n    type: hr_csv\n    path: roster.csv\n"
                      f"  - name: idp\n    type: testkit\n    world: {world.path}\n")
    proc = annexa(config, "run", now="2026-03-15T09:00:00Z")
    assert proc.returncode in (0, 3), proc.stderr  # moto lacks the root row of the credential report
    arn = f"arn:aws:iam::{ACCOUNT}:user/"
    leaver = by_id(config, "identity.leaver_accounts_disabled")
    uri = (tmp_path / "roster.csv").resolve().as_uri()
    # carol left 30 days ago: her IAM user and her IdP account (another company domain) both fail
    for rid, source in ((f"{arn}carol@acme.com", "aws-main"), (okta_carol, "idp")):
        assert leaver[rid]["status"] == "fail" and leaver[rid]["source"] == source
        message = str(leaver[rid]["message"])
        assert "left 30 days ago" in message and "2 active account(s)" in message
    assert leaver[f"{uri}#carol@acme.com"]["status"] == "fail"
    # heidi left 60 days ago with everything disabled (IAM user found through its e-mail tag)
    assert leaver[f"{arn}heidi"]["status"] == leaver[okta_heidi]["status"] == "pass"
    assert leaver[f"{uri}#heidi@acme.com"]["status"] == "pass"
    # grace is serving her notice; alice is employed
    assert leaver[f"{arn}grace@acme.com"]["status"] == leaver[f"{arn}alice@acme.com"]["status"] == "pass"
    # the privileged population holds alice's AWS admin rights (granted through a group)
    review = by_id(config, "identity.privileged_access_review")
    assert "AdministratorAccess (via group platform-admins)" in str(review[f"{arn}alice@acme.com"]["message"])
    orphan = by_id(config, "identity.orphan_accounts")
    assert orphan[f"{arn}deploy-bot"]["status"] == orphan[f"{arn}alice@acme.com"]["status"] == "pass"
    # a month earlier, carol was still serving her notice
    assert annexa(config, "run", now="2026-02-10T00:00:00Z").returncode in (0, 3)
    earlier = by_id(config, "identity.leaver_accounts_disabled")
    assert earlier[f"{arn}carol@acme.com"]["status"] == earlier[okta_carol]["status"] == "pass"
