"""Schema migrations through Alembic, run programmatically on the store's own connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


MIGRATION_LOCK_ID = 0x414E4E4D  # "ANNM": PostgreSQL advisory lock serialising schema migrations


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision. Returns (before, after).

    Two processes starting on an empty database at once (two CronJob pods, a daemon and an
    exporter) must not both create the tables: on PostgreSQL an advisory lock serialises them; on
    SQLite the loser's failure is forgiven when the winner already reached the head revision.
    """
    with _PROCESS_LOCK, _file_lock(engine):
        before = current_revision(engine)
        head = head_revision()
        if before == head:
            return before, head
        cfg = _alembic_config()
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_ID})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError:
            if current_revision(engine) != head:
                raise
        return before, head


# Alembic's `context` is module-global: migrations in two threads of one process would collide.
_PROCESS_LOCK = threading.Lock()


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """On SQLite, a lock file beside the database serialises migrations across processes."""
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db or db == ":memory:":
        yield
        return
    from filelock import FileLock

    with FileLock(f"{db}.migrate.lock", timeout=120):
        yield
