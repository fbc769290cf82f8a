"""Content-addressed evidence blobs: zlib-compressed canonical JSON named by its SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from agent.model import canonical_json


class BlobStore(Protocol):
    def put_bytes(self, raw: bytes) -> str: ...
    def put_json(self, value: Any) -> str: ...
    def get_bytes(self, digest: str) -> bytes: ...
    def exists(self, digest: str) -> bool: ...
    def iter_digests(self) -> Iterator[str]: ...


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class FileBlobStore:
    """Blobs under `root/ab/cdef…` (the hex digest split after two characters).

    The digest is of the *uncompressed* bytes, so anyone can check a blob with sha256sum after
    decompressing. Writing is atomic (temp file + rename) and a blob that exists is never rewritten:
    an unchanged resource costs no new file.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.writes = 0

    def _path(self, digest: str) -> Path:
        hexd = digest.removeprefix("sha256:")
        if len(hexd) != 64 or any(c not in "0123456789abcdef" for c in hexd):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.root / hexd[:2] / hexd[2:]

    def path_of(self, digest: str) -> Path:
        return self._path(digest)

    def put_bytes(self, raw: bytes) -> str:
        digest = digest_of(raw)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(zlib.compress(raw, 6))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.writes += 1
        return digest

    def put_json(self, value: Any) -> str:
        return self.put_bytes(canonical_json(value))

    def get_bytes(self, digest: str) -> bytes:
        return zlib.decompress(self._path(digest).read_bytes())

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def iter_digests(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir() and len(sub.name) == 2:
                for f in sorted(sub.iterdir()):
                    if not f.name.startswith(".tmp-"):
                        yield "sha256:" + sub.name + f.name


def open_blob_store(location: str) -> BlobStore:
    """A folder path, or `s3://bucket/prefix` (see agent.store.s3blobs)."""
    if location.startswith("s3://"):
        from agent.store.s3blobs import S3BlobStore

        return S3BlobStore(location)
    return FileBlobStore(location)
