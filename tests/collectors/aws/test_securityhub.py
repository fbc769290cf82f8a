"""Security Hub service against moto: subscribed / not subscribed hubs, and the standards lookup.

moto cannot answer GetEnabledStandards (404), so the standards type is shown to be `error` there;
the standards rule's pass/fail logic is checked with the rule engine on GetEnabledStandards-shaped data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from agent.model import Resource
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from collectors.registry import known_resource_types
from tests.collectors.aws.conftest import ACCOUNT, run_aws


def hub(region: str) -> str:
    return f"arn:aws:securityhub:{region}:{ACCOUNT}:hub/default"


def test_securityhub_against_moto(aws: str, tmp_path: Path) -> None:
    boto3.client("securityhub", region_name="us-east-1").enable_security_hub(EnableDefaultStandards=True)

    run = run_aws(tmp_path, "    regions: [us-east-1, eu-west-1]\n    services: [securityhub]\n")
    assert run.status("aws.securityhub.enabled", hub("us-east-1")) == "pass"
    assert run.status("aws.securityhub.enabled", hub("eu-west-1")) == "fail"  # not subscribed is data
    # the standards of the subscribed hub could not be read: error there, never a pass
    errors = [(e.resource_type, e.region) for e in run.errors]
    assert errors == [("aws.securityhub.standards", "us-east-1")]
    assert set(run.by_rule("aws.securityhub.standard_enabled").values()) == {"error"}
    assert run.result.status == "partial"


def standards_status(subscriptions: list[dict[str, Any]]) -> str:
    rules = [r for r in load_rules(known_types=set(known_resource_types()))
             if r.id == "aws.securityhub.standard_enabled"]
    resource = Resource("aws.securityhub.standards", hub("us-east-1") + "/standards", "standards",
                        {"StandardsSubscriptions": subscriptions}, ACCOUNT, "us-east-1")
    return RuleSet(rules, now=datetime.now(UTC)).evaluate(resource)[0][1].status.value


def test_standard_enabled_rule_on_recorded_shapes() -> None:
    fsbp = {"StandardsSubscriptionArn": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:subscription/"
                                        "aws-foundational-security-best-practices/v/1.0.0",
            "StandardsArn": "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0",
            "StandardsInput": {}, "StandardsStatus": "READY",
            "StandardsControlsUpdatable": "READY_FOR_UPDATES"}
    assert standards_status([fsbp]) == "pass"
    assert standards_status([]) == "fail"
    assert standards_status([{**fsbp, "StandardsStatus": "INCOMPLETE"}]) == "fail"
