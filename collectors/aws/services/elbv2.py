"""Elastic Load Balancing v2: load balancers (ALB/NLB/GWLB) with their attributes, and listeners.

`Attributes` on a load balancer is DescribeLoadBalancerAttributes turned into a map (key → string
value, as AWS returns them: "true"/"false"). Each HTTPS/TLS listener carries `SslPolicyProtocols`,
the TLS versions of its security policy as DescribeSSLPolicies reports them, so rules judge the
policy by what it allows rather than by its name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

LOAD_BALANCER = "aws.elbv2.load_balancer"
LISTENER = "aws.elbv2.listener"
GONE = ("LoadBalancerNotFound", "ListenerNotFound")


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        balancers = list(scope.paginate("elbv2", "describe_load_balancers", "LoadBalancers"))
    except CollectErrors as exc:
        scope.fail(LOAD_BALANCER, exc)
        scope.fail(LISTENER, exc)
        return
    for lb in balancers:
        arn = lb["LoadBalancerArn"]
        try:
            attrs = scope.call("elbv2", "describe_load_balancer_attributes", LoadBalancerArn=arn)
        except CollectErrors as exc:
            if error_code(exc) not in GONE:
                scope.fail(LOAD_BALANCER, exc)
        else:
            data = plain(lb)
            data["Attributes"] = {a["Key"]: a.get("Value") for a in attrs.get("Attributes") or []}
            yield scope.resource(LOAD_BALANCER, arn, lb["LoadBalancerName"], data)
        yield from _listeners(scope, lb)


def _policy_protocols(scope: AwsScope, name: str) -> list[str] | None:
    """TLS versions allowed by a predefined security policy (None if AWS does not know it)."""
    try:
        policies = scope.call("elbv2", "describe_ssl_policies", Names=[name]).get("SslPolicies") or []
    except CollectErrors as exc:
        if error_code(exc) == "SSLPolicyNotFound":
            return None
        raise
    return list(policies[0].get("SslProtocols") or []) if policies else None


def _listeners(scope: AwsScope, lb: dict[str, Any]) -> Iterator[Resource]:
    try:
        listeners = list(scope.paginate("elbv2", "describe_listeners", "Listeners",
                                        LoadBalancerArn=lb["LoadBalancerArn"]))
    except CollectErrors as exc:
        if error_code(exc) not in GONE:
            scope.fail(LISTENER, exc)
        return
    for listener in listeners:
        data = plain(listener)
        data["LoadBalancerName"] = lb["LoadBalancerName"]
        data["LoadBalancerType"] = lb.get("Type")
        data["Scheme"] = lb.get("Scheme")
        data["SslPolicyProtocols"] = None
        if listener.get("SslPolicy"):
            try:
                data["SslPolicyProtocols"] = _policy_protocols(scope, listener["SslPolicy"])
            except CollectErrors as exc:
                scope.fail(LISTENER, exc)
                continue
        name = f"{lb['LoadBalancerName']}:{listener.get('Protocol', '')}:{listener.get('Port', '')}"
        yield scope.resource(LISTENER, listener["ListenerArn"], name, data)


SERVICE = ServiceSpec(
    name="elbv2",
    resource_types={
        LOAD_BALANCER: "an Application/Network/Gateway Load Balancer with its attributes",
        LISTENER: "a load balancer listener (protocol, default actions, TLS policy and its TLS versions)",
    },
    collect=collect,
)
