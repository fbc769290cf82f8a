"""AWS Backup service against moto.

moto 5 has no ListBackupSelections (and no CreateBackupSelection): its server answers 500, which
botocore retries for a long time. The in-process moto server is therefore given a small read-only
ListBackupSelections handler that answers, in the documented response shape, from selections the
test declares per plan. Everything else (plans, rules, vaults, locks) is moto's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.collectors.aws.conftest import ACCOUNT, run_aws

REGION = "us-east-1"
OPTIONS = "    regions: [us-east-1]\n    services: [backup]\n"
SUMMARY = f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-plans"


@pytest.fixture
def selections(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from moto.backup.responses import BackupResponse

    declared: dict[str, Any] = {}

    def list_backup_selections(self: BackupResponse) -> Any:
        plan_id = self.path.rstrip("/").split("/")[-2]
        value = declared.get(plan_id, [])
        if isinstance(value, Exception):
            return 403, {"status": 403}, json.dumps({"__type": "AccessDeniedException", "message": str(value)})
        return json.dumps({"BackupSelectionsList": value})

    monkeypatch.setattr(BackupResponse, "list_backup_selections", list_backup_selections, raising=False)
    return declared


def plan(client: Any, name: str, days: int | None) -> dict[str, str]:
    rule: dict[str, Any] = {"RuleName": "daily", "TargetBackupVaultName": "Default",
                            "ScheduleExpression": "cron(0 5 ? * * *)"}
    if days is not None:
        rule["Lifecycle"] = {"DeleteAfterDays": days}
    return client.create_backup_plan(BackupPlan={"BackupPlanName": name, "Rules": [rule]})


def selection(plan_id: str) -> list[dict[str, Any]]:
    return [{"SelectionId": "sel-1", "SelectionName": "tagged", "BackupPlanId": plan_id,
             "IamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/backup", "CreationDate": 1700000000}]


def test_backup_rules(aws: str, tmp_path: Path, selections: dict[str, Any]) -> None:
    client = boto3.client("backup", region_name=REGION)
    keep = plan(client, "keep-forever", None)
    long = plan(client, "long", 35)
    short = plan(client, "short", 7)
    selections[long["BackupPlanId"]] = selection(long["BackupPlanId"])
    client.create_backup_vault(BackupVaultName="locked")
    client.put_backup_vault_lock_configuration(BackupVaultName="locked", MinRetentionDays=7)
    client.create_backup_vault(BackupVaultName="open")

    # us-west-2 has no backup plan at all
    run = run_aws(tmp_path, "    regions: [us-east-1, us-west-2]\n    services: [backup]\n")
    assert not run.errors
    assert run.status("aws.backup.plan_exists", SUMMARY) == "pass"
    assert run.status("aws.backup.plan_exists", f"arn:aws:backup:us-west-2:{ACCOUNT}:backup-plans") == "fail"
    assert run.status("aws.backup.plan_assigns_resources", long["BackupPlanArn"]) == "pass"
    assert run.status("aws.backup.plan_assigns_resources", short["BackupPlanArn"]) == "fail"
    assert run.status("aws.backup.plan_retention_35_days", long["BackupPlanArn"]) == "pass"
    assert run.status("aws.backup.plan_retention_35_days", keep["BackupPlanArn"]) == "pass"
    assert run.status("aws.backup.plan_retention_35_days", short["BackupPlanArn"]) == "fail"
    vault = lambda n: f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{n}"  # noqa: E731
    assert run.status("aws.backup.vault_locked", vault("locked")) == "pass"
    assert run.status("aws.backup.vault_locked", vault("open")) == "fail"


def test_plans_without_selections_fail_and_lookup_errors_are_errors(aws: str, tmp_path: Path,
                                                                   selections: dict[str, Any]) -> None:
    client = boto3.client("backup", region_name=REGION)
    plan(client, "unassigned", 35)
    run = run_aws(tmp_path, OPTIONS)
    assert run.status("aws.backup.plan_exists", SUMMARY) == "fail"

    denied = plan(client, "denied", 35)
    selections[denied["BackupPlanId"]] = PermissionError("not allowed to list selections")
    (tmp_path / "second").mkdir()
    run = run_aws(tmp_path / "second", OPTIONS)
    # neither the plan nor the region summary may pass on half-read evidence
    assert denied["BackupPlanArn"] not in run.by_rule("aws.backup.plan_retention_35_days")
    assert SUMMARY not in run.by_rule("aws.backup.plan_exists")
    errors = {e.resource_type for e in run.errors}
    assert {"aws.backup.plan", "aws.backup.region"} <= errors
    assert set(run.by_rule("aws.backup.plan_exists").values()) == {"error"}
