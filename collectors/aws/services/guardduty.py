"""GuardDuty (per region): the detector (at most one per region) with its status and features.

One resource per region even without a detector, so a region without GuardDuty fails a rule.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors
from collectors.aws.services import ServiceSpec
from collectors.aws.services.policy_docs import plain

REGION = "aws.guardduty.region"


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        detectors = []
        for detector_id in scope.paginate("guardduty", "list_detectors", "DetectorIds"):
            detail = scope.call("guardduty", "get_detector", DetectorId=detector_id)
            detectors.append({"DetectorId": detector_id,
                              "DetectorArn": scope.arn("guardduty", f"detector/{detector_id}"), **plain(detail)})
    except CollectErrors as exc:
        scope.fail(REGION, exc)
        return
    yield scope.resource(REGION, scope.arn("guardduty", "detectors"), f"GuardDuty in {scope.region}",
                         {"Detectors": detectors})


SERVICE = ServiceSpec(
    name="guardduty",
    resource_types={REGION: "GuardDuty in one region: its detector (if any), status and protection features"},
    collect=collect,
)
