"""CloudTrail service: trails and the account summary against moto (two regions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from collectors.aws.services.cloudtrail import management_events
from tests.collectors.aws.conftest import ACCOUNT, run_aws

OPTIONS = "    regions: [us-east-1, eu-west-1]\n    services: [cloudtrail]\n"
SUMMARY = f"arn:aws:cloudtrail::{ACCOUNT}:account-summary"
TRAIL_RULES = ("trail_logging", "trail_log_file_validation_enabled", "trail_kms_encrypted",
               "trail_cloudwatch_logs_integrated")


def trail(region: str, name: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{ACCOUNT}:trail/{name}"


def run_in(folder: Path) -> Any:
    folder.mkdir()
    run = run_aws(folder, OPTIONS)
    assert not run.errors, run.errors
    return run


def test_cloudtrail_rules_against_moto(aws: str, tmp_path: Path) -> None:
    # an account without any trail fails the coverage rule (it does not just produce no findings)
    empty = run_in(tmp_path / "empty")
    assert empty.status("aws.cloudtrail.multi_region_trail_enabled", SUMMARY) == "fail"

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="trail-logs")
    us = boto3.client("cloudtrail", region_name="us-east-1")
    us.create_trail(Name="bare", S3BucketName="trail-logs")  # single region, never started
    # multi-region, logging and validated, but only write events: not complete coverage
    us.create_trail(Name="write-only", S3BucketName="trail-logs", IsMultiRegionTrail=True,
                    EnableLogFileValidation=True)
    us.put_event_selectors(TrailName="write-only", EventSelectors=[
        {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}])
    us.start_logging(Name="write-only")
    partial = run_in(tmp_path / "partial")
    assert partial.status("aws.cloudtrail.multi_region_trail_enabled", SUMMARY) == "fail"
    for rule in TRAIL_RULES:
        assert partial.status(f"aws.cloudtrail.{rule}", trail("us-east-1", "bare")) == "fail", rule

    # multi-region, logging, all management events, but no digest files: coverage is complete (CIS 3.1);
    # the missing validation is the validation rule's finding, not a second coverage failure
    us.create_trail(Name="unvalidated", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    us.start_logging(Name="unvalidated")
    unvalidated = run_in(tmp_path / "unvalidated")
    assert unvalidated.status("aws.cloudtrail.multi_region_trail_enabled", SUMMARY) == "pass"
    assert unvalidated.status("aws.cloudtrail.trail_log_file_validation_enabled",
                              trail("us-east-1", "unvalidated")) == "fail"
    us.delete_trail(Name="unvalidated")

    eu = boto3.client("cloudtrail", region_name="eu-west-1")
    eu.create_trail(Name="main", S3BucketName="trail-logs", IsMultiRegionTrail=True, EnableLogFileValidation=True,
                    KmsKeyId=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    CloudWatchLogsLogGroupArn=f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:cloudtrail:*",
                    CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/cloudtrail-to-logs")
    eu.start_logging(Name="main")
    full = run_in(tmp_path / "full")
    assert full.status("aws.cloudtrail.multi_region_trail_enabled", SUMMARY) == "pass"
    main = trail("eu-west-1", "main")
    for rule in TRAIL_RULES:
        # collected once, in its home region, although it also shows up in us-east-1
        assert full.status(f"aws.cloudtrail.{rule}", main) == "pass", rule
    regions = {f["resource_id"]: f["region"] for f in full.findings}
    assert regions[main] == "eu-west-1" and regions[SUMMARY] is None
    summary = next(f for f in full.findings if f["resource_id"] == SUMMARY)
    assert main in summary["message"] and trail("us-east-1", "write-only") not in summary["message"]


@pytest.mark.parametrize(("trail_info", "selectors", "expected"), [
    ({"HasCustomEventSelectors": False}, {"EventSelectors": [], "AdvancedEventSelectors": []}, "All"),
    ({"HasCustomEventSelectors": True}, {"EventSelectors": [
        {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}]}, "All"),
    ({"HasCustomEventSelectors": True}, {"EventSelectors": [
        {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]}, "ReadOnly"),
    ({"HasCustomEventSelectors": True}, {"EventSelectors": [
        {"ReadWriteType": "All", "IncludeManagementEvents": False}]}, None),
    ({"HasCustomEventSelectors": True}, {"AdvancedEventSelectors": [
        {"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]}, "All"),
    ({"HasCustomEventSelectors": True}, {"AdvancedEventSelectors": [
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["false"]}]}]}, "WriteOnly"),
    ({"HasCustomEventSelectors": True}, {"AdvancedEventSelectors": [
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "NotEquals": ["true"]}]}]}, "WriteOnly"),
    ({"HasCustomEventSelectors": True}, {"AdvancedEventSelectors": [
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}]}, None),
])
def test_management_event_coverage(trail_info: dict[str, Any], selectors: dict[str, Any], expected: str | None
                                   ) -> None:
    assert management_events(trail_info, selectors) == expected


MEMBER, MANAGEMENT = "222233334444", "111122223333"
ORG_TRAIL = f"arn:aws:cloudtrail:us-east-1:{MANAGEMENT}:trail/org-trail"


class MemberScope:
    """Just enough of AwsScope to play a member account looking at its organization's trail.

    Real CloudTrail answers GetTrailStatus for another account's organization trail when given its
    ARN, but refuses GetEventSelectors for it (TrailNotFoundException / CloudTrailARNInvalidException).
    """

    account_id, partition, region, home_region = MEMBER, "aws", "us-east-1", "us-east-1"

    def __init__(self, trails: list[dict[str, Any]], logging: bool = True):
        self.trails, self.logging, self.failures = trails, logging, []

    def call(self, service: str, operation: str, *, region: str | None = None, **params: Any) -> Any:
        from botocore.exceptions import ClientError

        if operation == "describe_trails":
            return {"trailList": self.trails}
        if operation == "get_trail_status":
            return {"IsLogging": self.logging}
        error = {"Error": {"Code": "TrailNotFoundException", "Message": "Unknown trail"}}
        raise ClientError(error, "GetEventSelectors")

    def fail(self, resource_type: str, exc: Any) -> None:
        self.failures.append((resource_type, str(exc)))


def org_trail(custom_selectors: bool) -> dict[str, Any]:
    return {"Name": "org-trail", "TrailARN": ORG_TRAIL, "HomeRegion": "us-east-1", "IsMultiRegionTrail": True,
            "IsOrganizationTrail": True, "LogFileValidationEnabled": True, "HasCustomEventSelectors": custom_selectors}


def summary_status(scope: MemberScope) -> str | None:
    from agent.rules.engine import RuleSet
    from collectors.aws.services.cloudtrail import _summary
    from tests.collectors.aws.conftest import builtin_rules

    resources = list(_summary(scope))  # type: ignore[arg-type]
    if not resources:
        return None
    rules = RuleSet([r for r in builtin_rules() if r.id == "aws.cloudtrail.multi_region_trail_enabled"])
    return rules.evaluate(resources[0])[0][1].status.value


def test_member_account_covered_by_organization_trail() -> None:
    # default selectors (all management events) and logging: the member account is covered
    assert summary_status(MemberScope([org_trail(custom_selectors=False)])) == "pass"
    # the organization trail is stopped: a real failure
    assert summary_status(MemberScope([org_trail(custom_selectors=False)], logging=False)) == "fail"
    # custom selectors that the member cannot read and no trail of its own: unknown, so error, not fail
    unknown = MemberScope([org_trail(custom_selectors=True)])
    assert summary_status(unknown) is None
    assert unknown.failures and unknown.failures[0][0] == "aws.cloudtrail.account_summary"
    assert "coverage unknown" in unknown.failures[0][1]
    # the member's own trail must always be readable: its selector failure is an error as before
    own = {**org_trail(False), "TrailARN": f"arn:aws:cloudtrail:us-east-1:{MEMBER}:trail/own",
           "IsOrganizationTrail": False}
    mine = MemberScope([own])
    assert summary_status(mine) is None and mine.failures
