"""ACM: certificates as DescribeCertificate returns them (NotAfter, Status, InUseBy, KeyAlgorithm,
RenewalEligibility…). ListCertificates only returns RSA_2048 certificates unless asked for every
key type, so all key types are requested."""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

CERTIFICATE = "aws.acm.certificate"
KEY_TYPES = ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"]


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        summaries = list(scope.paginate("acm", "list_certificates", "CertificateSummaryList",
                                        Includes={"keyTypes": KEY_TYPES}))
    except CollectErrors as exc:
        scope.fail(CERTIFICATE, exc)
        return
    for summary in summaries:
        arn = summary["CertificateArn"]
        try:
            cert = scope.call("acm", "describe_certificate", CertificateArn=arn)["Certificate"]
        except CollectErrors as exc:
            if error_code(exc) == "ResourceNotFoundException":
                continue
            scope.fail(CERTIFICATE, exc)
            continue
        data = plain(cert)
        data.setdefault("InUseBy", [])
        yield scope.resource(CERTIFICATE, arn, cert.get("DomainName") or arn, data)


SERVICE = ServiceSpec(name="acm", resource_types={CERTIFICATE: "an ACM certificate (validity, status, key)"},
                      collect=collect)
