"""Cloud Storage buckets of each project (JSON API v1) with their IAM policies.

A bucket's `publicAccessPrevention` of `inherited` follows the `storage.publicAccessPrevention`
organisation policy in force for the project, so that effective policy is read too (once per
project) and recorded beside the bucket. A bucket whose IAM policy cannot be read is still
recorded, with the error, and the project is reported as partly collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from agent.model import Resource
from collectors.gcp.errors import describe
from collectors.gcp.policy import public_grants
from collectors.gcp.scope import ProjectScope
from collectors.gcp.services import ServiceSpec
from collectors.gcp.services.orgpolicy import effective_policy

BUCKET = "gcp.storage.bucket"
STORAGE = "//storage.googleapis.com/projects/_/buckets/"
PAP_CONSTRAINT = "storage.publicAccessPrevention"


def _org_pap(scope: ProjectScope) -> tuple[bool | None, str | None]:
    try:
        policy = effective_policy(scope, PAP_CONSTRAINT)
    except Exception as exc:
        return None, describe(exc)
    return bool(policy.get("enforced")), None


def collect(scope: ProjectScope) -> Iterator[Resource]:
    try:
        buckets = scope.items("storage", "storage/v1/b", "items", params={"project": scope.project_id,
                                                                          "projection": "noAcl"},
                              size=("maxResults", 1000))
    except Exception as exc:
        scope.fail(BUCKET, exc, context="buckets.list")
        return
    needs_org_policy = any((b.get("iamConfiguration") or {}).get("publicAccessPrevention", "inherited")
                           in ("inherited", "unspecified") for b in buckets)
    org_pap, org_error = _org_pap(scope) if needs_org_policy else (None, None)

    def read_iam(bucket: dict[str, Any]) -> dict[str, Any]:
        return scope.get("storage", f"storage/v1/b/{quote(bucket['name'], safe='')}/iam",
                         params={"optionsRequestedPolicyVersion": 3})

    failed: list[str] = []
    for bucket, policy in scope.each(buckets, read_iam, workers=4):
        error = describe(policy) if isinstance(policy, Exception) else None
        if error:
            failed.append(f"{bucket['name']}: {error}")
        data = {**bucket, "projectId": scope.project_id, "iamPolicy": None if error else policy,
                "iamPolicyError": error, "publicGrants": [] if error else public_grants(policy),
                "orgPolicyPublicAccessPrevention": org_pap, "orgPolicyError": org_error}
        yield scope.resource(BUCKET, STORAGE + bucket["name"], bucket["name"], data,
                             region=str(bucket.get("location", "")).lower() or None)
    if failed:
        scope.fail(BUCKET, f"{failed[0]} (IAM policy of {len(failed)} of {len(buckets)} buckets "
                           "unreadable; their public-access verdicts are errors)")


SERVICE = ServiceSpec(
    name="storage",
    api="storage",
    resource_types={
        BUCKET: "a Cloud Storage bucket (uniform access, public access prevention, retention and lock, "
                "versioning) with its IAM policy and public grants",
    },
    collect=collect,
)
