"""Production's edge: TLS certificates, load balancers and the Kubernetes cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agent.demo.world import DemoAccount, World


def _self_signed(domain: str, days_left: int) -> tuple[bytes, bytes]:
    """A throwaway certificate and key (generated on the fly, never stored) for ACM import."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=365 - days_left))
            .not_valid_after(now + timedelta(days=days_left))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def seed_edge(world: World, acct: DemoAccount, region: str, net: dict[str, Any]) -> None:
    acm = acct.client("acm", region)
    issued = world.attempt("acm.certificate", "api.acme.example", lambda: acm.request_certificate(
        DomainName="api.acme.example", ValidationMethod="DNS",
        SubjectAlternativeNames=["api.acme.example", "pay.acme.example"])["CertificateArn"])

    def import_expiring() -> str:
        cert, key = _self_signed("partners.acme.example", days_left=12)
        return str(acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"])

    world.attempt("acm.certificate", "partners.acme.example (expiring)", import_expiring)
    subnets = net.get("subnets") or []
    if len(subnets) >= 2 and net.get("web_sg"):
        _load_balancers(world, acct, region, net, issued)
        _eks(world, acct, region, subnets)


def _load_balancers(world: World, acct: DemoAccount, region: str, net: dict[str, Any], cert: str | None) -> None:
    elb = acct.client("elbv2", region)
    subnets = net["subnets"][:2]

    def balancer(name: str) -> tuple[str, str]:
        lb = elb.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=[net["web_sg"]],
                                      Scheme="internet-facing", Type="application")["LoadBalancers"][0]
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
            {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}])
        tg = elb.create_target_group(Name=f"{name}-tg", Protocol="HTTP", Port=8080, VpcId=net["vpc"],
                                     TargetType="ip")["TargetGroups"][0]
        return lb["LoadBalancerArn"], tg["TargetGroupArn"]

    public = world.attempt("elbv2.load_balancer", "payments-public", lambda: balancer("payments-public"))
    if public:
        lb, tg = public
        world.attempt("elbv2.listener", "payments-public:80", lambda: elb.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "redirect", "RedirectConfig": {
                "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]))
        if cert:
            world.attempt("elbv2.listener", "payments-public:443", lambda: elb.create_listener(
                LoadBalancerArn=lb, Protocol="HTTPS", Port=443, SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                Certificates=[{"CertificateArn": cert}], DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]))
    legacy = world.attempt("elbv2.load_balancer", "legacy-admin", lambda: balancer("legacy-admin"))
    if legacy:
        lb, tg = legacy
        world.attempt("elbv2.listener", "legacy-admin:80", lambda: elb.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]))


def _eks(world: World, acct: DemoAccount, region: str, subnets: list[str]) -> None:
    eks = acct.client("eks", region)
    world.attempt("eks.cluster", "acme-payments", lambda: eks.create_cluster(
        name="acme-payments", version="1.29", roleArn=f"arn:aws:iam::{acct.id}:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": subnets[:2], "endpointPublicAccess": True, "endpointPrivateAccess": True,
                            "publicAccessCidrs": ["0.0.0.0/0"]},
        logging={"clusterLogging": [{"types": ["api", "audit", "authenticator"], "enabled": True}]},
        encryptionConfig=[]))
