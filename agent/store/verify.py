"""`annexa verify --store`: the chain, every shown column of every row, the roots, the blobs.

Cost is linear in the number of rows: each interval is hashed once and falls in exactly one open
root (the run that opened it) and at most one close root (the run that closed it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from agent.model import content_hash
from agent.store.hashing import (
    FINDING_CONTENT,
    MANUAL_CONTENT,
    OPEN_COLUMNS,
    RESOURCE_CONTENT,
    changed_columns,
    close_hash,
    finding_row_hash,
    manual_removal_hash,
    manual_row_hash,
    resource_row_hash,
)
from agent.store.recorder import compute_roots, migration_roots
from agent.store.schema import findings, manual_evidence, resource_states, run_sources, runs
from agent.store.store import EvidenceStore, source_entry
from agent.store.timeutil import ts_text

RUN_COLUMNS = {"started_at": "started_at", "finished_at": "finished_at", "status": "status",
               "tool_version": "tool_version", "shard": "shard", "requested": "sources"}


@dataclass
class VerifyReport:
    runs: int = 0
    findings: int = 0
    resources: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    head: str | None = None
    head_seq: int = 0
    chain: set[str] = field(default_factory=set)
    incremental_from: int | None = None  # the verified chain position an incremental check started after
    unsealed_runs: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class ChainEntry:
    id: int
    kind: str
    manifest: dict[str, Any]


def _check_chain(store: EvidenceStore, report: VerifyReport) -> list[ChainEntry]:
    prev: str | None = None
    entries: list[ChainEntry] = []
    with store.engine.connect() as conn:
        rows = conn.execute(select(runs).where(runs.c.seq.is_not(None)).order_by(runs.c.seq)).mappings().all()
        unsealed = conn.execute(select(runs.c.id).where(runs.c.seq.is_(None))).scalars().all()
        per_run: dict[int, list[Any]] = {}
        for s in conn.execute(select(run_sources).order_by(run_sources.c.run_id, run_sources.c.source)).mappings():
            per_run.setdefault(s["run_id"], []).append(s)
    report.unsealed_runs = set(unsealed)
    for run_id in unsealed:
        report.notes.append(f"run {run_id} was never sealed (still running, or killed; the next run seals it "
                            "incomplete): not part of the chain yet")
    for expected_seq, row in enumerate(rows, start=1):
        manifest = row["manifest"] or {}
        report.runs += 1
        where = f"runs row {row['id']}"
        if row["seq"] != expected_seq:
            report.problems.append(f"{where}: chain position {row['seq']}, expected {expected_seq} "
                                   "(a run was removed or inserted)")
        if content_hash(manifest) != row["hash"]:
            report.problems.append(f"{where}: manifest does not match its hash {row['hash']}")
        if manifest.get("prev_hash") != prev or row["prev_hash"] != prev:
            report.problems.append(f"{where}: previous-run hash does not match the chain (expected {prev})")
        if manifest.get("run_id") != row["id"]:
            report.problems.append(f"{where}: column id differs from its sealed manifest")
        kind = str(row["kind"] or "run")
        if str(manifest.get("kind", "")).startswith("annexa.run-manifest/v1"):
            kind = "run/v1"
            if manifest.get("status") != row["status"]:
                report.problems.append(f"{where}: column status differs from its sealed manifest")
        else:
            _compare_run_row(row, manifest, per_run.get(row["id"], []), report)
        prev = row["hash"]
        report.chain.add(row["hash"])
        entries.append(ChainEntry(row["id"], kind, manifest))
    report.head = prev
    report.head_seq = len(rows)
    old = sum(1 for e in entries if e.kind == "run/v1")
    if old:
        report.notes.append(f"{old} run(s) sealed before schema 0002: their chain links are checked; their rows "
                            "are covered by the migration entry of the chain")
    return entries


def _compare_run_row(row: Any, manifest: dict[str, Any], sources: list[Any], report: VerifyReport) -> None:
    where = f"runs row {row['id']}"
    for key, col in RUN_COLUMNS.items():
        have = row[col]
        have = ts_text(have) if col.endswith("_at") else (list(have or []) if col == "sources" else have)
        if have != manifest.get(key):
            report.problems.append(f"{where}: column {col} differs from its sealed manifest "
                                   f"({have!r}, sealed {manifest.get(key)!r})")
    if (row["kind"] or "run") != _kind_of(manifest):
        report.problems.append(f"{where}: column kind differs from its sealed manifest")
    sealed = {s.get("name"): s for s in manifest.get("sources", [])}
    stored = {s["source"]: s for s in sources}
    for name in sorted(set(sealed) - set(stored)):
        report.problems.append(f"run_sources row (run {row['id']}, source {name}) was deleted")
    for name in sorted(set(stored) - set(sealed)):
        report.problems.append(f"run_sources row (run {row['id']}, source {name}) was added after sealing")
    for name in sorted(set(sealed) & set(stored)):
        have, want = source_entry(stored[name]), sealed[name]
        for key in sorted(set(have) | set(want)):
            if have.get(key) != want.get(key):
                col = {"name": "source", "type": "source_type"}.get(key, key)
                report.problems.append(f"run_sources row (run {row['id']}, source {name}): column {col} "
                                       "differs from its sealed manifest")


def _kind_of(manifest: dict[str, Any]) -> str:
    kind = str(manifest.get("kind", ""))
    if kind.startswith("annexa.evidence-event"):
        return "evidence"
    if kind.startswith("annexa.migration"):
        return "migration"
    return "run"


def _check_roots(store: EvidenceStore, entries: list[ChainEntry], report: VerifyReport,
                 since_seq: int | None) -> None:
    skipped = 0
    for entry in entries:
        manifest = entry.manifest
        if since_seq is not None and int(manifest.get("seq") or 0) < since_seq:
            skipped += 1
            continue
        if entry.kind == "migration":
            with store.engine.connect() as conn:
                roots = migration_roots(conn, int(manifest.get("boundary_run") or 0),
                                        int(manifest.get("manual_max_id") or 0), str(manifest.get("started_at")))
            for key, value in roots.items():
                if manifest.get(key) != value:
                    report.problems.append(f"chain entry {manifest.get('seq')} (schema migration): {key} differs: "
                                           "rows that existed at the migration were added, removed or changed")
            continue
        if entry.kind != "run":
            continue
        for src in manifest.get("sources", []):
            evidence_root, findings_root = compute_roots(store, entry.id, src["name"])
            if evidence_root != src.get("evidence_root"):
                report.problems.append(f"run {entry.id} source {src['name']}: evidence differs from the sealed "
                                       "manifest (resource_states rows it opened or closed added, removed or changed)")
            if findings_root != src.get("findings_root"):
                report.problems.append(f"run {entry.id} source {src['name']}: findings differ from the sealed "
                                       "manifest (findings rows it opened or closed added, removed or changed)")
    if skipped and report.incremental_from is None:
        report.notes.append(f"Merkle roots of the {skipped} chain entries before position {since_seq} were not "
                            "recomputed (--since); their chain links, rows and blobs were")


def _check_interval(table: str, row: Any, content: tuple[str, ...], row_hash: str, report: VerifyReport,
                    label: str) -> None:
    where = f"{table} row {row['id']} ({label})"
    if row_hash != row["row_hash"]:
        cols = changed_columns(row, content + OPEN_COLUMNS) or ["unknown (row_hash or hints changed)"]
        report.problems.append(f"{where}: column {', '.join(cols)} modified (does not match its row hash)")
    else:
        cols = [c for c in changed_columns(row, content + OPEN_COLUMNS) if c in OPEN_COLUMNS]
        if cols:
            report.problems.append(f"{where}: column {', '.join(cols)} modified")
    if row["open"]:
        if row["closed_run"] is not None or row["close_hash"] is not None:
            report.problems.append(f"{where}: column open modified (the interval was closed by run "
                                   f"{row['closed_run']})")
        if row["last_run"] != row["first_run"] or ts_text(row["last_seen"]) != ts_text(row["first_seen"]):
            report.problems.append(f"{where}: column last_run/last_seen modified (an open interval's are derived "
                                   "from run coverage and stored equal to first_run/first_seen)")
    else:
        if row["closed_run"] is None or row["close_hash"] is None:
            report.problems.append(f"{where}: column open modified (closed without a closing run and hash)")
        elif close_hash(row) != row["close_hash"]:
            report.problems.append(f"{where}: column last_run, last_seen or closed_run modified (does not match "
                                   "its close hash)")


def _check_rows(store: EvidenceStore, report: VerifyReport, only_runs: set[int] | None = None) -> set[str]:
    """Every row, or (incremental) only the rows opened or closed by the runs in `only_runs`."""
    digests: set[str] = set()
    with store.engine.connect() as conn:
        for row in _rows(conn, resource_states, only_runs):
            report.resources += 1
            digests.add(row["evidence"])
            _check_interval("resource_states", row, RESOURCE_CONTENT, resource_row_hash(row), report,
                            f"{row['type']} {row['resource_id']}")
        for row in _rows(conn, findings, only_runs):
            report.findings += 1
            if row["evidence"]:
                digests.add(row["evidence"])
            _check_interval("findings", row, FINDING_CONTENT, finding_row_hash(row), report,
                            f"rule {row['rule_id']}, resource {row['resource_id']}")
    return digests


def _rows(conn: Any, table: Any, only_runs: set[int] | None) -> Iterable[Any]:
    if only_runs is None:
        yield from conn.execute(select(table).order_by(table.c.id), execution_options={"yield_per": 2000}).mappings()
        return
    if not only_runs:
        return
    wanted = sorted(only_runs)
    sources = conn.execute(select(run_sources.c.source).where(run_sources.c.run_id.in_(wanted))
                           .distinct()).scalars().all()
    for source in sorted(sources):  # (source, first_run) and (source, closed_run) are indexed
        yield from conn.execute(select(table).where(table.c.source == source, table.c.first_run.in_(wanted))
                                .order_by(table.c.id), execution_options={"yield_per": 2000}).mappings()
        yield from conn.execute(select(table).where(table.c.source == source, table.c.closed_run.in_(wanted),
                                                    table.c.first_run.not_in(wanted))
                                .order_by(table.c.id), execution_options={"yield_per": 2000}).mappings()


def _check_manual(store: EvidenceStore, entries: list[ChainEntry], report: VerifyReport) -> set[str]:
    """Every manual evidence row has its sealed `add` event; every removal its sealed `remove` event."""
    digests: set[str] = set()
    added: dict[int, str] = {}
    removed: dict[int, str] = {}
    for e in entries:
        if e.kind == "evidence":
            target = added if e.manifest.get("action") == "add" else removed
            target[int(e.manifest.get("evidence_id") or 0)] = str(e.manifest.get("row_hash") or "")
    with store.engine.connect() as conn:
        rows = conn.execute(select(manual_evidence).order_by(manual_evidence.c.id)).mappings().all()
    stored = {r["id"] for r in rows}
    for row in rows:
        digests.add(row["blob"])
        where = f"manual_evidence row {row['id']} ({row['control']} {row['filename']})"
        fresh = manual_row_hash(row)
        if fresh != row["row_hash"] or (row["id"] in added and added[row["id"]] != row["row_hash"]):
            report.problems.append(f"{where}: a column of {', '.join(MANUAL_CONTENT)} was modified (does not match "
                                   "its sealed hash)")
        elif row["id"] not in added and not _premigration(row, entries):
            report.problems.append(f"{where}: has no sealed upload event in the chain (inserted directly)")
        if row["removed_at"] is None:
            if row["id"] in removed or row["removal_hash"]:
                report.problems.append(f"{where}: its removal was undone (columns removed_at/removed_by cleared)")
        else:
            rh = manual_removal_hash(row)
            if rh != row["removal_hash"] or (row["id"] in removed and removed[row["id"]] != rh):
                report.problems.append(f"{where}: column removed_at, removed_by or removal_reason modified")
            elif row["id"] not in removed and not _premigration(row, entries, removal=True):
                report.problems.append(f"{where}: removed without a sealed removal event")
    for ev_id in sorted(set(added) - stored):
        report.problems.append(f"manual_evidence row {ev_id} was deleted (its upload is sealed in the chain)")
    return digests


def _premigration(row: Any, entries: list[ChainEntry], removal: bool = False) -> bool:
    """Rows (and removals) that existed when schema 0002 was applied are sealed by the migration's roots."""
    for e in entries:
        if e.kind != "migration" or row["id"] > int(e.manifest.get("manual_max_id") or 0):
            continue
        if not removal or (ts_text(row["removed_at"]) or "") <= str(e.manifest.get("started_at")):
            return True
    return False


def _check_blobs(store: EvidenceStore, digests: set[str], report: VerifyReport) -> None:
    for digest in sorted(digests):
        report.blobs += 1
        try:
            raw = store.blobs.get_bytes(digest)
        except FileNotFoundError:
            report.problems.append(f"evidence blob {digest} is missing")
            continue
        except Exception as exc:  # corrupt compression, unreadable object
            report.problems.append(f"evidence blob {digest} cannot be read: {type(exc).__name__}")
            continue
        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            report.problems.append(f"evidence blob {digest} content does not match its hash")


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """The chain head of the last store verification that passed (kept in the store, agent.verifystatus).

    An incremental check trusts what that verification covered: it checks every chain link, that the
    entry at `seq` still has `hash`, and only the roots, rows and blobs of the entries after it. Rows
    sealed before it are checked again only by a full verification.
    """

    seq: int
    hash: str
    at: str  # when it was verified (ISO 8601)
    full_at: str | None = None  # when the store was last verified in full

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at, "full_at": self.full_at}


def verify_store(store: EvidenceStore, *, check_blobs: bool = True, anchors: Iterable[str] = (),
                 since_seq: int | None = None, after: VerifiedCheckpoint | None = None) -> VerifyReport:
    """Every check; problems naming a table, row and column come first.

    `anchors` are run hashes recorded outside the store (an export bundle's chain head, a hash
    written into a ticket). Someone able to rewrite the whole database could recompute a consistent
    chain; an anchor that is no longer in it shows the history it sealed was rewritten. The chain
    checkpoint file (agent.store.checkpoint) is an anchor kept automatically.

    `since_seq` limits recomputing the Merkle roots to entries from that chain position on (the
    chain, every row hash and every blob are still checked).
    """
    from agent.store.checkpoint import read_checkpoint
    from agent.store.store import checkpoint_problem

    report = VerifyReport()
    entries = _check_chain(store, report)
    only_runs = _incremental_scope(entries, after, report) if after is not None else None
    if only_runs is not None:
        report.incremental_from = after.seq  # type: ignore[union-attr]
        since_seq = max(since_seq or 0, after.seq + 1)  # type: ignore[union-attr]
    _check_roots(store, entries, report, since_seq)
    problem = checkpoint_problem(store, read_checkpoint(store.checkpoint))
    if problem:
        report.problems.append(problem)
    for anchor in anchors:
        if anchor not in report.chain:
            report.problems.append(f"anchor {anchor} is not in the chain: the history it sealed was rewritten "
                                   "or removed")
    digests = _check_rows(store, report, only_runs)
    digests |= _check_manual(store, entries, report)
    if check_blobs:
        _check_blobs(store, digests, report)
    report.problems.sort(key=lambda p: 0 if " row " in p or p.startswith("evidence blob") else 1)
    return report


def _incremental_scope(entries: list[ChainEntry], after: VerifiedCheckpoint, report: VerifyReport) -> set[int] | None:
    """The runs an incremental check must cover, or None (check everything) when the checkpoint does not
    hold; a verified entry whose hash changed is a problem in itself."""
    if after.seq > len(entries):
        report.problems.append(f"the chain is shorter than the verified checkpoint (position {after.seq}, "
                               f"verified {after.at}): entries were removed")
        return None
    entry = entries[after.seq - 1]
    sealed = content_hash(entry.manifest)
    if sealed != after.hash:
        report.problems.append(f"chain entry {after.seq} differs from the one verified {after.at} "
                               f"(hash {sealed}, verified {after.hash}): the history was rewritten")
        return None
    later = entries[after.seq:]
    report.notes.append(f"incremental check: the {after.seq} chain entries up to position {after.seq} were verified "
                        f"{after.at} (last full check: {after.full_at or 'never recorded'}); their links were "
                        "checked again, their rows, roots and blobs were not (a check without `--incremental` "
                        "covers everything)")
    return {e.id for e in later if e.kind == "run"} | report.unsealed_runs


class StoreUnverifiable(Exception):
    """The store cannot be verified at all (empty, wiped, corrupt, unreadable): one line says why."""


SQLITE_MAGIC = b"SQLite format 3\x00"


def open_for_verify(url: str, evidence: str) -> EvidenceStore:
    """Open the store without creating or migrating anything, or say in one line why it cannot be."""
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from agent.errors import StoreError
    from agent.store import migrate

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        try:
            with path.open("rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except FileNotFoundError:
            raise StoreUnverifiable(f"no store database at {path}") from None
        except OSError as exc:
            raise StoreUnverifiable(f"cannot read the store database {path}: {exc.strerror}") from None
        if not head:
            raise StoreUnverifiable(f"the store database {path} is empty (0 bytes): it was truncated or wiped")
        if head != SQLITE_MAGIC:
            raise StoreUnverifiable(f"the store database {path} is not a SQLite database (corrupt or replaced)")
    try:
        store = EvidenceStore.open(url, evidence, migrate_schema="never")
        revision = migrate.current_revision(store.engine)
        if revision is None:
            raise StoreUnverifiable("the store database has no Annexa schema: it is empty or was wiped")
        with store.engine.connect() as conn:
            conn.execute(select(runs.c.id).limit(1)).all()
    except StoreError as exc:
        raise StoreUnverifiable(str(exc)) from None
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreUnverifiable(f"cannot read the store database: {detail}") from None
    if revision != migrate.head_revision():
        raise StoreUnverifiable(f"the store schema is at revision {revision}, this Annexa verifies "
                                f"{migrate.head_revision()}: run `annexa db upgrade` first")
    return store
