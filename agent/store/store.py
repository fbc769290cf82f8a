"""EvidenceStore: opening the store, runs and their sealing into the hash chain, cursors, queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
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
#: Sealed into an orphan's manifest (`interruption`): why it ended without its own process sealing it.
ORPHANED = "the run's process was gone (killed or crashed); sealed incomplete by a later run"


class EvidenceStore:
    """The store: SQL tables (SQLite or PostgreSQL) plus a blob store for evidence snapshots."""

    def __init__(self, engine: Engine, blobs: BlobStore, url: str, evidence: str = ""):
        self.engine = engine
        self.blobs = blobs
        self.url = url
        self.evidence = evidence

    @classmethod
    def open(cls, url: str, evidence: str, *, migrate_schema: str = "auto") -> EvidenceStore:
        """Open the store. `auto` creates the schema in an empty database but never upgrades an old one."""
        store = cls(make_engine(url), open_blob_store(evidence), url, evidence)
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

    # -- runs ---------------------------------------------------------------------------
    @property
    def checkpoint(self) -> Any:
        from agent.store.checkpoint import checkpoint_path

        return checkpoint_path(self.url, self.evidence)

    def chain_head(self, conn: Any = None) -> tuple[int, str] | None:
        """(seq, hash) of the newest sealed chain entry."""
        if conn is None:
            with self.engine.connect() as c:
                return self.chain_head(c)
        head = conn.execute(select(runs.c.seq, runs.c.hash).where(runs.c.seq.is_not(None))
                            .order_by(runs.c.seq.desc()).limit(1)).first()
        return None if head is None else (int(head.seq), str(head.hash))

    def check_not_wiped(self) -> None:
        """Refuse to extend a chain shorter than the checkpoint: the database was wiped or replaced."""
        from agent.store.checkpoint import read_checkpoint

        problem = checkpoint_problem(self, read_checkpoint(self.checkpoint))
        if problem:
            raise StoreError(f"{problem}; refusing to start a new chain (restore the database from a backup, "
                             f"or move {self.checkpoint} away to start a new chain on purpose)")

    def begin_run(self, sources: list[str], shard: str | None = None, *, liveness: Any = None) -> int:
        """Insert the `running` row. `liveness(run_id)` is called before it commits, so no other process
        ever sees the row without its liveness lock held."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(runs).values(
                kind="run", started_at=utcnow(), status="running", sources=sources, shard=shard,
                tool_version=__version__))
            run_id = int(result.inserted_primary_key[0])
            if liveness is not None:
                liveness(run_id)
            return run_id

    def source_recorder(self, run_id: int, name: str, source_type: str, **kwargs: Any) -> SourceRecorder:
        return SourceRecorder(self, run_id, name, source_type, **kwargs)

    def _lock_chain(self, conn: Any, run_id: int) -> None:
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_ID})
        else:  # take SQLite's write lock before reading the chain head
            conn.execute(update(runs).where(runs.c.id == run_id).values(id=run_id))

    def seal_run(self, run_id: int, status: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write the run's manifest and link it to the previous sealed entry by hash. Idempotent.

        ``extra``: further sealed keys from the runner (``policy_inputs``, see agent.policy_inputs).
        """
        with self.engine.begin() as conn:
            self._lock_chain(conn, run_id)
            run = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
            if run["seq"] is not None:
                return {**run["manifest"], "hash": run["hash"]}
            head = self.chain_head(conn)
            srcs = conn.execute(select(run_sources).where(run_sources.c.run_id == run_id)
                                .order_by(run_sources.c.source)).mappings().all()
            finished = utcnow()
            manifest = build_manifest(run, srcs, status=status, finished=finished,
                                      seq=(head[0] + 1) if head else 1, prev_hash=head[1] if head else None)
            manifest.update({k: v for k, v in (extra or {}).items() if k not in manifest})
            digest = self._write_seal(conn, run_id, manifest, finished)
        self._checkpoint(manifest["seq"], digest)
        return {**manifest, "hash": digest}

    def seal_event(self, kind: str, at: Any, body: dict[str, Any], conn: Any) -> dict[str, Any]:
        """A chain entry that is not a run (kind `evidence`): inserted and sealed in the caller's transaction.

        Call `checkpoint_after(manifest)` once the transaction committed."""
        run_id = int(conn.execute(insert(runs).values(
            kind=kind, started_at=at, status="complete", sources=[], shard=None,
            tool_version=__version__)).inserted_primary_key[0])
        self._lock_chain(conn, run_id)
        head = self.chain_head(conn)
        run = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
        manifest = build_manifest(run, [], status="complete", finished=at, seq=(head[0] + 1) if head else 1,
                                  prev_hash=head[1] if head else None, kind=kind, body=body)
        digest = self._write_seal(conn, run_id, manifest, at)
        return {**manifest, "hash": digest}

    def checkpoint_after(self, sealed: dict[str, Any]) -> None:
        self._checkpoint(sealed["seq"], sealed["hash"])

    def _write_seal(self, conn: Any, run_id: int, manifest: dict[str, Any], finished: Any) -> str:
        digest = content_hash(manifest)
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            seq=manifest["seq"], status=manifest["status"], finished_at=finished,
            manifest=manifest, prev_hash=manifest["prev_hash"], hash=digest))
        return digest

    def _checkpoint(self, seq: int, digest: str) -> None:
        from agent.store.checkpoint import write_checkpoint

        try:
            write_checkpoint(self.checkpoint, seq, digest)
        except OSError as exc:  # the chain is sealed; the checkpoint is a second line of defence
            import errno
            import logging

            # A full disk also stops the run, which says so in its one error line: no second warning.
            level = logging.INFO if exc.errno in (errno.ENOSPC, errno.EDQUOT) else logging.WARNING
            logging.getLogger("annexa.store").log(level, "could not write the chain checkpoint %s: %s",
                                                  self.checkpoint, exc)

    def seal_orphans(self, claim: Callable[[int], AbstractContextManager[bool]]) -> list[int]:
        """Seal as `incomplete` every `running` run whose process is gone; returns their ids.

        `claim(run_id)` (agent.locks.RunLiveness.claim) yields True when the run's process is gone,
        holding the run's liveness lock until the block ends, so two processes never seal one
        orphan at once; the run's state is read again under that lock. What the orphan had flushed
        stays, under its own roots (each batch was one transaction, so it is consistent): its
        sources are marked incomplete, never complete, so nothing it did not see is closed and no
        cursor moved.
        """
        with self.engine.connect() as conn:
            candidates = conn.execute(select(runs.c.id).where(runs.c.seq.is_(None), runs.c.status == "running",
                                                              runs.c.kind == "run")
                                      .order_by(runs.c.id)).scalars().all()
        sealed = []
        for run_id in candidates:
            with claim(run_id) as dead:
                if dead and self._seal_orphan(run_id):
                    sealed.append(run_id)
        return sealed

    def _seal_orphan(self, run_id: int) -> bool:
        with self.engine.connect() as conn:
            still = conn.execute(select(runs.c.id).where(runs.c.id == run_id, runs.c.seq.is_(None))).first()
        if still is None:  # sealed by its own process (or another one) since the candidates were read
            return False
        self.close_open_sources(run_id)
        self.seal_run(run_id, "incomplete", extra={"interruption": ORPHANED})
        return True

    def close_open_sources(self, run_id: int) -> list[str]:
        """Mark the run's sources still `running` as `incomplete`, with roots over what they flushed.

        For a run that ends without its recorders finishing (an orphan, or a recorder that failed on
        a full disk), so that its sealed manifest covers every row it wrote."""
        from agent.store.recorder import compute_roots

        with self.engine.connect() as conn:
            open_sources = conn.execute(select(run_sources.c.source).where(
                run_sources.c.run_id == run_id, run_sources.c.status == "running")).scalars().all()
        for source in open_sources:
            evidence_root, findings_root = compute_roots(self, run_id, source)
            with self.engine.begin() as conn:
                conn.execute(update(run_sources).where(run_sources.c.run_id == run_id,
                                                       run_sources.c.source == source,
                                                       run_sources.c.status == "running").values(
                    status="incomplete", finished_at=utcnow(), evidence_root=evidence_root,
                    findings_root=findings_root))
        return list(open_sources)

    # -- cursors ---------------------------------------------------------------------------
    def cursor_value(self, source: str, key: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(cursors.c.value).where(and_(cursors.c.source == source,
                                                                  cursors.c.key == key))).first()
        return None if row is None else row.value

    def save_cursors(self, conn: Any, source: str, values: dict[str, Any]) -> None:
        """Insert or replace each (source, key) in one statement: shards of one source save side by side,
        and an update-then-insert would let two of them both insert and one fail on the primary key."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
        now = utcnow()
        for key, value in values.items():
            stmt = upsert(cursors).values(source=source, key=key, value=value, updated_at=now)
            conn.execute(stmt.on_conflict_do_update(index_elements=[cursors.c.source, cursors.c.key],
                                                    set_={"value": stmt.excluded.value,
                                                          "updated_at": stmt.excluded.updated_at}))

    # -- queries ---------------------------------------------------------------------------
    def coverage(self, conn: Any = None) -> dict[str, tuple[int, Any]]:
        """{source: (run id, finished_at)} of the newest sealed run that covered it (complete or partial).

        An open interval was seen by every covering run of its source since it opened, so its
        `last_run`/`last_seen` are these (or its own first ones if it opened later, in a run that did
        not complete). Nothing is written per open interval to know this. A source split between
        shards is covered only as recently as its least recent shard (agent.sharding.combine_coverage).
        """
        if conn is None:
            with self.engine.connect() as c:
                return self.coverage(c)
        rs = run_sources.c
        newest = (select(rs.source.label("source"), runs.c.shard.label("shard"), func.max(rs.run_id).label("run_id"))
                  .join(runs, runs.c.id == rs.run_id)
                  .where(rs.status.in_(("complete", "partial")), runs.c.seq.is_not(None))
                  .group_by(rs.source, runs.c.shard).subquery())
        rows = [(source, stype, shard, int(run_id), as_utc(finished))
                for source, stype, shard, run_id, finished in conn.execute(
            select(rs.source, rs.source_type, newest.c.shard, rs.run_id, rs.finished_at)
            .join(newest, and_(rs.source == newest.c.source, rs.run_id == newest.c.run_id))
        )]
        from agent.sharding import combine_coverage

        return combine_coverage(rows)

    def current_findings(self, *, rules: list[str] | None = None, status: str | None = None,
                         source: str | None = None) -> Iterator[dict[str, Any]]:
        """Open finding intervals (the current state), streamed, with `last_seen`/`last_run` derived."""
        query = select(findings).where(findings.c.open.is_(True))
        if rules is not None:
            query = query.where(findings.c.rule_id.in_(rules))
        if status:
            query = query.where(findings.c.status == status)
        if source:
            query = query.where(findings.c.source == source)
        query = query.order_by(findings.c.rule_id, findings.c.resource_id)
        with self.engine.connect() as conn:
            cover = self.coverage(conn)
            for row in conn.execute(query.execution_options(yield_per=1000)).mappings():  # server-side cursor
                yield with_coverage(dict(row), cover)

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

    def newest_evidence_by_rule(self, *, skip_errors: bool = False) -> dict[str, Any]:
        """{rule: newest last_seen} over current findings (for evidence age), derived from run coverage."""
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            cover = self.coverage(conn)
            query = (select(findings.c.rule_id, findings.c.source, func.max(findings.c.first_run),
                            func.max(findings.c.first_seen))
                     .where(findings.c.open.is_(True)).group_by(findings.c.rule_id, findings.c.source))
            if skip_errors:  # nothing was read for these (an expected gap is still unread)
                query = query.where(findings.c.status.not_in(("error", "not_applicable")))
            for rule_id, source, first_run, first_seen in conn.execute(query):
                seen = with_coverage({"source": source, "first_run": first_run, "first_seen": first_seen,
                                      "open": True}, cover)["last_seen"]
                seen = as_utc(seen)
                if rule_id not in out or seen > out[rule_id]:
                    out[rule_id] = seen
        return out

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
            return [dict(r) for r in conn.execute(select(runs).where(runs.c.kind == "run")
                                                  .order_by(runs.c.id.desc()).limit(limit)).mappings()]

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False


def with_coverage(row: dict[str, Any], cover: dict[str, tuple[int, Any]]) -> dict[str, Any]:
    """An interval row with `last_run`/`last_seen` as an auditor reads them (derived while open)."""
    if row.get("open"):
        newest = cover.get(row["source"])
        if newest is not None and newest[0] >= row["first_run"]:
            row["last_run"], row["last_seen"] = newest
        else:
            row["last_run"], row["last_seen"] = row["first_run"], row["first_seen"]
    return row


def checkpoint_problem(store: EvidenceStore, checkpoint: dict[str, Any] | None) -> str | None:
    """Why the store does not reach its checkpoint, or None."""
    if not checkpoint:
        return None
    if checkpoint.get("error"):
        return f"chain checkpoint unusable: {checkpoint['error']}"
    seq, digest = checkpoint["seq"], checkpoint["hash"]
    with store.engine.connect() as conn:
        at = conn.execute(select(runs.c.hash).where(runs.c.seq == seq)).scalar_one_or_none()
        head = store.chain_head(conn)
    if at is None:
        have = head[0] if head else 0
        return (f"the store holds {have} chain entries but its checkpoint {store.checkpoint} records entry "
                f"{seq} ({digest}): the database was wiped, truncated or replaced by an older copy")
    if at != digest:
        return (f"chain entry {seq} has hash {at} but the checkpoint {store.checkpoint} records {digest}: "
                "the history was rewritten")
    return None


MANIFEST_KIND = {"run": "annexa.run-manifest/v2", "evidence": "annexa.evidence-event/v1",
                 "migration": "annexa.migration/v1"}


def source_entry(s: Any) -> dict[str, Any]:
    """One run_sources row as the manifest seals it: every column an auditor reads."""
    return {"name": s["source"], "type": s["source_type"], "status": s["status"],
            "started_at": ts_text(s["started_at"]), "finished_at": ts_text(s["finished_at"]),
            "duration_seconds": s["duration_seconds"], "resources": s["resources"], "findings": s["findings"],
            "errors": s["errors"], "evidence_root": s["evidence_root"], "findings_root": s["findings_root"]}


def build_manifest(run: Any, sources: Any, *, status: str, finished: Any, seq: int, prev_hash: str | None,
                   inputs: dict[str, Any] | None = None, kind: str = "run",
                   body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A chain entry's manifest: the run row, each source's counts, errors and Merkle roots over the
    intervals it opened and closed, and `inputs` (policy inputs such as rule pack digests, given by
    the caller; an empty object when none)."""
    manifest: dict[str, Any] = {
        "kind": MANIFEST_KIND[kind],
        "run_id": run["id"],
        "seq": seq,
        "started_at": ts_text(run["started_at"]),
        "finished_at": ts_text(finished),
        "status": status,
        "tool_version": run["tool_version"],
        "shard": run["shard"],
        "requested": list(run["sources"] or []),
        "sources": [source_entry(s) for s in sources],
        "inputs": dict(inputs or {}),
        "prev_hash": prev_hash,
    }
    if body:
        manifest.update(body)
    return manifest
