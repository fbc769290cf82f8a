"""AWS Backup: backup plans (rules and resource selections), vaults (lock, key) and, per region, a
summary of whether any plan actually backs something up (so "no backups at all" can fail).

The summary (`aws.backup.region`) is only yielded when every plan could be read completely:
a plan whose rules or selections could not be listed makes both the plan type and the
summary `error`, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

PLAN = "aws.backup.plan"
VAULT = "aws.backup.vault"
REGION = "aws.backup.region"


def collect(scope: AwsScope) -> Iterator[Resource]:
    yield from _vaults(scope)  # first: vaults stay judged even if plan lookups blow up unexpectedly
    yield from _plans(scope)


def _plan(scope: AwsScope, item: dict[str, Any]) -> dict[str, Any] | None:
    """The plan with its rules and selections; None if it vanished. Raises botocore errors."""
    try:
        detail = scope.call("backup", "get_backup_plan", BackupPlanId=item["BackupPlanId"])
        selections = list(scope.paginate("backup", "list_backup_selections", "BackupSelectionsList",
                                         BackupPlanId=item["BackupPlanId"]))
    except CollectErrors as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    data = plain(item)
    data["BackupPlan"] = plain(detail.get("BackupPlan") or {})
    data["AdvancedBackupSettings"] = plain(detail.get("AdvancedBackupSettings") or [])
    data["Selections"] = plain(selections)
    return data


def _plans(scope: AwsScope) -> Iterator[Resource]:
    try:
        items = list(scope.paginate("backup", "list_backup_plans", "BackupPlansList"))
    except CollectErrors as exc:
        scope.fail(PLAN, exc)
        scope.fail(REGION, exc)
        return
    summary: list[dict[str, Any]] = []
    complete = True
    for item in items:
        try:
            data = _plan(scope, item)
        except CollectErrors as exc:
            scope.fail(PLAN, exc)
            complete = False
            continue
        if data is None:
            continue
        rules = data["BackupPlan"].get("Rules") or []
        summary.append({"BackupPlanName": item.get("BackupPlanName"), "BackupPlanArn": item["BackupPlanArn"],
                        "RuleCount": len(rules), "SelectionCount": len(data["Selections"])})
        yield scope.resource(PLAN, item["BackupPlanArn"], item.get("BackupPlanName") or item["BackupPlanId"], data)
    if not complete:
        scope.fail(REGION, "backup plans could not all be read, so backup coverage is unknown")
        return
    yield scope.resource(REGION, scope.arn("backup", "backup-plans"), f"AWS Backup in {scope.region}",
                         {"Region": scope.region, "BackupPlans": summary})


def _vaults(scope: AwsScope) -> Iterator[Resource]:
    try:
        vaults = list(scope.paginate("backup", "list_backup_vaults", "BackupVaultList"))
    except CollectErrors as exc:
        scope.fail(VAULT, exc)
        return
    for vault in vaults:
        yield scope.resource(VAULT, vault["BackupVaultArn"], vault["BackupVaultName"], plain(vault))


SERVICE = ServiceSpec(
    name="backup",
    resource_types={
        PLAN: "an AWS Backup plan with its rules (schedule, lifecycle) and resource selections",
        VAULT: "an AWS Backup vault (encryption key, vault lock)",
        REGION: "per region: the backup plans and how many rules and selections each has",
    },
    collect=collect,
)
