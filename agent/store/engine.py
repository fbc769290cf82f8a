"""Create SQLAlchemy engines for the store URL (SQLite with WAL, or PostgreSQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from agent.errors import StoreError
from agent.store.readonly import UnreadableInPlace, folder_is_read_only, read_only_uri


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"store.url: not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and folder_is_read_only(Path(db)):
            return _read_only_engine(parsed)
        if db and db != ":memory:":
            try:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"store.url: cannot create the folder for {db!r}: {exc.strerror}") from None
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            # connect_timeout: an unreachable server must not hang a scrape, /readyz or a CronJob forever
            return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        except ModuleNotFoundError:
            raise StoreError("PostgreSQL store needs the driver: pip install 'annexa[postgres]'") from None
    raise StoreError(f"store.url: unsupported database {parsed.get_backend_name()!r} (use sqlite or postgresql)")


def _read_only_engine(parsed: URL) -> Engine:
    """A SQLite store in a folder that cannot be written (a snapshot on read-only media): read as it is.

    Every reading command works; anything that writes fails on SQLite's "readonly database".
    """
    try:
        uri = read_only_uri(Path(str(parsed.database)))
    except UnreadableInPlace as exc:
        raise StoreError(f"store.url: {exc}") from None
    return create_engine(parsed, creator=lambda: sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False))


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid url>"
