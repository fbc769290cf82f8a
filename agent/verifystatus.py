"""The outcome of the last `annexa verify --store`, kept in the store so every exporter can publish it.

It lives in the store's key/value `cursors` table under a reserved name (source names cannot contain
`:`), so the CronJob, the daemon and a manual run all write where the exporter reads, with no new table
and no file shared between pods. It is operational status, not evidence: it is not in the hash chain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.store.store import EvidenceStore
    from agent.store.verify import VerifiedCheckpoint

KEY_SOURCE = "annexa:verify"


@dataclass(frozen=True)
class VerifyStatus:
    at: float  # Unix time of the last verification (whatever its result)
    ok: bool
    last_ok: float | None  # Unix time of the last verification that passed
    runs: int = 0
    problem: str | None = None


def record(store: EvidenceStore, *, ok: bool, runs: int, problem: str | None,
           now: dt.datetime | None = None, head: tuple[int, str | None] | None = None,
           full: bool = True) -> VerifyStatus:
    """Save the result of a store verification (never raises for a read-only store: returns the status).

    A passing verification also moves the verified checkpoint to the chain head it checked (`head`:
    position and hash), from which the next `verify --store --incremental` starts.
    """
    when = now or dt.datetime.now(dt.UTC)
    at = when.timestamp()
    previous = load(store)
    last_ok = at if ok else (previous.last_ok if previous else None)
    status = VerifyStatus(at=at, ok=ok, last_ok=last_ok, runs=runs, problem=(problem or None) and problem[:500])
    value: dict[str, Any] = {"at": status.at, "ok": status.ok, "last_ok": status.last_ok, "runs": status.runs,
                             "problem": status.problem}
    values: dict[str, Any] = {"last": value}
    if ok and head is not None and head[0] > 0 and head[1]:
        stamp = when.astimezone(dt.UTC).isoformat(timespec="seconds")
        earlier = load_checkpoint(store)
        values[CHECKPOINT_KEY] = {"seq": head[0], "hash": head[1], "at": stamp,
                                  "full_at": stamp if full else (earlier.full_at if earlier else None)}
    with store.engine.begin() as conn:
        store.save_cursors(conn, KEY_SOURCE, values)
    return status


CHECKPOINT_KEY = "checkpoint"


def load_checkpoint(store: EvidenceStore) -> VerifiedCheckpoint | None:
    """The chain position the last passing verification reached, or None."""
    from agent.store.verify import VerifiedCheckpoint

    value = store.cursor_value(KEY_SOURCE, CHECKPOINT_KEY)
    if not isinstance(value, dict):
        return None
    seq, digest = value.get("seq"), value.get("hash")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1 or not isinstance(digest, str):
        return None
    full_at = value.get("full_at")
    return VerifiedCheckpoint(seq=seq, hash=digest, at=str(value.get("at")),
                              full_at=full_at if isinstance(full_at, str) else None)


def full_check_due(checkpoint: VerifiedCheckpoint | None, full_every_days: int,
                   now: dt.datetime | None = None) -> bool:
    """Whether a scheduled verification must be a full one (never verified in full, or too long ago)."""
    if checkpoint is None or checkpoint.full_at is None or full_every_days <= 0:
        return True
    try:
        last_full = dt.datetime.fromisoformat(checkpoint.full_at)
    except ValueError:
        return True
    return (now or dt.datetime.now(dt.UTC)) - last_full >= dt.timedelta(days=full_every_days)


def load(store: EvidenceStore) -> VerifyStatus | None:
    """The last recorded verification, or None when the store was never verified."""
    value = store.cursor_value(KEY_SOURCE, "last")
    if not isinstance(value, dict) or "at" not in value:
        return None
    return VerifyStatus(at=float(value["at"]), ok=bool(value.get("ok")),
                        last_ok=None if value.get("last_ok") is None else float(value["last_ok"]),
                        runs=int(value.get("runs") or 0), problem=value.get("problem"))


def verify_and_record(store: EvidenceStore, full_every_days: int = 0) -> VerifyStatus:
    """Verify the store and record the result: incremental from the verified checkpoint, or in full
    when `full_every_days` is 0, when there is no checkpoint, or when the last full check is that old."""
    from agent.store.verify import verify_store

    checkpoint = load_checkpoint(store)
    full = full_check_due(checkpoint, full_every_days)
    report = verify_store(store, after=None if full else checkpoint)
    return record(store, ok=report.ok, runs=report.runs, problem=report.problems[0] if report.problems else None,
                  head=(report.head_seq, report.head), full=full)
