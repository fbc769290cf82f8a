"""Cloud KMS v1 of each project: every crypto key in every key ring and location, with its IAM policy.

Locations come from the API (`locations.list`) unless `kms_locations` names them. `rotationPeriod`
("7776000s") is also given in days (`rotationPeriodDays`) so rules can compare it with a threshold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.gcp.errors import describe
from collectors.gcp.policy import public_grants
from collectors.gcp.scope import ProjectScope
from collectors.gcp.services import ServiceSpec

KEY = "gcp.kms.crypto_key"
KMS = "//cloudkms.googleapis.com/"


def duration_seconds(value: Any) -> float | None:
    """A protobuf Duration in JSON ("7776000s", "1.5s") as seconds; None when absent or malformed."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return float(value[:-1])
    except ValueError:
        return None


def _locations(scope: ProjectScope) -> list[str]:
    if scope.options.kms_locations:
        return list(scope.options.kms_locations)
    found = scope.items("cloudkms", f"v1/projects/{scope.project_id}/locations", "locations",
                        size=("pageSize", 100))
    return [loc.get("locationId") or loc["name"].rsplit("/", 1)[-1] for loc in found]


def collect(scope: ProjectScope) -> Iterator[Resource]:
    try:
        locations = _locations(scope)
    except Exception as exc:
        scope.fail(KEY, exc, context="locations.list")
        return

    def rings_of(location: str) -> list[dict[str, Any]]:
        return scope.items("cloudkms", f"v1/projects/{scope.project_id}/locations/{location}/keyRings", "keyRings",
                           size=("pageSize", 1000))

    rings: list[dict[str, Any]] = []
    for location, found in scope.each(locations, rings_of, workers=8):
        if isinstance(found, Exception):
            scope.fail(KEY, found, context=f"keyRings.list {location}", region=location)
        else:
            rings.extend(found)

    def keys_of(ring: dict[str, Any]) -> list[dict[str, Any]]:
        return scope.items("cloudkms", f"v1/{ring['name']}/cryptoKeys", "cryptoKeys", size=("pageSize", 1000))

    keys: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for ring, found in scope.each(rings, keys_of, workers=4):
        if isinstance(found, Exception):
            scope.fail(KEY, found, context=f"cryptoKeys.list {ring['name']}", region=ring["name"].split("/")[3])
        else:
            keys.extend((ring, key) for key in found)

    def iam_of(item: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
        return scope.get("cloudkms", f"v1/{item[1]['name']}:getIamPolicy", params={"options.requestedPolicyVersion": 3})

    for (ring, key), policy in scope.each(keys, iam_of, workers=4):
        error = describe(policy) if isinstance(policy, Exception) else None
        location = key["name"].split("/")[3]
        if error:
            scope.fail(KEY, policy, context=f"getIamPolicy {key['name']}", region=location)
        seconds = duration_seconds(key.get("rotationPeriod"))
        data = {**key, "keyRing": ring["name"], "location": location, "rotationPeriodSeconds": seconds,
                "rotationPeriodDays": None if seconds is None else seconds / 86400,
                "iamPolicy": None if error else policy, "iamPolicyError": error,
                "publicGrants": [] if error else public_grants(policy)}
        yield scope.resource(KEY, KMS + key["name"], key["name"].rsplit("/", 1)[-1], data, region=location)


SERVICE = ServiceSpec(
    name="kms",
    api="cloudkms",
    resource_types={
        KEY: "a Cloud KMS crypto key: purpose, primary version state, rotation period and IAM policy",
    },
    collect=collect,
)
