"""Secrets Manager: secret metadata from ListSecrets only (rotation, dates, KMS key).

Secret values are never read: GetSecretValue/BatchGetSecretValue are refused by the read-only
guard and not called here.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

SECRET = "aws.secretsmanager.secret"


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        secrets = list(scope.paginate("secretsmanager", "list_secrets", "SecretList"))
    except CollectErrors as exc:
        scope.fail(SECRET, exc)
        return
    for secret in secrets:
        data = plain(secret)
        for key in ("SecretString", "SecretBinary"):  # never present in ListSecrets; belt and braces
            data.pop(key, None)
        data.setdefault("RotationEnabled", False)
        data.setdefault("LastRotatedDate", None)
        yield scope.resource(SECRET, secret["ARN"], secret.get("Name") or secret["ARN"], data)


SERVICE = ServiceSpec(name="secretsmanager",
                      resource_types={SECRET: "a Secrets Manager secret's metadata (never its value)"},
                      collect=collect)
