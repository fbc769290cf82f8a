"""Cross-process locks: per source, so two daemons (replicas, pods) never collect one source at once;
per run, so a run whose process died is known to be an orphan (RunLiveness below).

PostgreSQL: a session advisory lock held on a dedicated connection for the whole run; it is
released when the run ends, and by the server if the process dies. SQLite: a file lock next to
the database file (the database and its lock files must be on one host, which SQLite needs anyway).
Acquisition never waits: a source locked elsewhere is skipped, not queued.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

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


RUN_CLASS = 0x414E5852  # "ANXR": the first key of the two-key advisory lock space, for run liveness


class RunLiveness:
    """Whether the process that began a `running` run is still there: a lock per run, held while it runs.

    The run's process takes the lock before the `running` row commits (`EvidenceStore.begin_run`) and
    releases it only after the run is sealed. Another process that can take the lock of a `running`
    run therefore knows its holder is gone (kill -9, crash, OOM kill, lost node) and may seal it.
    PostgreSQL: a session advisory lock on a dedicated connection, freed by the server when the
    holder's session ends, so it works across hosts and pods. SQLite: a file lock next to the
    database, freed by the kernel when the holder dies.
    """

    def __init__(self, store: EvidenceStore):
        self.store = store
        self._held: dict[int, Any] = {}

    # -- the holder's side ---------------------------------------------------------------------
    def hold(self, run_id: int) -> None:
        """Take the run's lock (a new run id: nobody else can hold it). Raises if that fails."""
        release = self._try(run_id)
        if release is None:
            raise RuntimeError(f"the liveness lock of run {run_id} is held by another process")
        self._held[run_id] = release

    def release(self, run_id: int) -> None:
        release = self._held.pop(run_id, None)
        if release is not None:
            release()

    # -- everyone else's side ------------------------------------------------------------------
    @contextmanager
    def claim(self, run_id: int) -> Iterator[bool]:
        """`with liveness.claim(run_id) as dead:` dead is True when the run's process is gone; the lock
        is then held by this process until the block ends, so no other process seals the run at once."""
        if run_id in self._held:
            yield False
            return
        release = self._try(run_id)
        try:
            yield release is not None
        finally:
            if release is not None:
                release()

    # -- mechanisms ----------------------------------------------------------------------------
    def _try(self, run_id: int) -> Callable[[], None] | None:
        """Take the lock without waiting: a function that releases it, or None if it is held."""
        dialect = self.store.dialect
        if dialect == "postgresql":
            return self._try_advisory(run_id)
        if dialect == "sqlite":
            return self._try_file(run_id)
        raise RuntimeError(f"no run liveness lock for database {dialect!r}")  # pragma: no cover

    def _try_advisory(self, run_id: int) -> Callable[[], None] | None:
        key = {"a": _int32(RUN_CLASS), "b": _int32(run_id % (1 << 32))}
        conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), key).scalar())
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return None

        def release() -> None:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), key)
            except Exception as exc:  # the session is gone, and the lock with it
                log.warning("could not release the liveness lock of run %s: %s", run_id, exc)
            finally:
                conn.close()

        return release

    def _try_file(self, run_id: int) -> Callable[[], None] | None:
        database = make_url(self.store.url).database
        if not database or database == ":memory:":  # one process only: a lock in memory
            with _memory_guard:
                lock = _memory_locks.setdefault(f"run:{id(self.store.engine)}:{run_id}", threading.Lock())
            return lock.release if lock.acquire(blocking=False) else None
        from filelock import FileLock, Timeout

        path = f"{database}.run-{run_id}.lock"
        flock = FileLock(path, thread_local=False)
        try:
            flock.acquire(timeout=0)
        except Timeout:
            return None

        def release() -> None:
            flock.release()
            # The run is sealed (or was found sealed) by now: whoever opens this file later and locks
            # it re-reads the run's state first, so removing the file here is safe.
            with suppress(OSError):
                os.unlink(path)

        return release
