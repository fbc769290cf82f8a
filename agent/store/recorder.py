"""The write path of a run: buffered, interval-preserving, one transaction per batch.

Resources and findings arrive one by one. They are buffered (bounded) and flushed in batches:
an unchanged resource or finding only moves its interval's `last_seen`/`last_run`; a change
closes the old interval and opens a new one. When a source completes, intervals it did not touch
are closed, and where the type could not be collected they become `error` intervals instead of
silently vanishing. Roots over the run's intervals go into the sealed, hash-chained manifest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, insert, select, update

from agent.model import CollectionError, Finding, Resource, Status
from agent.store.hashing import finding_leaf, finding_row_hash, key_of, resource_leaf, resource_row_hash
from agent.store.merkle import MerkleBuilder
from agent.store.schema import findings, resource_states, run_sources
from agent.store.timeutil import utcnow

if TYPE_CHECKING:
    from agent.store.store import EvidenceStore

BATCH = 500


@dataclass
class SourceStats:
    resources: int = 0
    findings: int = 0
    blobs_written: int = 0
    errors: list[CollectionError] = field(default_factory=list)


class SourceRecorder:
    """Records one source's resources and findings within a run."""

    def __init__(self, store: EvidenceStore, run_id: int, name: str, source_type: str):
        self.store = store
        self.run_id = run_id
        self.name = name
        self.source_type = source_type
        self.started = utcnow()
        self.stats = SourceStats()
        self._resources: dict[str, tuple[Resource, str]] = {}
        self._findings: dict[str, Finding] = {}
        self.done = False
        with store.engine.begin() as conn:
            conn.execute(insert(run_sources).values(
                run_id=run_id, source=name, source_type=source_type, status="running", started_at=self.started,
                resources=0, findings=0, errors=[]))

    # -- buffering -------------------------------------------------------------------------
    def record_resource(self, resource: Resource, raw: bytes | None = None) -> str:
        """Store the resource's evidence blob (if new) and buffer its interval. Returns the digest.

        `raw` is the canonical JSON of `resource.evidence_document()` when the caller has it already.
        """
        digest = self.store.blobs.put_bytes(raw) if raw is not None else \
            self.store.blobs.put_json(resource.evidence_document())
        key = key_of(self.name, resource.type, resource.id)
        self._resources[key] = (resource, digest)
        self.stats.resources += 1
        if len(self._resources) >= BATCH:
            self.flush()
        return digest

    def record_finding(self, finding: Finding) -> None:
        key = key_of(self.name, finding.rule, finding.resource_id)
        self._findings[key] = finding
        self.stats.findings += 1
        if len(self._findings) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._resources and not self._findings:
            return
        now = utcnow()
        with self.store.engine.begin() as conn:
            if self._resources:
                self._flush_resources(conn, now)
            if self._findings:
                self._flush_findings(conn, now)
        self._resources.clear()
        self._findings.clear()

    def _flush_resources(self, conn: Any, now: datetime) -> None:
        batch = self._resources
        existing = {row.key: row for row in conn.execute(
            select(resource_states.c.id, resource_states.c.key, resource_states.c.evidence)
            .where(resource_states.c.open.is_(True), resource_states.c.key.in_(list(batch))))}
        touch, close, new = [], [], []
        for key, (res, digest) in batch.items():
            old = existing.get(key)
            if old is not None and old.evidence == digest:
                touch.append(old.id)
                continue
            if old is not None:
                close.append(old.id)
            row = {"key": key, "source": self.name, "type": res.type, "resource_id": res.id, "name": res.name,
                   "account": res.account, "region": res.region, "evidence": digest, "first_seen": now,
                   "last_seen": now, "first_run": self.run_id, "last_run": self.run_id, "open": True}
            row["row_hash"] = resource_row_hash(row)
            new.append(row)
        if touch:
            conn.execute(update(resource_states).where(resource_states.c.id.in_(touch))
                         .values(last_seen=now, last_run=self.run_id))
        if close:
            conn.execute(update(resource_states).where(resource_states.c.id.in_(close)).values(open=False))
        if new:
            conn.execute(insert(resource_states), new)

    def _flush_findings(self, conn: Any, now: datetime) -> None:
        batch = self._findings
        existing = {row.key: row for row in conn.execute(
            select(findings.c.id, findings.c.key, findings.c.status)
            .where(findings.c.open.is_(True), findings.c.key.in_(list(batch))))}
        touch: list[dict[str, Any]] = []
        close: list[int] = []
        new: list[dict[str, Any]] = []
        for key, f in batch.items():
            old = existing.get(key)
            if old is not None and old.status == f.status.value:
                touch.append({"_id": old.id, "_message": f.message, "_evidence": f.evidence,
                              "_exception": f.exception, "_severity": f.severity, "_title": f.title,
                              "_controls": list(f.controls)})
                continue
            if old is not None:
                close.append(old.id)
            new.append(self._finding_row(key, f, now))
        if touch:
            conn.execute(
                update(findings).where(findings.c.id == bindparam("_id")).values(
                    last_seen=now, last_run=self.run_id, message=bindparam("_message"),
                    evidence=bindparam("_evidence"), exception=bindparam("_exception"),
                    severity=bindparam("_severity"), title=bindparam("_title"), controls=bindparam("_controls")),
                touch)
        if close:
            conn.execute(update(findings).where(findings.c.id.in_(close)).values(open=False))
        if new:
            conn.execute(insert(findings), new)

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
    def complete(self, errors: Iterable[CollectionError], cursors: dict[str, Any] | None = None) -> str:
        """Close untouched intervals, turn the errored ones into `error`, save cursors, compute roots."""
        self.flush()
        self.stats.errors = list(errors)
        status = "partial" if any(e.expected is None for e in self.stats.errors) else "complete"
        with self.store.engine.begin() as conn:
            carried = self._close_unseen(conn)
            if cursors:
                self.store.save_cursors(conn, self.name, cursors)
        for finding in carried:
            self.record_finding(finding)
        self.flush()
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
        self.done = True
        return status

    def _errored(self, rtype: str, account: str | None, region: str | None) -> CollectionError | None:
        for err in self.stats.errors:
            if err.resource_type != rtype or err.expected is not None:
                continue
            if err.account and account and err.account != account:
                continue
            if err.region and region and err.region != region:
                continue
            return err
        return None

    def _close_unseen(self, conn: Any) -> list[Finding]:
        """Close intervals this run did not touch; return `error` findings for the uncollectable ones."""
        unseen_resources = resource_states.c.open.is_(True) & (resource_states.c.source == self.name) & (
            resource_states.c.last_run < self.run_id)
        conn.execute(update(resource_states).where(unseen_resources).values(open=False))
        unseen = (findings.c.open.is_(True) & (findings.c.source == self.name)
                  & (findings.c.last_run < self.run_id))
        rows = conn.execute(select(findings).where(unseen)).mappings().all() if self.stats.errors else []
        conn.execute(update(findings).where(unseen).values(open=False))
        carried: list[Finding] = []
        for row in rows:
            err = self._errored(row["resource_type"], row["account"], row["region"])
            if err is None or row["resource_id"].startswith("annexa:"):
                continue
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
        """Interrupted: keep what was flushed, mark the source incomplete, move no cursor."""
        try:
            self.flush()
        finally:
            with self.store.engine.begin() as conn:
                conn.execute(update(run_sources).where(and_(run_sources.c.run_id == self.run_id,
                                                            run_sources.c.source == self.name)).values(
                    status="incomplete", finished_at=utcnow(), resources=self.stats.resources,
                    findings=self.stats.findings))


def compute_roots(store: EvidenceStore, run_id: int, source: str) -> tuple[str, str]:
    """Merkle roots over the resource and finding intervals that a (run, source) observed."""
    ev, fi = MerkleBuilder(), MerkleBuilder()
    with store.engine.connect() as conn:
        for r in conn.execute(
            select(resource_states.c.key, resource_states.c.evidence, resource_states.c.first_run,
                   resource_states.c.row_hash)
            .where(resource_states.c.source == source, resource_states.c.first_run <= run_id,
                   resource_states.c.last_run >= run_id)
            .order_by(resource_states.c.key, resource_states.c.id)
        ).yield_per(2000):
            ev.add(resource_leaf(r.key, r.evidence, r.first_run, r.row_hash))
        for f in conn.execute(
            select(findings.c.key, findings.c.status, findings.c.first_run, findings.c.row_hash)
            .where(findings.c.source == source, findings.c.first_run <= run_id, findings.c.last_run >= run_id)
            .order_by(findings.c.key, findings.c.id)
        ).yield_per(2000):
            fi.add(finding_leaf(f.key, f.status, f.first_run, f.row_hash))
    return ev.root(), fi.root()
