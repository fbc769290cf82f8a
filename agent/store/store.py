"""EvidenceStore: opening the store, runs and their sealing into the hash chain, cursors, queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, func, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from agent import __version__
from agent.errors import StoreError
from agent.model import content_hash
from agent.store import migrate
from agent.store.blobs import BlobStore, open_blob_store
from agent.store.engine import make_engine, redact_url
from agent.store.recorder import SourceRecorder
from agent.store.schema import cursors, findings, run_sources, runs
from agent.store.timeutil import as_utc, ts_text, utcnow

CHAIN_LOCK_ID = 0x414E4E58  # "ANNX": PostgreSQL advisory lock serialising the sealing of runs


class EvidenceStore:
    """The store: SQL tables (SQLite or PostgreSQL) plus a blob store for evidence snapshots."""

    def __init__(self, engine: Engine, blobs: BlobStore, url: str):
        self.engine = engine
        self.blobs = blobs
        self.url = url

    @classmethod
    def open(cls, url: str, evidence: str, *, migrate_schema: str = "auto") -> EvidenceStore:
        """Open the store. `auto` creates the schema in an empty database but never upgrades an old one."""
        store = cls(make_engine(url), open_blob_store(evidence), url)
        try:
            current = migrate.current_revision(store.engine)
        except OperationalError as exc:
            raise StoreError(f"cannot open store {redact_url(url)}: {exc.orig}") from None
        head = migrate.head_revision()
        if migrate_schema == "always" or (migrate_schema == "auto" and current is None):
            migrate.upgrade(store.engine)
        elif current != head and migrate_schema != "never":
            raise StoreError(f"the store schema is at revision {current}, this Annexa needs {head}: "
                             "run `annexa db upgrade`")
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- runs ------------------------------------------------------------------------------
    def begin_run(self, sources: list[str], shard: str | None = None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(runs).values(
                started_at=utcnow(), status="running", sources=sources, shard=shard, tool_version=__version__))
            return int(result.inserted_primary_key[0])

    def source_recorder(self, run_id: int, name: str, source_type: str) -> SourceRecorder:
        return SourceRecorder(self, run_id, name, source_type)

    def seal_run(self, run_id: int, status: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write the run's manifest and link it to the previous sealed run by hash.

        ``extra``: further sealed keys from the runner (``policy_inputs``, see agent.policy_inputs).
        """
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_ID})
            else:  # take SQLite's write lock before reading the chain head
                conn.execute(update(runs).where(runs.c.id == run_id).values(status=status))
            head = conn.execute(select(runs.c.seq, runs.c.hash).where(runs.c.seq.is_not(None))
                                .order_by(runs.c.seq.desc()).limit(1)).first()
            run = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
            srcs = conn.execute(select(run_sources).where(run_sources.c.run_id == run_id)
                                .order_by(run_sources.c.source)).mappings().all()
            finished = utcnow()
            manifest = build_manifest(run, srcs, status=status, finished=finished,
                                      seq=(head.seq + 1) if head else 1, prev_hash=head.hash if head else None)
            manifest.update({k: v for k, v in (extra or {}).items() if k not in manifest})
            digest = content_hash(manifest)
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                seq=manifest["seq"], status=status, finished_at=finished, manifest=manifest,
                prev_hash=manifest["prev_hash"], hash=digest))
        return {**manifest, "hash": digest}

    # -- cursors ---------------------------------------------------------------------------
    def cursor_value(self, source: str, key: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(cursors.c.value).where(and_(cursors.c.source == source,
                                                                  cursors.c.key == key))).first()
        return None if row is None else row.value

    def save_cursors(self, conn: Any, source: str, values: dict[str, Any]) -> None:
        now = utcnow()
        for key, value in values.items():
            updated = conn.execute(update(cursors).where(and_(cursors.c.source == source, cursors.c.key == key))
                                   .values(value=value, updated_at=now))
            if updated.rowcount == 0:
                conn.execute(insert(cursors).values(source=source, key=key, value=value, updated_at=now))

    # -- queries ---------------------------------------------------------------------------
    def current_findings(self, *, rules: list[str] | None = None, status: str | None = None,
                         source: str | None = None) -> Iterator[dict[str, Any]]:
        """Open finding intervals (the current state), streamed."""
        query = select(findings).where(findings.c.open.is_(True))
        if rules is not None:
            query = query.where(findings.c.rule_id.in_(rules))
        if status:
            query = query.where(findings.c.status == status)
        if source:
            query = query.where(findings.c.source == source)
        query = query.order_by(findings.c.rule_id, findings.c.resource_id)
        with self.engine.connect() as conn:
            for row in conn.execute(query.execution_options(yield_per=1000)).mappings():  # server-side cursor
                yield dict(row)

    def counts_by_rule(self) -> dict[str, dict[str, int]]:
        """{rule: {status: n}} over current findings, computed in SQL."""
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for rule_id, st, n in conn.execute(
                select(findings.c.rule_id, findings.c.status, func.count())
                .where(findings.c.open.is_(True)).group_by(findings.c.rule_id, findings.c.status)
            ):
                out.setdefault(rule_id, {})[st] = n
        return out

    def newest_evidence_by_rule(self) -> dict[str, Any]:
        """{rule: newest last_seen} over current findings (for evidence age)."""
        with self.engine.connect() as conn:
            return {r: as_utc(t) for r, t in conn.execute(
                select(findings.c.rule_id, func.max(findings.c.last_seen))
                .where(findings.c.open.is_(True)).group_by(findings.c.rule_id))}

    def source_health(self) -> list[dict[str, Any]]:
        """Per source: last completed collection, last duration, and the number of errored runs."""
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(run_sources).order_by(run_sources.c.started_at)).mappings():
                entry = out.setdefault(row["source"], {"source": row["source"], "type": row["source_type"],
                                                        "last_success": None, "last_duration": None,
                                                        "error_count": 0, "last_status": None,
                                                        "last_run": None})
                entry["last_status"] = row["status"]
                entry["last_run"] = as_utc(row["started_at"])
                if row["status"] in ("complete", "partial"):
                    entry["last_duration"] = row["duration_seconds"]
                if row["status"] == "complete":
                    entry["last_success"] = as_utc(row["finished_at"])
                entry["error_count"] += len(row["errors"] or []) + (1 if row["status"] == "failed" else 0)
        return list(out.values())

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit)).mappings()]

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False


def build_manifest(run: Any, sources: Any, *, status: str, finished: Any, seq: int,
                   prev_hash: str | None) -> dict[str, Any]:
    """The run manifest: what was collected, what failed, and Merkle roots over its evidence."""
    return {
        "kind": "annexa.run-manifest/v1",
        "run_id": run["id"],
        "seq": seq,
        "started_at": ts_text(run["started_at"]),
        "finished_at": ts_text(finished),
        "status": status,
        "tool_version": run["tool_version"],
        "shard": run["shard"],
        "sources": [
            {"name": s["source"], "type": s["source_type"], "status": s["status"], "resources": s["resources"],
             "findings": s["findings"], "errors": s["errors"], "evidence_root": s["evidence_root"],
             "findings_root": s["findings_root"]}
            for s in sources
        ],
        "prev_hash": prev_hash,
    }
