"""Schema migrations through Alembic, run programmatically on the store's own connection.

Every command opens the store and checks its schema revision; Alembic itself (and its script
parsing) is only imported when a migration has to run: the head revision is read from the
migration scripts' `revision` / `down_revision` lines, the current one from `alembic_version`.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def _alembic_config() -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def alembic_head_revision() -> str:
    """The head as Alembic computes it (imports Alembic and every migration script)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


@functools.cache
def head_revision() -> str:
    """The newest revision: the one no script names as its `down_revision`."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((MIGRATIONS / "versions").glob("*.py")):
        found = dict(_ASSIGNMENT.findall(script.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        revisions.add(found["revision"].strip("\"'"))
        parents.update(re.findall(r"[\"']([^\"']+)[\"']", found.get("down_revision", "")))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else alembic_head_revision()  # branches: let Alembic decide


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision (None for an empty database), as Alembic would report it."""
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if db and db != ":memory:" and not db.startswith("file:") and not Path(db).exists():
        return None  # a new SQLite store: do not create the file before the migration runs
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        versions = list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    if len(versions) > 1:  # branched histories: Alembic's own answer (and its error)
        return alembic_current_revision(engine)
    return versions[0] if versions else None


def alembic_current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


MIGRATION_LOCK_ID = 0x414E4E4D  # "ANNM": PostgreSQL advisory lock serialising schema migrations


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision. Returns (before, after).

    Two processes starting on an empty database at once (two CronJob pods, a daemon and an
    exporter) must not both create the tables: on PostgreSQL an advisory lock serialises them; on
    SQLite the loser's failure is forgiven when the winner already reached the head revision.
    """
    from alembic import command  # before the database file exists: a new store appears ready to use

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
