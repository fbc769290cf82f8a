"""VPC: each VPC with the flow logs attached to it (`FlowLogs`) and whether it is the default VPC."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain, tag_name

VPC = "aws.vpc.vpc"


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        vpcs = list(scope.paginate("ec2", "describe_vpcs", "Vpcs"))
        flow_logs = list(scope.paginate("ec2", "describe_flow_logs", "FlowLogs"))
    except CollectErrors as exc:
        scope.fail(VPC, exc)
        return
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for log in flow_logs:
        by_resource.setdefault(log.get("ResourceId", ""), []).append(plain(log))
    for vpc in vpcs:
        data = plain(vpc)
        data["FlowLogs"] = by_resource.get(vpc["VpcId"], [])
        yield scope.resource(VPC, scope.arn("ec2", f"vpc/{vpc['VpcId']}"), tag_name(vpc, vpc["VpcId"]), data)


SERVICE = ServiceSpec(name="vpc", resource_types={VPC: "a VPC with its flow logs (`FlowLogs`)"}, collect=collect)
