"""ACM service: certificate expiry and key strength against moto, with real X.509 certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.collectors.aws.conftest import run_aws

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
