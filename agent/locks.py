"""Cross-process locks per source, so two daemons (replicas, pods) never collect one source at once.

PostgreSQL: a session advisory lock held on a dedicated connection for the whole run; it is
released when the run ends, and by the server if the process dies. SQLite: a file lock next to
the database file (the database and its lock files must be on one host, which SQLite needs anyway).
Acquisition never waits: a source locked elsewhere is skipped, not queued.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from agent.store.store import EvidenceStore

log = logging.getLogger("annexa.daemon")
LOCK_CLASS = 0x414E5843  # "ANXC": the first key of the two-key advisory lock space, for source locks
_memory_locks: dict[str, threading.Lock] = {}
_memory_guard = threading.Lock()


def _int32(value: int) -> int:
    return value - (1 << 32) if value >= (1 << 31) else value


def source_lock_key(source: str) -> tuple[int, int]:
    """Stable (class, object) key pair for a source's advisory lock (same on every host and version)."""
    digest = int.from_bytes(hashlib.sha256(source.encode()).digest()[:4], "big")
    return _int32(LOCK_CLASS), _int32(digest)


class SourceLocks:
    """`with locks.hold(name) as acquired:` — acquired is False when another process holds the source."""

    def __init__(self, store: EvidenceStore):
        self.store = store

    @contextmanager
    def hold(self, source: str) -> Iterator[bool]:
        dialect = self.store.dialect
        if dialect == "postgresql":
            with self._advisory(source) as got:
                yield got
        elif dialect == "sqlite":
            with self._file(source) as got:
                yield got
        else:  # pragma: no cover - the store only opens SQLite and PostgreSQL
            raise RuntimeError(f"no source lock for database {dialect!r}")

    @contextmanager
    def _advisory(self, source: str) -> Iterator[bool]:
        k1, k2 = source_lock_key(source)
        # A connection of its own, outside any transaction: the lock lives as long as the session.
        conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": k1, "b": k2}).scalar())
            try:
                yield got
            finally:
                if got:
                    try:
                        conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": k1, "b": k2})
                    except Exception as exc:  # the session is gone, and the lock with it
                        log.warning("could not release the lock of source %s: %s", source, exc)
        finally:
            conn.close()

    @contextmanager
    def _file(self, source: str) -> Iterator[bool]:
        database = make_url(self.store.url).database
        if not database or database == ":memory:":
            with _memory_guard:
                lock = _memory_locks.setdefault(source, threading.Lock())
            got = lock.acquire(blocking=False)
            try:
                yield got
            finally:
                if got:
                    lock.release()
            return
        from filelock import FileLock, Timeout

        flock = FileLock(f"{database}.{source}.lock", thread_local=False)
        try:
            flock.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            flock.release()
