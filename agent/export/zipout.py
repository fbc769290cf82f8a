"""Writing the bundle zip: every entry is hashed while it is written, nothing is held whole in memory.

The zip is built in a hidden temporary file next to the destination (`.<name>.<random>.partial`) and
moved into place only when complete, so a failed or empty export never leaves a zip behind. The
writer holds a lock on that file; the next export removes any partial file nobody holds (left by a
process that was killed), so none accumulate.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import pickle
import re
import shutil
import sqlite3
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO

CHUNK = 1 << 16
PARTIAL = ".partial"
GENERATED_LEVEL = 3  # deflate level of the CSV, HTML and JSON the export renders (see BundleWriter)
STORE_LEVEL = 6  # the evidence store's level (zlib's default): copied blobs keep it


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    sha256: str  # hex
    size: int


class _HashingSink(io.RawIOBase):
    """A write-only stream that forwards to a zip entry and hashes what passes through."""

    def __init__(self, target: BinaryIO):
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self.target.write(view)
        self.hash.update(view)
        self.size += len(view)
        return len(view)


class _Spill:
    """The entry lists of a large zip, kept in a temporary SQLite file instead of memory.

    A bundle of a year's history holds hundreds of thousands of entries; their zip directory records,
    names and hashes would otherwise grow the writer's memory with the number of entries.
    """

    BATCH = 2000

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="annexa-export-", suffix=".entries")
        os.close(fd)
        try:
            self.db = sqlite3.connect(path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=OFF")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("CREATE TABLE names (name TEXT PRIMARY KEY) WITHOUT ROWID")
            self.db.execute("CREATE TABLE infos (n INTEGER PRIMARY KEY, info BLOB)")
            self.db.execute("CREATE TABLE files (n INTEGER PRIMARY KEY, path TEXT, sha256 TEXT, size INTEGER)")
            self.db.execute("BEGIN")  # one transaction, never committed: the file is scratch space
        finally:
            os.unlink(path)  # open, but gone from the folder: nothing is left behind by a killed export

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()


class _ZipDirectory:
    """Stands in for ZipFile.filelist: directory records are pickled to the spill once their entry is closed.

    zipfile appends an entry's ZipInfo when the entry is opened and fills in its sizes and CRC when
    it is closed; entries are written one at a time, so every record but the newest is final.
    Iterating (when the zip is closed) yields them back in order, so the central directory is the
    same bytes as with the in-memory list.
    """

    def __init__(self, spill: _Spill):
        self.spill = spill
        self.count = 0
        self.pending: list[zipfile.ZipInfo] = []

    def append(self, info: zipfile.ZipInfo) -> None:
        if len(self.pending) >= self.spill.BATCH:
            self._flush(self.pending)
            self.pending = []
        self.pending.append(info)
        self.count += 1

    def _flush(self, infos: list[zipfile.ZipInfo]) -> None:
        start = self.count - len(self.pending)
        self.spill.db.executemany("INSERT INTO infos VALUES (?, ?)",
                                  ((start + i, pickle.dumps(info, pickle.HIGHEST_PROTOCOL))
                                   for i, info in enumerate(infos)))

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[zipfile.ZipInfo]:
        if self.pending:
            self._flush(self.pending)
            self.pending = []
        for (raw,) in self.spill.db.execute("SELECT info FROM infos ORDER BY n"):
            yield pickle.loads(raw)


class _NoIndex(dict):  # type: ignore[type-arg]
    """Stands in for ZipFile.NameToInfo while writing: BundleWriter itself refuses duplicate names."""

    def __setitem__(self, key: object, value: object) -> None:
        return None


class FileList:
    """The entries written so far (FileEntry), in order; held in the spill, read back by iterating."""

    def __init__(self, spill: _Spill):
        self.spill = spill
        self.count = 0
        self.pending: list[FileEntry] = []
        self.last: FileEntry | None = None

    def append(self, entry: FileEntry) -> None:
        self.pending.append(entry)
        self.last = entry
        self.count += 1
        if len(self.pending) >= self.spill.BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        start = self.count - len(self.pending)
        self.spill.db.executemany("INSERT INTO files VALUES (?, ?, ?, ?)",
                                  ((start + i, e.path, e.sha256, e.size) for i, e in enumerate(self.pending)))
        self.pending = []

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, n: int) -> FileEntry:
        if n == -1 and self.last is not None:
            return self.last
        raise IndexError("only the newest entry is kept in memory; iterate for the others")

    def __iter__(self) -> Iterator[FileEntry]:
        self._flush()
        limit = self.count  # entries written while iterating (the manifest itself) are not part of it
        for path, digest, size in self.spill.db.execute("SELECT path, sha256, size FROM files WHERE n < ? ORDER BY n",
                                                        (limit,)):
            yield FileEntry(path, digest, size)


class BundleWriter:
    """A zip open for writing whose entries are recorded with their SHA-256 and size.

    The zip's directory and the entry list are spilled to an unlinked temporary SQLite file, so
    memory does not grow with the number of entries.

    Entries the export renders are deflated at level 3 (zlib's fast strategy): about twice as fast as
    the default level 6 on a year's CSV and OSCAL JSON (hundreds of MB), for output about 5-15 % larger.
    The level changes only the compressed bytes; every hash covers the uncompressed content.
    """

    def __init__(self, out: Path, when: datetime):
        self.out = Path(out)
        self.date_time = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
        remove_stale_partials(self.out)
        fd, tmp = tempfile.mkstemp(dir=self.out.parent, prefix=f".{self.out.name}.", suffix=PARTIAL)
        self.tmp = Path(tmp)
        self._fh = os.fdopen(fd, "w+b")
        _lock(self._fh)  # held until the zip is renamed or removed: marks the file as in use
        self.zip = zipfile.ZipFile(self._fh, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self._spill = _Spill()
        self.zip.filelist = _ZipDirectory(self._spill)  # type: ignore[assignment]
        self.zip.NameToInfo = _NoIndex()
        self.files = FileList(self._spill)

    def _info(self, name: str, level: int = GENERATED_LEVEL) -> zipfile.ZipInfo:
        try:
            self._spill.db.execute("INSERT INTO names VALUES (?)", (name,))
        except sqlite3.IntegrityError:
            raise ValueError(f"duplicate bundle entry {name!r}") from None
        info = zipfile.ZipInfo(name, self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        info._compresslevel = level  # type: ignore[attr-defined]  # zipfile's per-entry level (3.11+)
        return info

    def has(self, name: str) -> bool:
        return self._spill.db.execute("SELECT 1 FROM names WHERE name = ?", (name,)).fetchone() is not None

    @contextlib.contextmanager
    def open_binary(self, name: str, level: int = GENERATED_LEVEL) -> Iterator[BinaryIO]:
        with self.zip.open(self._info(name, level), "w", force_zip64=True) as raw:
            sink = _HashingSink(raw)
            buffered = io.BufferedWriter(sink, CHUNK)
            yield buffered  # type: ignore[misc]
            buffered.flush()
            buffered.close()  # closes only the sink, never the zip entry's stream
            self.files.append(FileEntry(name, sink.hash.hexdigest(), sink.size))

    @contextlib.contextmanager
    def open_text(self, name: str) -> Iterator[IO[str]]:
        """A UTF-8 text stream into the entry (newline="" so the csv module controls line ends)."""
        with self.open_binary(name) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
            yield text
            text.flush()
            text.detach()

    def write_bytes(self, name: str, data: bytes, level: int = GENERATED_LEVEL) -> FileEntry:
        with self.open_binary(name, level) as fh:
            fh.write(data)
        return self.files[-1]

    def write_deflated(self, name: str, raw: bytes, zlib_stream: bytes) -> FileEntry:
        """Write `raw` as an entry from its zlib-compressed form without compressing it again.

        The evidence store keeps blobs as `zlib.compress(raw, 6)`: the same deflate stream the zip's
        own compressor would produce (level 6, 32 KiB window, default memory level), inside a 2-byte
        header and a 4-byte checksum. When the header says so, the stream is copied as the entry's
        data and the zip is byte for byte what `write_bytes(name, raw, STORE_LEVEL)` writes; otherwise it is.
        """
        if not _plain_level6(zlib_stream):
            return self.write_bytes(name, raw, STORE_LEVEL)
        info = self._info(name, STORE_LEVEL)
        zf = self.zip
        if zf._writing:  # type: ignore[attr-defined]
            raise ValueError("another entry is being written")
        deflated = memoryview(zlib_stream)[2:-4]
        info.flag_bits = 0
        info.file_size = len(raw)
        info.compress_size = len(deflated)
        info.CRC = zlib.crc32(raw)
        fp = zf.fp
        assert fp is not None
        fp.seek(zf.start_dir)
        info.header_offset = fp.tell()
        zf._writecheck(info)  # type: ignore[attr-defined]
        zf._didModify = True  # type: ignore[attr-defined]
        fp.write(info.FileHeader(True))  # zip64 extra, as every entry of the bundle (force_zip64)
        fp.write(deflated)
        zf.start_dir = fp.tell()
        zf.filelist.append(info)
        entry = FileEntry(name, hashlib.sha256(raw).hexdigest(), len(raw))
        self.files.append(entry)
        return entry

    def write_text(self, name: str, text: str) -> FileEntry:
        return self.write_bytes(name, text.encode("utf-8"))

    def copy_file(self, name: str, source: IO[bytes]) -> FileEntry:
        with self.open_binary(name) as fh:
            shutil.copyfileobj(source, fh, CHUNK)
        return self.files[-1]

    def finish(self, comment: bytes) -> None:
        """Close the zip and move it to its destination (atomic rename)."""
        self.zip.comment = comment
        self.zip.close()
        self._fh.flush()
        os.replace(self.tmp, self.out)
        self._fh.close()
        self._spill.close()

    def abort(self) -> None:
        """Remove the partial file (an exception, Ctrl-C or SIGTERM during the export)."""
        self.tmp.unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            self.zip.close()
        with contextlib.suppress(Exception):
            self._fh.close()
        self._spill.close()


def _plain_level6(stream: bytes) -> bool:
    """A zlib stream made with level 6 (FLEVEL 2), a 32 KiB window and no preset dictionary."""
    return len(stream) >= 6 and stream[0] == 0x78 and stream[1] >> 6 == 2 and not stream[1] & 0x20 \
        and (stream[0] << 8 | stream[1]) % 31 == 0


def _lock(fh: IO[bytes]) -> bool:
    """Take an exclusive, non-blocking lock on an open file; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no lock, and stale files are left alone
        return False
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def remove_stale_partials(out: Path) -> list[Path]:
    """Remove partial files of `out` left by an export that was killed (SIGKILL, power loss).

    A writing export holds a lock on its partial file; one that nobody holds is stale. A concurrent
    export of the same name keeps its file.
    """
    removed = []
    for path in Path(out).parent.glob(f".{glob.escape(Path(out).name)}.*{PARTIAL}"):
        try:
            with path.open("rb") as fh:
                if _lock(fh):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        except OSError:
            continue
    return removed


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, taken: set[str], limit: int = 120) -> str:
    """A portable file name for an uploaded document: no paths, no odd characters, unique within `taken`."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._") or "file"
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = ext[:16]
    stem = stem[: max(1, limit - len(ext) - 6)] or "file"
    candidate = f"{stem}.{ext}" if ext else stem
    n = 2
    while candidate.lower() in taken:
        candidate = f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}"
        n += 1
    taken.add(candidate.lower())
    return candidate
