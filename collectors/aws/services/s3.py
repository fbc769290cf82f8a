"""S3 (global listing, once per account): the account-level public access block and every bucket.

Buckets are listed once; each bucket's settings are read through a client in the bucket's own
region. A setting AWS reports as "not configured" (no policy, no encryption configuration, no
public access block, ...) is stored as null; any other failure fails the bucket type for the
account rather than yielding a bucket whose missing setting could pass a rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, describe_error, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.policy_docs import denies_insecure_transport, load_document, plain, public_statements

BUCKET = "aws.s3.bucket"
ACCOUNT_BLOCK = "aws.s3.account_public_access_block"
BUCKET_WORKERS = 4
PUBLIC_GROUPS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                 "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
# (data key, operation, response key, error codes meaning "not configured")
LOOKUPS: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = (
    ("PublicAccessBlock", "get_public_access_block", "PublicAccessBlockConfiguration",
     ("NoSuchPublicAccessBlockConfiguration",)),
    ("Policy", "get_bucket_policy", "Policy", ("NoSuchBucketPolicy",)),
    ("Acl", "get_bucket_acl", None, ()),
    ("Encryption", "get_bucket_encryption", "ServerSideEncryptionConfiguration",
     ("ServerSideEncryptionConfigurationNotFoundError",)),
    ("Versioning", "get_bucket_versioning", None, ()),
    ("Logging", "get_bucket_logging", "LoggingEnabled", ()),
    ("ObjectLock", "get_object_lock_configuration", "ObjectLockConfiguration",
     ("ObjectLockConfigurationNotFoundError",)),
    ("OwnershipControls", "get_bucket_ownership_controls", "OwnershipControls",
     ("OwnershipControlsNotFoundError",)),
)


class BucketGone(Exception):
    """The bucket was deleted between listing and reading it."""


def collect(scope: AwsScope) -> Iterator[Resource]:
    account_block, account_error = _account_block(scope)
    if account_error is None:
        arn = f"arn:{scope.partition}:s3::{scope.account_id}:account-public-access-block"
        yield scope.resource(ACCOUNT_BLOCK, arn, f"S3 account public access block of {scope.account_id}",
                             {"PublicAccessBlockConfiguration": account_block})
    try:
        buckets = list(scope.paginate("s3", "list_buckets", "Buckets"))
    except CollectErrors as exc:
        scope.fail(BUCKET, exc)
        return

    def read(bucket: dict[str, Any]) -> dict[str, Any] | Exception | None:
        try:
            return _bucket(scope, bucket)
        except BucketGone:
            return None
        except CollectErrors as exc:
            return exc

    with ThreadPoolExecutor(max_workers=BUCKET_WORKERS, thread_name_prefix="aws-s3-buckets") as pool:
        results = list(pool.map(read, buckets))
    for bucket, data in zip(buckets, results, strict=True):
        if data is None:
            continue
        if isinstance(data, Exception):
            scope.fail(BUCKET, f"bucket {bucket['Name']}: {describe_error(data)}")
            continue
        data["AccountPublicAccessBlock"] = account_block
        data["AccountPublicAccessBlockError"] = account_error
        yield scope.resource(BUCKET, f"arn:{scope.partition}:s3:::{bucket['Name']}", bucket["Name"], data,
                             region=data["Region"])


def _nested_error(exc: Exception) -> dict[str, Any]:
    """S3 Control can answer `<ErrorResponse><Errors><Error>…`, which botocore leaves unparsed."""
    if not isinstance(exc, ClientError) or error_code(exc):
        return {}
    return dict((exc.response.get("Errors") or {}).get("Error") or {})


def _account_block(scope: AwsScope) -> tuple[dict[str, Any] | None, str | None]:
    """(configuration or None when none is set, error text when it could not be read)."""
    try:
        response = scope.call("s3control", "get_public_access_block", AccountId=scope.account_id)
        return plain(response.get("PublicAccessBlockConfiguration")), None
    except CollectErrors as exc:
        nested = _nested_error(exc)
        code = error_code(exc) or nested.get("Code", "")
        if code == "NoSuchPublicAccessBlockConfiguration":
            return None, None
        reason = describe_error(exc)
        if nested or (isinstance(exc, ClientError) and not code):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")  # type: ignore[union-attr]
            reason = f"GetPublicAccessBlock: {code or f'HTTP {status}'}: {nested.get('Message', '')}".strip()
        scope.fail(ACCOUNT_BLOCK, reason)
        return None, reason


def bucket_region(location: str | None) -> str:
    """GetBucketLocation's answer as a region: null means us-east-1 and the legacy "EU" eu-west-1."""
    if not location:
        return "us-east-1"
    return "eu-west-1" if location == "EU" else location


def _bucket(scope: AwsScope, bucket: dict[str, Any]) -> dict[str, Any]:
    name = bucket["Name"]
    try:
        location = scope.call("s3", "get_bucket_location", Bucket=name).get("LocationConstraint")
    except CollectErrors as exc:
        if error_code(exc) == "NoSuchBucket":
            raise BucketGone(name) from exc
        raise
    region = bucket_region(location)
    data: dict[str, Any] = {**plain(bucket), "LocationConstraint": location, "Region": region}
    for key, operation, response_key, absent in LOOKUPS:
        try:
            response = scope.call("s3", operation, region=region, Bucket=name)
        except CollectErrors as exc:
            code = error_code(exc)
            if code == "NoSuchBucket":
                raise BucketGone(name) from exc
            if code not in absent:
                raise
            data[key] = None
            continue
        data[key] = plain(response.get(response_key) if response_key else response)
    policy_text = data["Policy"]
    data["Policy"] = (load_document(policy_text) or policy_text) if policy_text is not None else None
    data["PolicyStatus"] = None
    if policy_text is not None:
        try:
            status = scope.call("s3", "get_bucket_policy_status", region=region, Bucket=name)
            data["PolicyStatus"] = plain(status.get("PolicyStatus"))
        except CollectErrors as exc:
            if error_code(exc) != "NoSuchBucketPolicy":
                raise
    data["PolicyPublicStatements"] = [] if policy_text is None else public_statements(data["Policy"])
    data["PolicyDeniesInsecureTransport"] = False if policy_text is None else \
        denies_insecure_transport(data["Policy"])
    grants = (data["Acl"] or {}).get("Grants") or []
    data["AclPublicGrants"] = [g for g in grants if (g.get("Grantee") or {}).get("URI") in PUBLIC_GROUPS]
    return data


SERVICE = ServiceSpec(
    name="s3",
    resource_types={
        BUCKET: "an S3 bucket with its public access block, policy, ACL, encryption, versioning, logging, "
                "Object Lock and ownership settings",
        ACCOUNT_BLOCK: "the account-level S3 public access block (null configuration when none is set)",
    },
    collect=collect,
    global_=True,
    concurrency=2,
)
