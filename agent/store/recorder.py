"""The write path of a run: buffered, immutable intervals, one transaction per batch.

Resources and findings arrive one by one. They are buffered (bounded) and flushed in batches. An
unchanged resource or finding (same row hash as its open interval) writes nothing at all: that it
was seen is recorded once per run and source by the sealed `run_sources` row, and its `last_seen`
is derived from it. A change closes the old interval (its final state hashed) and opens a new one.
When a source completes, open intervals it did not see are closed, and where the type could not be
collected they become `error` intervals instead of silently vanishing. Merkle roots over the
intervals the run opened and closed go into its sealed, hash-chained manifest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, insert, or_, select, update

from agent.model import CollectionError, Finding, Resource, Status, canonical_json
from agent.store.blobs import digest_of
from agent.store.hashing import (
    FINDING_CONTENT,
    OPEN_COLUMNS,
    RESOURCE_CONTENT,
    close_hash,
    close_leaf,
    finding_row_hash,
    hints,
    key_of,
    open_leaf,
    resource_row_hash,
)
from agent.store.merkle import MerkleBuilder
from agent.store.schema import findings, resource_states, run_sources, runs
from agent.store.seen import SeenIds
from agent.store.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    from agent.sharding import Owner
    from agent.store.store import EvidenceStore

BATCH = 500
COVERING = ("complete", "partial")
STREAM = {"yield_per": 2000}  # fetched in batches: a server-side cursor on PostgreSQL, not the whole result in memory


@dataclass
class SourceStats:
    resources: int = 0
    findings: int = 0
    blobs_written: int = 0
    errors: list[CollectionError] = field(default_factory=list)


def previous_cover(conn: Any, source: str, before_run: int, shard: str | None = None
                   ) -> tuple[int, datetime] | None:
    """The newest sealed run before `before_run` that covered `source` (complete or partial).

    For a shard of a partitioned source: the newest that covered this shard's part (same K/N, or whole)."""
    query = (select(run_sources.c.run_id, run_sources.c.finished_at)
             .join(runs, runs.c.id == run_sources.c.run_id)
             .where(run_sources.c.source == source, run_sources.c.run_id < before_run,
                    run_sources.c.status.in_(COVERING), runs.c.seq.is_not(None)))
    if shard is not None:
        query = query.where(or_(runs.c.shard.is_(None), runs.c.shard == shard))
    row = conn.execute(query.order_by(run_sources.c.run_id.desc()).limit(1)).first()
    return None if row is None else (int(row.run_id), as_utc(row.finished_at))  # type: ignore[return-value]


def closing_values(row: Any, run_id: int, cover: tuple[int, datetime] | None) -> dict[str, Any]:
    """The final state of an open interval closed by `run_id`: last seen in the previous covering run."""
    if cover is not None and cover[0] >= row["first_run"]:
        last_run, last_seen = cover
    else:  # opened by this run or by an unsealed/incomplete one: seen only then
        last_run, last_seen = row["first_run"], row["first_seen"]
    values = {"row_hash": row["row_hash"], "key": row["key"], "first_run": row["first_run"], "last_run": last_run,
              "last_seen": last_seen, "closed_run": run_id}
    values["close_hash"] = close_hash(values)
    return values


class SourceRecorder:
    """Records one source's resources and findings within a run.

    `owner` (a shard of a partitioned source, agent.sharding): only the resources and findings whose
    (type, account, region) this shard owns are recorded, and only owned intervals are closed when
    unseen, so shards of one source never close each other's intervals. `shard` is its "K/N".
    """

    def __init__(self, store: EvidenceStore, run_id: int, name: str, source_type: str, *,
                 owner: Owner | None = None, shard: str | None = None):
        self.store = store
        self.owner = owner
        self.run_id = run_id
        self.name = name
        self.source_type = source_type
        self.started = utcnow()
        self.stats = SourceStats()
        self._resources: dict[str, tuple[Resource, str, bytes]] = {}
        self._findings: dict[str, Finding] = {}
        self._seen_resources = SeenIds()
        self._seen_findings = SeenIds()
        self.done = False
        self._foreign: list[CollectionError] = []  # see complete()
        self._foreign_carried = False
        with store.engine.begin() as conn:
            self.cover = previous_cover(conn, name, run_id, shard if owner is not None else None)
            conn.execute(insert(run_sources).values(
                run_id=run_id, source=name, source_type=source_type, status="running", started_at=self.started,
                resources=0, findings=0, errors=[]))

    # -- buffering -------------------------------------------------------------------------
    def record_resource(self, resource: Resource, raw: bytes | None = None, digest: str | None = None) -> str:
        """Buffer the resource's interval; returns its evidence digest.

        `raw` is the canonical JSON of `resource.evidence_document()` when the caller has it already
        (and `digest` its `digest_of`). Its blob is written at flush, and only when the interval is
        new or changed: an unchanged resource's evidence is already stored under the same digest.
        """
        if raw is None:
            raw, digest = canonical_json(resource.evidence_document()), None
        digest = digest or digest_of(raw)
        key = key_of(self.name, resource.type, resource.id)
        self._resources[key] = (resource, digest, raw)
        self.stats.resources += 1
        if len(self._resources) >= BATCH:
            self.flush()
        return digest

    def key(self, resource: Resource) -> str:
        return key_of(self.name, resource.type, resource.id)

    def record_seen_resource(self, resource: Resource, key: str | None = None) -> None:
        """A resource known to equal its open interval (agent.reuse checked it): only note it was seen.

        `key` is its interval key when the caller has it already (`self.key(resource)`)."""
        self._seen_resources.add(key or self.key(resource))
        self.stats.resources += 1

    def record_seen_finding(self, finding: Finding, key: str | None = None) -> bool:
        """A finding known to equal its open interval column for column: only note it was seen.

        `key` is the interval's key when the caller has it already (source, rule, resource id)."""
        if self.owner is not None:
            res = finding.resource
            if not self.owns(res.get("type") or "", res.get("account"), res.get("region"), finding.resource_id):
                return False
        self._seen_findings.add(key or key_of(self.name, finding.rule, finding.resource_id))
        self.stats.findings += 1
        return True

    def owns(self, resource_type: str, account: str | None, region: str | None,
             resource_id: str | None = None) -> bool:
        return self.owner is None or self.owner(resource_type, account, region, resource_id)

    def record_finding(self, finding: Finding) -> bool:
        """Buffer a finding; False (nothing recorded) when it belongs to another shard's part."""
        res = finding.resource
        if not self.owns(res.get("type") or "", res.get("account"), res.get("region"), finding.resource_id):
            return False
        key = key_of(self.name, finding.rule, finding.resource_id)
        self._findings[key] = finding
        self.stats.findings += 1
        if len(self._findings) >= BATCH:
            self.flush()
        return True

    def flush(self) -> None:
        if not self._resources and not self._findings:
            return
        now = utcnow()
        with self.store.engine.begin() as conn:
            if self._resources:
                rows = [self._resource_row(key, res, digest, now)
                        for key, (res, digest, _raw) in self._resources.items()]
                for row in self._write(conn, resource_states, rows, RESOURCE_CONTENT, self._seen_resources):
                    self._put_blob(row["evidence"], self._resources[row["key"]][2])
            if self._findings:
                rows = [self._finding_row(key, f, now) for key, f in self._findings.items()]
                self._write(conn, findings, rows, FINDING_CONTENT, self._seen_findings)
        self._resources.clear()
        self._findings.clear()

    def _put_blob(self, digest: str, raw: bytes) -> None:
        """Write an evidence blob (before the transaction that refers to it commits)."""
        blobs = self.store.blobs
        put = getattr(blobs, "put_digested", None)
        if put is not None:
            put(digest, raw)
        else:
            blobs.put_bytes(raw)

    def _write(self, conn: Any, table: Any, rows: list[dict[str, Any]], content: tuple[str, ...],
               seen: SeenIds) -> list[dict[str, Any]]:
        """Unchanged rows: nothing. Changed: close the open interval, open a new one. New: open one.

        Returns the rows of the intervals opened."""
        c = table.c
        existing = {row.key: row._mapping for row in conn.execute(
            select(c.id, c.key, c.row_hash, c.first_run, c.first_seen)
            .where(c.open.is_(True), c.key.in_([r["key"] for r in rows])))}
        close: list[dict[str, Any]] = []
        new: list[dict[str, Any]] = []
        for row in rows:
            seen.add(row["key"])
            old = existing.get(row["key"])
            if old is not None and old["row_hash"] == row["row_hash"]:
                continue
            if old is not None:
                close.append({"_id": old["id"], **_bind(closing_values(old, self.run_id, self.cover))})
            row["hints"] = hints(row, content + OPEN_COLUMNS)
            new.append(row)
        if close:
            conn.execute(update(table).where(c.id == bindparam("_id")).values(
                open=False, last_run=bindparam("_last_run"), last_seen=bindparam("_last_seen"),
                closed_run=bindparam("_closed_run"), close_hash=bindparam("_close_hash")), close)
        if new:
            conn.execute(insert(table), new)
        return new

    def _resource_row(self, key: str, res: Resource, digest: str, now: datetime) -> dict[str, Any]:
        row = {"key": key, "source": self.name, "type": res.type, "resource_id": res.id, "name": res.name,
               "account": res.account, "region": res.region, "evidence": digest, "first_seen": now,
               "last_seen": now, "first_run": self.run_id, "last_run": self.run_id, "open": True}
        row["row_hash"] = resource_row_hash(row)
        return row

    def _finding_row(self, key: str, f: Finding, now: datetime) -> dict[str, Any]:
        res = f.resource
        row = {"key": key, "source": self.name, "rule_id": f.rule, "resource_id": f.resource_id,
               "resource_type": res.get("type") or "", "resource_name": res.get("name") or f.resource_id,
               "account": res.get("account"), "region": res.get("region"), "status": f.status.value,
               "severity": f.severity, "controls": list(f.controls), "title": f.title, "message": f.message,
               "evidence": f.evidence, "exception": f.exception, "first_seen": now, "last_seen": now,
               "first_run": self.run_id, "last_run": self.run_id, "open": True}
        row["row_hash"] = finding_row_hash(row)
        return row

    # -- completion ------------------------------------------------------------------------
    def complete(self, errors: Iterable[CollectionError], cursors: dict[str, Any] | None = None,
                 foreign: Iterable[CollectionError] = ()) -> str:
        """Close unseen intervals, turn the errored ones into `error`, save cursors, compute roots.

        `foreign` are errors another shard's unit owns but whose scope spans this shard's part too (a
        source-wide listing that failed): rows they cover are carried as `error` rather than closed as
        gone, and the part is then `partial`.
        """
        self.flush()
        self.stats.errors = list(errors)
        self._foreign = [e for e in foreign if e.expected is None]
        status = "partial" if any(e.expected is None for e in self.stats.errors) else "complete"
        with self.store.engine.begin() as conn:
            carried = self._close_unseen(conn)
            if cursors:
                self.store.save_cursors(conn, self.name, cursors)
        if self._foreign_carried:
            status = "partial"
        for finding in carried:
            self.record_finding(finding)
        self.flush()
        self._finish(status)
        self.done = True
        return status

    def _finish(self, status: str) -> None:
        evidence_root, findings_root = self.roots()
        finished = utcnow()
        with self.store.engine.begin() as conn:
            conn.execute(update(run_sources).where(and_(run_sources.c.run_id == self.run_id,
                                                        run_sources.c.source == self.name)).values(
                status=status, finished_at=finished,
                duration_seconds=(finished - self.started).total_seconds(),
                resources=self.stats.resources, findings=self.stats.findings,
                errors=[e.to_json() for e in self.stats.errors],
                evidence_root=evidence_root, findings_root=findings_root))

    def _errored(self, rtype: str, account: str | None, region: str | None) -> CollectionError | None:
        for err in [*self.stats.errors, *self._foreign]:
            if err.resource_type != rtype or err.expected is not None:
                continue
            if err.account and account and err.account != account:
                continue
            if err.region and region and err.region != region:
                continue
            return err
        return None

    def _close_unseen(self, conn: Any) -> list[Finding]:
        """Close the open intervals this run did not see; return `error` findings for the uncollectable ones."""
        carried: list[Finding] = []
        for table, seen in ((resource_states, self._seen_resources), (findings, self._seen_findings)):
            c = table.c
            cols = [c.id, c.key, c.row_hash, c.first_run, c.first_seen]
            if table is findings and (self.stats.errors or self._foreign):
                cols = [findings]  # type: ignore[list-item]
            rtype = c.type if table is resource_states else c.resource_type
            unseen = self._unseen(conn, table, cols, rtype, seen)
            for i in range(0, len(unseen), BATCH):
                chunk = unseen[i:i + BATCH]
                conn.execute(update(table).where(c.id == bindparam("_id")).values(
                    open=False, last_run=bindparam("_last_run"), last_seen=bindparam("_last_seen"),
                    closed_run=bindparam("_closed_run"), close_hash=bindparam("_close_hash")),
                    [{"_id": r["id"], **_bind(closing_values(r, self.run_id, self.cover))} for r in chunk])
            if table is findings and (self.stats.errors or self._foreign):
                carried = self._carry(unseen)
        return carried

    def _unseen(self, conn: Any, table: Any, cols: list[Any], rtype: Any, seen: SeenIds) -> list[dict[str, Any]]:
        """The open intervals of this source, opened before this run, that it did not see (`cols` of each).

        Every open interval is looked at, but by its key alone (an unchanged run sees them all); the
        columns that closing needs are read for the unseen ones only."""
        c = table.c
        where = (c.open.is_(True), c.source == self.name, c.first_run < self.run_id)
        if self.owner is None:
            keys = seen.unseen(conn.execute(select(c.key).where(*where)).scalars())
        else:
            keys = seen.unseen(r[0] for r in conn.execute(select(c.key, rtype, c.account, c.region, c.resource_id)
                                                          .where(*where)) if self.owns(r[1], r[2], r[3], r[4]))
        rows: list[dict[str, Any]] = []
        for i in range(0, len(keys), BATCH):
            rows.extend(dict(r) for r in conn.execute(
                select(*cols).where(*where, c.key.in_(keys[i:i + BATCH])).order_by(c.id)).mappings())
        return rows

    def _carry(self, rows: list[dict[str, Any]]) -> list[Finding]:
        carried: list[Finding] = []
        for row in rows:
            err = self._errored(row["resource_type"], row["account"], row["region"])
            if err is None or row["resource_id"].startswith("annexa:"):
                continue
            if any(err is f for f in self._foreign):
                self._foreign_carried = True
            carried.append(Finding(
                rule=row["rule_id"], status=Status.ERROR, source=self.name,
                resource={"id": row["resource_id"], "type": row["resource_type"], "name": row["resource_name"],
                          "account": row["account"], "region": row["region"]},
                message=f"not re-evaluated: {row['resource_type']} could not be collected: {err.message}",
                severity=row["severity"], controls=tuple(row["controls"]), title=row["title"]))
        return carried

    def roots(self) -> tuple[str, str]:
        return compute_roots(self.store, self.run_id, self.name)

    def abandon(self) -> None:
        """Interrupted: keep what was flushed (under this run's roots), mark the source incomplete."""
        try:
            self.flush()
        finally:
            self._finish("incomplete")
            self.done = True


def _bind(values: dict[str, Any]) -> dict[str, Any]:
    return {"_last_run": values["last_run"], "_last_seen": values["last_seen"],
            "_closed_run": values["closed_run"], "_close_hash": values["close_hash"]}


def compute_roots(store: EvidenceStore, run_id: int, source: str) -> tuple[str, str]:
    """Merkle roots over the resource and finding intervals that a (run, source) opened, then closed."""
    with store.engine.connect() as conn:
        return (_root(conn, resource_states, "r", run_id, source), _root(conn, findings, "f", run_id, source))


def _root(conn: Any, table: Any, kind: str, run_id: int, source: str) -> str:
    c = table.c
    tree = MerkleBuilder()
    for r in conn.execute(select(c.key, c.first_run, c.first_seen, c.row_hash)
                          .where(c.source == source, c.first_run == run_id).order_by(c.key, c.id),
                          execution_options=STREAM):
        tree.add(open_leaf(kind, r._mapping))
    for r in conn.execute(select(c.key, c.first_run, c.close_hash)
                          .where(c.source == source, c.closed_run == run_id).order_by(c.key, c.id),
                          execution_options=STREAM):
        tree.add(close_leaf(kind, r._mapping))
    return tree.root()


def migration_roots(conn: Any, boundary: int, manual_max_id: int, cutoff: str) -> dict[str, str]:
    """Roots over every interval and manual evidence row that existed when schema 0002 was applied.

    Rows written before the migration were re-hashed by it; this entry of the chain seals them.
    Later uploads and removals have chain events of their own.
    """
    from agent.store.schema import manual_evidence
    from agent.store.timeutil import ts_text

    out: dict[str, str] = {}
    for name, table, kind in (("resources_root", resource_states, "r"), ("findings_root", findings, "f")):
        c = table.c
        tree = MerkleBuilder()
        for r in conn.execute(select(c.key, c.first_run, c.first_seen, c.row_hash).where(c.first_run <= boundary)
                              .order_by(c.source, c.key, c.id),
                              execution_options=STREAM):
            tree.add(open_leaf(kind, r._mapping))
        for r in conn.execute(select(c.key, c.first_run, c.close_hash).where(c.closed_run <= boundary)
                              .order_by(c.source, c.key, c.id),
                              execution_options=STREAM):
            tree.add(close_leaf(kind, r._mapping))
        out[name] = tree.root()
    m = manual_evidence.c
    rows = conn.execute(select(m.id, m.row_hash, m.removed_at, m.removal_hash).where(m.id <= manual_max_id)
                        .order_by(m.id)).all()
    added, removed = MerkleBuilder(), MerkleBuilder()
    for r in rows:
        added.add(f"m|{r.id}|{r.row_hash}".encode())
        if r.removed_at is not None and (ts_text(r.removed_at) or "") <= cutoff:
            removed.add(f"x|{r.id}|{r.removal_hash}".encode())
    out["manual_root"], out["manual_removed_root"] = added.root(), removed.root()
    return out
