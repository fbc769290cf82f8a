"""Reading and damaging an evidence folder in tests, whatever its layout (packed or one file per blob)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from agent.store.blobs import FileBlobStore
from agent.store.packs import INDEX

ROOT = Path(__file__).resolve().parents[2]


def evidence_payloads(folder: Path) -> dict[str, bytes]:
    """Every stored blob, decompressed, by digest (for tests that look for leaked secrets)."""
    blobs = FileBlobStore(folder)
    try:
        return {digest: blobs.get_bytes(digest) for digest in blobs.iter_digests()}
    finally:
        blobs.close()


def blob_location(folder: Path, digest: str) -> tuple[Path, int, int] | None:
    """(pack file, offset, length) of a packed blob, or None if it is not packed."""
    with sqlite3.connect(folder / "packs" / INDEX) as conn:
        row = conn.execute("SELECT p.name, b.offset, b.length FROM blobs b JOIN packs p ON p.id = b.pack "
                           "WHERE b.digest = ?", (bytes.fromhex(digest.removeprefix("sha256:")),)).fetchone()
    return None if row is None else (folder / "packs" / f"{row[0]}.pack", int(row[1]), int(row[2]))


def replace_blob(folder: Path, digest: str, compressed: bytes) -> None:
    """Overwrite a packed blob's bytes in place (same length), as an attacker with file access could."""
    where = blob_location(folder, digest)
    assert where is not None, digest
    pack, offset, length = where
    assert len(compressed) == length
    with open(pack, "r+b") as fh:
        fh.seek(offset)
        fh.write(compressed)


def flip_byte(folder: Path, digest: str, at: int = -1) -> None:
    where = blob_location(folder, digest)
    assert where is not None, digest
    pack, offset, length = where
    data = bytearray(pack.read_bytes())
    data[offset + (at % length)] ^= 0x01
    pack.write_bytes(bytes(data))


def drop_blob(folder: Path, digest: str) -> None:
    """Make a blob disappear: its index entry (packed) or its file (loose)."""
    loose = folder / digest.removeprefix("sha256:")[:2] / digest.removeprefix("sha256:")[2:]
    if loose.exists():
        loose.unlink()
        return
    with sqlite3.connect(folder / "packs" / INDEX) as conn:
        conn.execute("DELETE FROM blobs WHERE digest = ?", (bytes.fromhex(digest.removeprefix("sha256:")),))


def everything_stored(folder: Path) -> bytes:
    """Every byte under `folder` a reader could recover: each file as it is (decompressed when it is one
    zlib stream), plus every blob of each evidence folder found under it (packed blobs decompressed)."""
    import contextlib
    import zlib

    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            raw = path.read_bytes()
            with contextlib.suppress(zlib.error):
                raw = zlib.decompress(raw)
            out.append(raw)
        elif path.is_dir() and (path / "packs").is_dir():
            out.extend(evidence_payloads(path).values())
    if (folder / "packs").is_dir():
        out.extend(evidence_payloads(folder).values())
    return b"\n".join(out)


WRITER = """
import os, sys
sys.path.insert(0, {root!r})
from agent.store.blobs import FileBlobStore
blobs = FileBlobStore({folder!r})
for i in range({start}, {stop}):
    blobs.put_json({{"n": i}})
if {die}:
    os._exit(0)  # like kill -9: no exit hooks, the index is never committed
"""


def blob_writer(folder: Path, start: int, stop: int, die: bool) -> subprocess.Popen[bytes]:
    """A process that packs {"n": i} for i in [start, stop); `die`: it exits like kill -9, index uncommitted."""
    code = WRITER.format(root=str(ROOT), folder=str(folder), start=start, stop=stop, die=die)
    return subprocess.Popen([sys.executable, "-c", code])
