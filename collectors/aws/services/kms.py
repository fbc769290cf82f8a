"""KMS: customer-managed keys with their state and rotation setting."""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec

KEY = "aws.kms.key"


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        keys = list(scope.paginate("kms", "list_keys", "Keys"))
    except CollectErrors as exc:
        scope.fail(KEY, exc)
        return
    for item in keys:
        try:
            meta = scope.call("kms", "describe_key", KeyId=item["KeyId"])["KeyMetadata"]
        except CollectErrors as exc:
            if error_code(exc) in ("NotFoundException",):
                continue  # deleted between list and describe
            scope.fail(KEY, exc)
            continue
        if meta.get("KeyManager") != "CUSTOMER":
            continue  # AWS-managed keys rotate automatically and cannot be configured
        data = dict(meta)
        data["KeyRotationEnabled"] = None
        if meta.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT" and meta.get("Origin") == "AWS_KMS" \
                and meta.get("KeyState") not in ("PendingDeletion", "PendingReplicaDeletion"):
            try:
                rotation = scope.call("kms", "get_key_rotation_status", KeyId=item["KeyId"])
                data["KeyRotationEnabled"] = rotation.get("KeyRotationEnabled")
                data["RotationPeriodInDays"] = rotation.get("RotationPeriodInDays")
            except CollectErrors as exc:
                scope.fail(KEY, exc)
                continue
        yield scope.resource(KEY, meta["Arn"], meta.get("Description") or meta["KeyId"], data)


SERVICE = ServiceSpec(name="kms", resource_types={KEY: "a customer-managed KMS key with its rotation status"},
                      collect=collect)
