"""ELBv2 service: load balancer attributes and listener TLS/redirect rules against moto."""

from __future__ import annotations

from pathlib import Path

import boto3
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.collectors.aws.conftest import run_aws
from tests.collectors.aws.test_acm import make_cert

REGION = "us-east-1"


def test_load_balancer_and_listener_rules(aws: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    elb = boto3.client("elbv2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
        "Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    cert = boto3.client("acm", region_name=REGION).import_certificate(**make_cert(
        "www.example.com", 300, rsa.generate_private_key(public_exponent=65537, key_size=2048)))["CertificateArn"]

    good = elb.create_load_balancer(Name="good", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    bad = elb.create_load_balancer(Name="bad", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    elb.modify_load_balancer_attributes(LoadBalancerArn=good, Attributes=[
        {"Key": "access_logs.s3.enabled", "Value": "true"}, {"Key": "access_logs.s3.bucket", "Value": "elb-logs"},
        {"Key": "deletion_protection.enabled", "Value": "true"},
        {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}])

    redirect = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                         "StatusCode": "HTTP_301"}}]
    ok = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
    good_http = elb.create_listener(LoadBalancerArn=good, Protocol="HTTP", Port=80, DefaultActions=redirect)
    good_https = elb.create_listener(LoadBalancerArn=good, Protocol="HTTPS", Port=443, DefaultActions=ok,
                                     SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                                     Certificates=[{"CertificateArn": cert}])
    bad_http = elb.create_listener(LoadBalancerArn=bad, Protocol="HTTP", Port=80, DefaultActions=ok)
    bad_https = elb.create_listener(LoadBalancerArn=bad, Protocol="HTTPS", Port=443, DefaultActions=ok,
                                    SslPolicy="ELBSecurityPolicy-2016-08", Certificates=[{"CertificateArn": cert}])
    arn = lambda resp: resp["Listeners"][0]["ListenerArn"]  # noqa: E731

    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [elbv2]\n")
    assert not run.errors
    assert run.status("aws.elbv2.listener_tls_policy_modern", arn(good_https)) == "pass"
    assert run.status("aws.elbv2.listener_tls_policy_modern", arn(bad_https)) == "fail"
    assert arn(good_http) not in run.by_rule("aws.elbv2.listener_tls_policy_modern")
    assert run.status("aws.elbv2.listener_http_redirects_to_https", arn(good_http)) == "pass"
    assert run.status("aws.elbv2.listener_http_redirects_to_https", arn(bad_http)) == "fail"
    for rule in ("load_balancer_access_logs_enabled", "load_balancer_deletion_protection",
                 "alb_drops_invalid_headers"):
        assert run.status(f"aws.elbv2.{rule}", good) == "pass", rule
        assert run.status(f"aws.elbv2.{rule}", bad) == "fail", rule
    message = next(f["message"] for f in run.findings if f["resource_id"] == arn(bad_https)
                   and f["rule_id"] == "aws.elbv2.listener_tls_policy_modern")
    assert "TLSv1.1" in message
