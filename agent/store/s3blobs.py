"""Evidence blobs in S3 (`store.evidence: s3://bucket/prefix`), same layout as the folder store."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from agent.model import canonical_json
from agent.store.blobs import digest_of


class S3BlobStore:
    """Content-addressed blobs as S3 objects. Existing objects are not rewritten."""

    def __init__(self, url: str, client: Any = None):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client
        self.writes = 0

    def _key(self, digest: str) -> str:
        hexd = digest.removeprefix("sha256:")
        key = f"{hexd[:2]}/{hexd[2:]}"
        return f"{self.prefix}/{key}" if self.prefix else key

    def exists(self, digest: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(digest))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def put_bytes(self, raw: bytes) -> str:
        digest = digest_of(raw)
        if not self.exists(digest):
            self.client.put_object(Bucket=self.bucket, Key=self._key(digest), Body=zlib.compress(raw, 6))
            self.writes += 1
        return digest

    def put_json(self, value: Any) -> str:
        return self.put_bytes(canonical_json(value))

    def get_bytes(self, digest: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(digest))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(digest) from None
            raise
        return zlib.decompress(body)

    def iter_digests(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):].replace("/", "")
                yield "sha256:" + rel
