"""EKS: clusters as DescribeCluster returns them, plus `VersionEndOfStandardSupport`.

The end-of-standard-support dates come from the Amazon EKS Kubernetes release calendar (standard
support lasts 14 months from the EKS release). A version older than the oldest in the table gets
that oldest date (it ended earlier still); a newer version gets null (not yet in the table).
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

CLUSTER = "aws.eks.cluster"

STANDARD_SUPPORT_END: dict[str, str] = {
    "1.23": "2023-10-11", "1.24": "2024-01-31", "1.25": "2024-05-01", "1.26": "2024-06-11",
    "1.27": "2024-07-24", "1.28": "2024-11-26", "1.29": "2025-03-23", "1.30": "2025-07-23",
    "1.31": "2025-11-26", "1.32": "2026-03-23", "1.33": "2026-07-29", "1.34": "2026-12-02",
    "1.35": "2027-03-27",
}


def _key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return ()


def standard_support_end(version: str | None) -> str | None:
    if not version:
        return None
    if version in STANDARD_SUPPORT_END:
        return STANDARD_SUPPORT_END[version]
    oldest = min(STANDARD_SUPPORT_END, key=_key)
    if _key(version) and _key(version) < _key(oldest):
        return STANDARD_SUPPORT_END[oldest]
    return None


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        names = list(scope.paginate("eks", "list_clusters", "clusters"))
    except CollectErrors as exc:
        scope.fail(CLUSTER, exc)
        return
    for name in names:
        try:
            cluster = scope.call("eks", "describe_cluster", name=name)["cluster"]
        except CollectErrors as exc:
            if error_code(exc) == "ResourceNotFoundException":
                continue
            scope.fail(CLUSTER, exc)
            continue
        data = plain(cluster)
        data.setdefault("encryptionConfig", [])
        data["VersionEndOfStandardSupport"] = standard_support_end(cluster.get("version"))
        yield scope.resource(CLUSTER, cluster["arn"], cluster["name"], data)


SERVICE = ServiceSpec(name="eks", resource_types={CLUSTER: "an EKS cluster (endpoint access, logging, "
                                                           "secrets encryption, version)"}, collect=collect)
