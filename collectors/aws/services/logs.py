"""CloudWatch Logs: log groups with their retention (`retentionInDays`; absent = never expire) and
KMS key (`kmsKeyId`; absent = encrypted with a CloudWatch-owned key)."""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

LOG_GROUP = "aws.logs.log_group"


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        groups = list(scope.paginate("logs", "describe_log_groups", "logGroups"))
    except CollectErrors as exc:
        scope.fail(LOG_GROUP, exc)
        return
    for group in groups:
        arn = group.get("logGroupArn") or str(group.get("arn") or "").removesuffix(":*") \
            or scope.arn("logs", f"log-group:{group['logGroupName']}")
        data = plain(group)
        data.setdefault("retentionInDays", None)  # explicit null: the group never expires its events
        yield scope.resource(LOG_GROUP, arn, group["logGroupName"], data)


SERVICE = ServiceSpec(name="logs", resource_types={LOG_GROUP: "a CloudWatch Logs log group (retention, KMS key)"},
                      collect=collect)
