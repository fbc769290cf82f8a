"""Pack files: many small compressed evidence blobs appended to a few large files, plus an index.

One file per blob costs a file-system block (and an inode) for a few hundred bytes of data. Here a
writer appends each new blob to its own pack file (`packs/<name>.pack`: an 8-byte header, then
records of a 4-byte big-endian length followed by the zlib-compressed bytes) and records where it
went in `packs/index.sqlite` (digest -> pack, offset, length). Packs are append-only and never
shared between writers, so several processes (shards) can write to one folder at once.

The pack files are the truth; the index is a cache of them. Index rows are committed in batches,
so a process that dies leaves records that are in a pack but not yet indexed. Whoever opens the
folder next scans the unindexed tail of every pack (decompressing and hashing each record) and
indexes what it finds, stopping at a torn last record. Verification reads each blob through the
index and compares its SHA-256 with its name, so a flipped byte in a pack is detected either as
a decompression error or as a hash mismatch.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import sqlite3
import struct
import threading
import time
import weakref
import zlib
from collections.abc import Iterator
from pathlib import Path

from agent.store.readonly import folder_is_read_only, read_only_uri

MAGIC = b"ANXPACK1"
LENGTH = struct.Struct(">I")
MAX_PACK_BYTES = 256 * 1024 * 1024
COMMIT_EVERY = 2000  # index rows buffered before a commit
INDEX = "index.sqlite"
LOCK_WAIT = 60  # seconds a writer waits for the index's write lock

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS packs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
    "indexed_to INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS blobs (digest BLOB PRIMARY KEY, pack INTEGER NOT NULL, "
    "offset INTEGER NOT NULL, length INTEGER NOT NULL) WITHOUT ROWID",
)

Location = tuple[int, int, int]  # pack id, offset of the compressed bytes, their length


class PackStore:
    """Packed blobs under one folder. Digests are the 32 raw bytes of the SHA-256."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._writable = True
        self._recovered = False
        self._pending: dict[bytes, Location] = {}  # appended here, not yet committed to the index
        self._names: dict[int, str] = {}
        self._readers: dict[int, int] = {}  # pack id -> read-only fd
        self._pack: tuple[int, int] | None = None  # (pack id, fd) this writer appends to
        self._size = 0
        # what the exit hook needs, without keeping `self` alive
        self._shared: dict[str, object] = {"pending": self._pending}
        weakref.finalize(self, _close_all, self._shared)

    # -- index -----------------------------------------------------------------------------
    def _db(self, *, create: bool) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        path = self.folder / INDEX
        if not path.exists():
            if not create:
                if not self._recovered and self.folder.is_dir():
                    self._recover_readonly()
                return None
            self.folder.mkdir(parents=True, exist_ok=True)
        opened = _open_index(path)
        if opened is None:  # read-only, and the index's first writer has not created its tables yet
            if not self._recovered:
                self._recover_readonly()
            return None
        conn, self._writable = opened
        self._conn = conn
        self._shared["conn"] = conn
        for digest in [d for d, where in self._pending.items() if where[0] < 0]:
            del self._pending[digest]  # scanned without an index: the index now takes over
        self._recover()
        return conn

    def _recover(self) -> None:
        """Index records that are in a pack but not in the index (a writer died before committing)."""
        self._recovered = True
        assert self._conn is not None
        known = {name: (pid, upto) for pid, name, upto in self._conn.execute("SELECT id, name, indexed_to FROM packs")}
        found: list[tuple[str, int, list[tuple[bytes, int, int]]]] = []
        for path in sorted(self.folder.glob("*.pack")):
            pid, upto = known.get(path.stem, (None, len(MAGIC)))
            if path.stat().st_size > upto:
                records, end = _scan(path, upto)
                found.append((path.stem, end, records))
        for name, end, records in found:
            pid = known.get(name, (None, 0))[0]
            if self._writable:
                self._begin()
                pid = self._pack_id(name, end)
                self._conn.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?, ?)",
                                       [(d, pid, off, ln) for d, off, ln in records])
                self._conn.execute("UPDATE packs SET indexed_to = max(indexed_to, ?) WHERE id = ?", (end, pid))
                self._conn.execute("COMMIT")
            else:
                pid = pid if pid is not None else -(len(self._names) + 1)
                self._names[pid] = name
                for d, off, ln in records:
                    self._pending.setdefault(d, (pid, off, ln))

    def _recover_readonly(self) -> None:
        """Packs without an index at all (the first writer died before its first commit): scan in memory."""
        self._recovered = True
        for n, path in enumerate(sorted(self.folder.glob("*.pack")), start=1):
            self._names[-n] = path.stem
            records, _ = _scan(path, len(MAGIC))
            for d, off, ln in records:
                self._pending.setdefault(d, (-n, off, ln))

    def _begin(self) -> None:
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")

    def _pack_id(self, name: str, indexed_to: int) -> int:
        assert self._conn is not None
        self._conn.execute("INSERT OR IGNORE INTO packs (name, indexed_to) VALUES (?, ?)", (name, indexed_to))
        return int(self._conn.execute("SELECT id FROM packs WHERE name = ?", (name,)).fetchone()[0])

    def _lookup(self, digest: bytes) -> Location | None:
        hit = self._pending.get(digest)
        if hit is not None:
            return hit
        conn = self._db(create=False)
        if conn is None:
            return self._pending.get(digest)
        row = conn.execute("SELECT pack, offset, length FROM blobs WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    # -- public ----------------------------------------------------------------------------
    def contains(self, digest: bytes) -> bool:
        with self._lock:
            return self._lookup(digest) is not None

    def read(self, digest: bytes) -> bytes | None:
        """The compressed bytes of a blob, or None if it is not packed here."""
        with self._lock:
            where = self._lookup(digest)
            if where is None:
                return None
            pid, offset, length = where
            fd = self._reader(pid)
            data = os.pread(fd, length, offset)
        if len(data) != length:
            raise OSError(f"pack {self._names.get(pid)} is shorter than its index says")
        return data

    def append(self, digest: bytes, compressed: bytes) -> None:
        with self._lock:
            self._db(create=True)
            if not self._writable:
                raise OSError(errno.EROFS, "the evidence folder is read-only", str(self.folder))
            pid, fd = self._writer(len(compressed))
            offset = self._size + LENGTH.size
            os.write(fd, LENGTH.pack(len(compressed)) + compressed)
            self._size = offset + len(compressed)
            self._shared["size"] = self._size
            self._pending[digest] = (pid, offset, len(compressed))
            if len(self._pending) >= COMMIT_EVERY:
                self.flush()

    def flush(self) -> None:
        """Commit buffered index rows (the pack bytes are already written)."""
        with self._lock:
            if not self._pending or self._conn is None or not self._writable:
                return
            rows = [(d, pid, off, ln) for d, (pid, off, ln) in self._pending.items() if pid > 0]
            self._begin()
            self._conn.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?, ?)", rows)
            if self._pack is not None:
                self._conn.execute("UPDATE packs SET indexed_to = max(indexed_to, ?) WHERE id = ?",
                                   (self._size, self._pack[0]))
            self._conn.execute("COMMIT")
            self._pending.clear()

    def iter_digests(self) -> Iterator[bytes]:
        with self._lock:
            self.flush()
            conn = self._db(create=False)
            pending = sorted(self._pending)
        yield from pending
        seen = set(pending)
        if conn is not None:
            reader = self._conn_for_iteration()
            if reader is not None:
                try:
                    for (digest,) in reader.execute("SELECT digest FROM blobs ORDER BY digest"):
                        if bytes(digest) not in seen:
                            yield bytes(digest)
                finally:
                    reader.close()

    def usage(self) -> tuple[int, int, int]:
        """(packed blobs, their compressed bytes, bytes the folder takes on disk)."""
        with self._lock:
            self.flush()
            conn = self._db(create=False)
            count, size = 0, 0
            if conn is not None:
                count, size = conn.execute("SELECT count(*), coalesce(sum(length), 0) FROM blobs").fetchone()
                if self._writable:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        disk = sum(p.stat().st_blocks * 512 for p in self.folder.iterdir()) if self.folder.is_dir() else 0
        return int(count), int(size), disk

    def close(self) -> None:
        with self._lock:
            self.flush()
            _close_all(self._shared)
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()
            self._conn, self._pack, self._recovered = None, None, False

    # -- files -----------------------------------------------------------------------------
    def _conn_for_iteration(self) -> sqlite3.Connection | None:
        """A separate connection, so a long iteration does not hold the writer's lock."""
        path = self.folder / INDEX
        if not path.exists():
            return None
        return sqlite3.connect(read_only_uri(path, wal_optional=True), uri=True, check_same_thread=False)

    def _reader(self, pid: int) -> int:
        fd = self._readers.get(pid)
        if fd is None:
            name = self._names.get(pid)
            if name is None and self._conn is not None:
                row = self._conn.execute("SELECT name FROM packs WHERE id = ?", (pid,)).fetchone()
                name = row[0] if row else None
            if name is None:
                raise FileNotFoundError(f"pack {pid} is not in the index")
            self._names[pid] = name
            fd = os.open(self.folder / f"{name}.pack", os.O_RDONLY)
            self._readers[pid] = fd
        return fd

    def _writer(self, incoming: int) -> tuple[int, int]:
        if self._pack is not None and self._size + incoming <= MAX_PACK_BYTES:
            return self._pack
        if self._pack is not None:
            self.flush()
            os.close(self._pack[1])
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(self.folder / f"{name}.pack", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(fd, MAGIC)
        assert self._conn is not None
        self._begin()
        pid = self._pack_id(name, len(MAGIC))
        self._conn.execute("COMMIT")
        self._names[pid] = name
        self._pack, self._size = (pid, fd), len(MAGIC)
        self._shared.update(fd=fd, pack=pid, size=self._size)
        return self._pack


def _open_index(path: Path) -> tuple[sqlite3.Connection, bool] | None:
    """The index opened for writing, its tables created if needed: (connection, writable).

    Several shards may open a new evidence folder at the same moment. The tables are created in
    one IMMEDIATE transaction, which waits for the write lock, and a "locked"/"busy" answer that
    SQLite gives without waiting (a snapshot that went stale while another opener created them)
    is retried: only a store that really cannot be written falls back to reading. Read-only and
    without tables yet, there is no index to read: None.
    """
    if folder_is_read_only(path):
        return _open_read_only(path)
    conn = sqlite3.connect(path, timeout=LOCK_WAIT, check_same_thread=False, isolation_level=None)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("COMMIT")
            return conn, True
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            text = str(exc)
            busy = "locked" in text or "busy" in text
            if busy and time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            conn.close()
            if "full" in text:  # "database or disk is full": not read-only, the run must stop on it
                raise
            if busy:
                raise sqlite3.OperationalError(f"{path}: {text} for {LOCK_WAIT} s") from exc
            break
    return _open_read_only(path)


def _open_read_only(path: Path) -> tuple[sqlite3.Connection, bool] | None:
    """The index opened for reading, or None when it has no tables yet (the packs are then scanned)."""
    conn = sqlite3.connect(read_only_uri(path, wal_optional=True), uri=True, check_same_thread=False)
    if conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'packs'").fetchone()[0] == 0:
        conn.close()
        return None
    return conn, False


def _scan(path: Path, start: int) -> tuple[list[tuple[bytes, int, int]], int]:
    """Records from `start` to the end of a pack: [(digest, offset, length)], and where the last whole one ends."""
    records: list[tuple[bytes, int, int]] = []
    with open(path, "rb") as fh:
        if fh.read(len(MAGIC)) != MAGIC:
            return records, start
        fh.seek(start)
        pos = start
        while True:
            head = fh.read(LENGTH.size)
            if len(head) < LENGTH.size:
                break
            (length,) = LENGTH.unpack(head)
            data = fh.read(length)
            if len(data) < length:
                break  # torn last record
            try:
                raw = zlib.decompress(data)
            except zlib.error:
                break
            records.append((hashlib.sha256(raw).digest(), pos + LENGTH.size, length))
            pos += LENGTH.size + length
    return records, pos


def _close_all(shared: dict[str, object]) -> None:
    """At exit: commit what is buffered, close the writer's fd and the index connection.

    If this does not run (kill -9), the next opener indexes the records from the pack itself.
    """
    conn = shared.get("conn")
    pending = shared.get("pending")
    if isinstance(conn, sqlite3.Connection) and isinstance(pending, dict) and pending:
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?, ?)",
                             [(d, w[0], w[1], w[2]) for d, w in pending.items() if w[0] > 0])
            if "pack" in shared:
                conn.execute("UPDATE packs SET indexed_to = max(indexed_to, ?) WHERE id = ?",
                             (shared["size"], shared["pack"]))
            conn.execute("COMMIT")
            pending.clear()
        except sqlite3.Error:
            pass
    fd = shared.pop("fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
    conn = shared.pop("conn", None)
    if isinstance(conn, sqlite3.Connection):
        conn.close()
