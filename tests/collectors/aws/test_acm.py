"""ACM service: certificate expiry and key strength against moto, with real X.509 certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from agent.model import Resource
from agent.rules.engine import RuleSet
from tests.collectors.aws.conftest import ACCOUNT, builtin_rules, run_aws

REGION = "us-east-1"
OPTIONS = "    regions: [us-east-1]\n    services: [acm]\n"


def make_cert(name: str, days: int, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[str, bytes]:
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    return {"Certificate": cert.public_bytes(serialization.Encoding.PEM),
            "PrivateKey": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())}


def test_certificate_rules(aws: str, tmp_path: Path) -> None:
    acm = boto3.client("acm", region_name=REGION)
    rsa2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    long = acm.import_certificate(**make_cert("long.example.com", 400, rsa2048))["CertificateArn"]
    soon = acm.import_certificate(**make_cert("soon.example.com", 20, ec.generate_private_key(ec.SECP256R1())))[
        "CertificateArn"]
    weak = acm.import_certificate(**make_cert("weak.example.com", 200, rsa.generate_private_key(
        public_exponent=65537, key_size=1024)))["CertificateArn"]

    run = run_aws(tmp_path, OPTIONS)
    assert not run.errors
    assert run.status("aws.acm.certificate_not_expiring_30_days", long) == "pass"
    assert run.status("aws.acm.certificate_not_expiring_30_days", soon) == "fail"
    assert run.status("aws.acm.certificate_not_expired", soon) == "pass"
    assert run.status("aws.acm.certificate_key_rsa_2048_or_stronger", long) == "pass"
    assert run.status("aws.acm.certificate_key_rsa_2048_or_stronger", soon) == "pass"
    assert run.status("aws.acm.certificate_key_rsa_2048_or_stronger", weak) == "fail"

    # moto will not import an already-expired certificate: move the rule clock past `soon`'s expiry
    later = tmp_path / "later"
    later.mkdir()
    run = run_aws(later, OPTIONS, now=datetime.now(UTC) + timedelta(days=60))
    assert run.status("aws.acm.certificate_not_expired", soon) == "fail"
    assert run.status("aws.acm.certificate_not_expired", long) == "pass"


def test_key_algorithm_as_aws_spells_it() -> None:
    """Real DescribeCertificate output says "RSA-2048" / "EC-prime256v1" (hyphen); moto says "RSA_2048".
    Both spellings must be judged the same way."""
    rules = RuleSet([r for r in builtin_rules() if r.id == "aws.acm.certificate_key_rsa_2048_or_stronger"])

    def status(algorithm: str) -> str:
        cert = {"DomainName": "www.example.com", "Status": "ISSUED", "KeyAlgorithm": algorithm,
                "SignatureAlgorithm": "SHA256WITHRSA", "Type": "AMAZON_ISSUED", "InUseBy": []}
        resource = Resource("aws.acm.certificate", f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/x", "x", cert,
                            ACCOUNT, REGION)
        return rules.evaluate(resource)[0][1].status.value

    for good in ("RSA-2048", "RSA-4096", "EC-prime256v1", "EC-secp384r1", "RSA_3072", "EC_secp521r1"):
        assert status(good) == "pass", good
    for weak in ("RSA-1024", "RSA_1024", "RSA-2048-extra"):
        assert status(weak) == "fail", weak
