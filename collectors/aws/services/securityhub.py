"""Security Hub (per region): whether the account is subscribed, and the enabled standards.

"Not subscribed" (InvalidAccessException from DescribeHub) is data: the hub resource says
`Subscribed: false` and fails its rule. The standards resource exists only where the hub is on;
if the standards cannot be read, that type is an `error` for the region.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, describe_error, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.policy_docs import plain

HUB = "aws.securityhub.hub"
STANDARDS = "aws.securityhub.standards"
NOT_SUBSCRIBED = ("InvalidAccessException",)


def collect(scope: AwsScope) -> Iterator[Resource]:
    hub_arn = scope.arn("securityhub", "hub/default")
    try:
        hub: dict[str, Any] = {**plain(scope.call("securityhub", "describe_hub")), "Subscribed": True}
    except CollectErrors as exc:
        if error_code(exc) not in NOT_SUBSCRIBED:
            scope.fail(HUB, exc)
            scope.fail(STANDARDS, exc)
            return
        hub = {"HubArn": None, "Subscribed": False, "Reason": describe_error(exc)}
    yield scope.resource(HUB, hub.get("HubArn") or hub_arn, f"Security Hub in {scope.region}", hub)
    if not hub["Subscribed"]:
        return
    try:
        subscriptions = list(scope.paginate("securityhub", "get_enabled_standards", "StandardsSubscriptions"))
    except CollectErrors as exc:
        scope.fail(STANDARDS, exc)
        return
    yield scope.resource(STANDARDS, scope.arn("securityhub", "hub/default/standards"),
                         f"Security Hub standards in {scope.region}",
                         {"StandardsSubscriptions": plain(subscriptions)})


SERVICE = ServiceSpec(
    name="securityhub",
    resource_types={
        HUB: "Security Hub in one region: subscribed or not, with the hub settings",
        STANDARDS: "the security standards enabled in a region's Security Hub",
    },
    collect=collect,
)
