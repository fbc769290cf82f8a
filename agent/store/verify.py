"""`annexa verify --store`: recompute the chain, the intervals' hashes and roots, and the blobs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from agent.model import content_hash
from agent.store.hashing import finding_row_hash, manual_row_hash, resource_row_hash
from agent.store.recorder import compute_roots
from agent.store.schema import findings, manual_evidence, resource_states, runs
from agent.store.store import EvidenceStore
from agent.store.timeutil import ts_text

VERIFIABLE = ("complete", "partial")


@dataclass
class VerifyReport:
    runs: int = 0
    findings: int = 0
    resources: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    head: str | None = None
    chain: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_chain(store: EvidenceStore, report: VerifyReport) -> Iterator[tuple[int, dict[str, Any]]]:
    prev: str | None = None
    with store.engine.connect() as conn:
        rows = conn.execute(select(runs).where(runs.c.seq.is_not(None)).order_by(runs.c.seq)).mappings().all()
        unsealed = conn.execute(select(runs.c.id).where(runs.c.seq.is_(None))).scalars().all()
    for run_id in unsealed:
        report.notes.append(f"run {run_id} was never sealed (still running, or killed): not part of the chain")
    for expected_seq, row in enumerate(rows, start=1):
        manifest = row["manifest"] or {}
        report.runs += 1
        if row["seq"] != expected_seq:
            report.problems.append(f"run {row['id']}: chain position {row['seq']}, expected {expected_seq} "
                                   "(a run was removed or inserted)")
        if content_hash(manifest) != row["hash"]:
            report.problems.append(f"run {row['id']}: manifest does not match its hash {row['hash']}")
        if manifest.get("prev_hash") != prev or row["prev_hash"] != prev:
            report.problems.append(f"run {row['id']}: previous-run hash does not match the chain "
                                   f"(expected {prev})")
        if manifest.get("run_id") != row["id"] or manifest.get("status") != row["status"]:
            report.problems.append(f"run {row['id']}: row differs from its manifest (id or status)")
        prev = row["hash"]
        report.chain.add(row["hash"])
        yield row["id"], manifest
    report.head = prev


def _check_rows(store: EvidenceStore, report: VerifyReport) -> set[str]:
    digests: set[str] = set()
    with store.engine.connect() as conn:
        for row in conn.execute(select(resource_states).order_by(resource_states.c.id)).mappings().yield_per(2000):
            report.resources += 1
            digests.add(row["evidence"])
            if resource_row_hash(row) != row["row_hash"]:
                report.problems.append(f"resource_states row {row['id']} ({row['resource_id']}, first seen "
                                       f"{ts_text(row['first_seen'])}) was modified")
        for row in conn.execute(select(findings).order_by(findings.c.id)).mappings().yield_per(2000):
            report.findings += 1
            if row["evidence"]:
                digests.add(row["evidence"])
            if finding_row_hash(row) != row["row_hash"]:
                report.problems.append(f"findings row {row['id']} (rule {row['rule_id']}, resource "
                                       f"{row['resource_id']}) was modified")
        for row in conn.execute(select(manual_evidence).order_by(manual_evidence.c.id)).mappings():
            digests.add(row["blob"])
            if manual_row_hash(row) != row["row_hash"]:
                report.problems.append(f"manual_evidence row {row['id']} ({row['control']} {row['filename']}) "
                                       "was modified")
    return digests


def _check_blobs(store: EvidenceStore, digests: set[str], report: VerifyReport) -> None:
    import hashlib

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


def verify_store(store: EvidenceStore, *, check_blobs: bool = True, anchors: Iterable[str] = (),
                 since_seq: int | None = None) -> VerifyReport:
    """Every check; problems are listed in the order found, the first being the earliest in the chain.

    `anchors` are run hashes recorded outside the store (an export bundle's chain head, a hash
    written into a ticket). Someone able to rewrite the whole database could recompute a consistent
    chain; an anchor that is no longer in it shows the history it sealed was rewritten.

    `since_seq` limits the expensive part — recomputing each run's Merkle roots, whose cost grows
    with runs x intervals — to runs from that chain position on (the chain, every row hash and every
    blob are still checked). Use it for frequent checks after a full one, anchored at its head.
    """
    report = VerifyReport()
    skipped = 0
    for run_id, manifest in _check_chain(store, report):
        if since_seq is not None and int(manifest.get("seq") or 0) < since_seq:
            skipped += 1
            continue
        for src in manifest.get("sources", []):
            if src.get("status") not in VERIFIABLE:
                continue
            evidence_root, findings_root = compute_roots(store, run_id, src["name"])
            if evidence_root != src.get("evidence_root"):
                report.problems.append(f"run {run_id} source {src['name']}: evidence differs from the sealed "
                                       "manifest (resource snapshot rows added, removed or changed)")
            if findings_root != src.get("findings_root"):
                report.problems.append(f"run {run_id} source {src['name']}: findings differ from the sealed "
                                       "manifest (finding rows added, removed or changed)")
    if skipped:
        report.notes.append(f"Merkle roots of the {skipped} run(s) before chain position {since_seq} were not "
                            "recomputed (--since); their chain links, rows and blobs were")
    for anchor in anchors:
        if anchor not in report.chain:
            report.problems.append(f"anchor {anchor} is not in the chain: the history it sealed was rewritten "
                                   "or removed")
    digests = _check_rows(store, report)
    if check_blobs:
        _check_blobs(store, digests, report)
    # Row-level problems name the exact row: put them first, they are the most precise.
    report.problems.sort(key=lambda p: 0 if " row " in p or p.startswith("evidence blob") else 1)
    return report
