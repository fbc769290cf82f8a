"""AWS Config (per region): configuration recorders, their status and delivery channels.

One resource per region even when nothing is configured, so "Config is not recording here" is
a failing finding rather than an absence of findings.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors
from collectors.aws.services import ServiceSpec
from collectors.aws.services.policy_docs import plain

REGION = "aws.config.region"


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        recorders = scope.call("config", "describe_configuration_recorders")
        statuses = scope.call("config", "describe_configuration_recorder_status")
        channels = scope.call("config", "describe_delivery_channels")
    except CollectErrors as exc:
        scope.fail(REGION, exc)
        return
    data = {"ConfigurationRecorders": plain(recorders.get("ConfigurationRecorders") or []),
            "ConfigurationRecordersStatus": plain(statuses.get("ConfigurationRecordersStatus") or []),
            "DeliveryChannels": plain(channels.get("DeliveryChannels") or [])}
    arn = scope.arn("config", "configuration-recorders")
    yield scope.resource(REGION, arn, f"AWS Config in {scope.region}", data)


SERVICE = ServiceSpec(
    name="config",
    resource_types={REGION: "AWS Config in one region: recorders, recorder status and delivery channels"},
    collect=collect,
)
