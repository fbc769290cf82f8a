"""IAM Access Analyzer service.

moto answers every Access Analyzer call with HTTP 500, so against moto both rules must be `error`
findings (the run is partial). Their pass/fail logic is checked with the rule engine on data
shaped like ListAnalyzers / ListFindingsV2 responses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.model import Resource
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from collectors.aws import session as aws_session
from collectors.registry import known_resource_types
from tests.collectors.aws.conftest import ACCOUNT, run_aws

REGION_ID = f"arn:aws:access-analyzer:us-east-1:{ACCOUNT}:analyzers"


def test_access_analyzer_500_gives_error_findings(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    # moto's 500 would be retried 8 times with backoff (~30 s); one attempt follows the same path.
    monkeypatch.setitem(aws_session.RETRY_CONFIG, "max_attempts", 1)
    run = run_aws(tmp_path, "    regions: [us-east-1, eu-west-1]\n    services: [accessanalyzer, guardduty]\n")
    assert run.result.status == "partial"
    assert sorted((e.resource_type, e.region) for e in run.errors) == [
        ("aws.accessanalyzer.region", "eu-west-1"), ("aws.accessanalyzer.region", "us-east-1")]
    assert all("ListAnalyzers" in e.message and "500" in e.message for e in run.errors)
    for rule in ("aws.accessanalyzer.analyzer_enabled", "aws.accessanalyzer.no_active_findings"):
        statuses = run.by_rule(rule)
        assert len(statuses) == 2 and set(statuses.values()) == {"error"}, rule
    # the other service in the same run is unaffected
    assert set(run.by_rule("aws.guardduty.enabled").values()) == {"fail"}


def status(rule_id: str, data: dict[str, Any]) -> str:
    rules = [r for r in load_rules(known_types=set(known_resource_types())) if r.id == rule_id]
    resource = Resource("aws.accessanalyzer.region", REGION_ID, "Access Analyzer in us-east-1", data, ACCOUNT,
                        "us-east-1")
    out = RuleSet(rules, now=datetime.now(UTC)).evaluate(resource)
    return out[0][1].status.value if out else "n/a"


def analyzer(status: str = "ACTIVE", type_: str = "ACCOUNT") -> dict[str, Any]:
    return {"arn": f"arn:aws:access-analyzer:us-east-1:{ACCOUNT}:analyzer/account", "name": "account",
            "type": type_, "createdAt": "2024-03-01T10:00:00Z", "status": status, "tags": {}}


FINDING = {"id": "5c1c5a4e-0000-4000-8000-000000000001", "resource": "arn:aws:s3:::shared-bucket",
           "resourceType": "AWS::S3::Bucket", "resourceOwnerAccount": ACCOUNT, "status": "ACTIVE",
           "findingType": "ExternalAccess", "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z",
           "analyzedAt": "2025-01-01T00:00:00Z"}


def test_analyzer_rules_on_recorded_shapes() -> None:
    clean = {"Analyzers": [analyzer()], "ActiveFindings": [], "ActiveFindingsCount": 0}
    assert status("aws.accessanalyzer.analyzer_enabled", clean) == "pass"
    assert status("aws.accessanalyzer.no_active_findings", clean) == "pass"
    none = {"Analyzers": [], "ActiveFindings": [], "ActiveFindingsCount": 0}
    assert status("aws.accessanalyzer.analyzer_enabled", none) == "fail"
    assert status("aws.accessanalyzer.no_active_findings", none) == "n/a"  # the missing analyzer already fails
    unused_only = {"Analyzers": [analyzer(type_="ACCOUNT_UNUSED_ACCESS")], "ActiveFindings": [],
                   "ActiveFindingsCount": 0}
    assert status("aws.accessanalyzer.analyzer_enabled", unused_only) == "fail"
    disabled = {"Analyzers": [analyzer(status="DISABLED")], "ActiveFindings": [], "ActiveFindingsCount": 0}
    assert status("aws.accessanalyzer.analyzer_enabled", disabled) == "fail"
    shared = {"Analyzers": [analyzer(type_="ORGANIZATION")], "ActiveFindings": [FINDING], "ActiveFindingsCount": 1}
    assert status("aws.accessanalyzer.analyzer_enabled", shared) == "pass"
    assert status("aws.accessanalyzer.no_active_findings", shared) == "fail"
