"""Content-addressed evidence blobs: zlib-compressed canonical JSON named by its SHA-256."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.model import canonical_json
from agent.store.packs import PackStore

LOOSE_FROM = 1024 * 1024  # compressed blobs at least this large get a file of their own


class BlobStore(Protocol):
    def put_bytes(self, raw: bytes) -> str: ...
    def put_json(self, value: Any) -> str: ...
    def get_bytes(self, digest: str) -> bytes: ...
    def exists(self, digest: str) -> bool: ...
    def iter_digests(self) -> Iterator[str]: ...


_HEX64 = re.compile("[0-9a-f]{64}").fullmatch


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class FileBlobStore:
    """Blobs in a folder: small ones packed (`root/packs/`, see agent.store.packs), large ones loose.

    The digest is of the *uncompressed* bytes, so anyone can check a blob after decompressing it.
    A blob that exists is never rewritten: an unchanged resource costs nothing new.

    Loose blobs live under `root/ab/cdef…` (the hex digest split after two characters) — the only
    layout of stores written before packing, which are read as they are: no migration needed.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.packs = PackStore(self.root / "packs")
        self.writes = 0

    def _path(self, digest: str) -> Path:
        hexd = digest.removeprefix("sha256:")
        if not _HEX64(hexd):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.root / hexd[:2] / hexd[2:]

    def path_of(self, digest: str) -> Path:
        """Where a loose blob is (or would be)."""
        return self._path(digest)

    def put_bytes(self, raw: bytes) -> str:
        return self.put_digested(digest_of(raw), raw)

    def put_digested(self, digest: str, raw: bytes) -> str:
        """`put_bytes` when the caller has already hashed `raw` (`digest` must be `digest_of(raw)`)."""
        binary = bytes.fromhex(digest.removeprefix("sha256:"))
        if self.packs.contains(binary):
            return digest
        path = self._path(digest)
        if path.exists():
            return digest
        compressed = zlib.compress(raw, 6)
        if len(compressed) >= LOOSE_FROM:
            self._write_loose(path, compressed)
        else:
            self.packs.append(binary, compressed)
        self.writes += 1
        return digest

    def _write_loose(self, path: Path, compressed: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(compressed)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_json(self, value: Any) -> str:
        return self.put_bytes(canonical_json(value))

    def get_bytes(self, digest: str) -> bytes:
        hexd = digest.removeprefix("sha256:")
        if not _HEX64(hexd):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        packed = self.packs.read(bytes.fromhex(hexd))
        if packed is not None:
            return zlib.decompress(packed)
        return zlib.decompress((self.root / hexd[:2] / hexd[2:]).read_bytes())  # FileNotFoundError if nowhere

    def get_compressed(self, digest: str) -> bytes:
        """The blob as stored: its zlib stream (FileNotFoundError if it is nowhere)."""
        hexd = digest.removeprefix("sha256:")
        if not _HEX64(hexd):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        packed = self.packs.read(bytes.fromhex(hexd))
        if packed is not None:
            return packed
        return (self.root / hexd[:2] / hexd[2:]).read_bytes()

    def exists(self, digest: str) -> bool:
        path = self._path(digest)
        return self.packs.contains(bytes.fromhex(path.parent.name + path.name)) or path.exists()

    def iter_digests(self) -> Iterator[str]:
        if not self.root.exists():
            return
        yield from self.iter_loose()
        for binary in self.packs.iter_digests():
            yield "sha256:" + binary.hex()

    def flush(self) -> None:
        """Commit the pack index (it is also committed in batches, at exit, and recovered after a crash)."""
        self.packs.flush()

    def close(self) -> None:
        self.packs.close()

    def usage(self) -> BlobUsage:
        """How much evidence there is, compressed, and how much disk the folder takes for it."""
        count, compressed, disk = self.packs.usage()
        for digest in self.iter_loose():
            path = self._path(digest)
            st = path.stat()
            count, compressed, disk = count + 1, compressed + st.st_size, disk + st.st_blocks * 512
        return BlobUsage(count, compressed, disk)

    def iter_loose(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir() and len(sub.name) == 2:
                for f in sorted(sub.iterdir()):
                    if not f.name.startswith(".tmp-"):
                        yield "sha256:" + sub.name + f.name


@dataclass(frozen=True)
class BlobUsage:
    blobs: int
    compressed_bytes: int
    disk_bytes: int


def open_blob_store(location: str) -> BlobStore:
    """A folder path, or `s3://bucket/prefix` (see agent.store.s3blobs)."""
    if location.startswith("s3://"):
        from agent.store.s3blobs import S3BlobStore

        return S3BlobStore(location)
    return FileBlobStore(location)
