"""IAM Access Analyzer (per region): analyzers and the active findings of external-access analyzers.

One resource per region even without an analyzer, so a region without one fails a rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors
from collectors.aws.services import ServiceSpec
from collectors.aws.services.policy_docs import plain

REGION = "aws.accessanalyzer.region"
EXTERNAL_ACCESS = ("ACCOUNT", "ORGANIZATION")
KEPT_FINDINGS = 50  # findings stored as evidence per region; the count covers all of them


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        analyzers = plain(list(scope.paginate("accessanalyzer", "list_analyzers", "analyzers")))
        findings: list[dict[str, Any]] = []
        count = 0
        for analyzer in analyzers:
            if analyzer.get("type") not in EXTERNAL_ACCESS or analyzer.get("status") != "ACTIVE":
                continue
            pages = scope.paginate("accessanalyzer", "list_findings_v2", "findings", analyzerArn=analyzer["arn"],
                                   filter={"status": {"eq": ["ACTIVE"]}})
            for finding in pages:
                count += 1
                if len(findings) < KEPT_FINDINGS:
                    findings.append({**plain(finding), "analyzerArn": analyzer["arn"]})
    except CollectErrors as exc:
        scope.fail(REGION, exc)
        return
    data = {"Analyzers": analyzers, "ActiveFindings": findings, "ActiveFindingsCount": count}
    yield scope.resource(REGION, scope.arn("access-analyzer", "analyzers"), f"Access Analyzer in {scope.region}",
                         data)


SERVICE = ServiceSpec(
    name="accessanalyzer",
    resource_types={REGION: "IAM Access Analyzer in one region: analyzers and active external-access findings"},
    collect=collect,
)
