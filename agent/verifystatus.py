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

KEY_SOURCE = "annexa:verify"


@dataclass(frozen=True)
class VerifyStatus:
    at: float  # Unix time of the last verification (whatever its result)
    ok: bool
    last_ok: float | None  # Unix time of the last verification that passed
    runs: int = 0
    problem: str | None = None


def record(store: EvidenceStore, *, ok: bool, runs: int, problem: str | None,
           now: dt.datetime | None = None) -> VerifyStatus:
    """Save the result of a store verification (never raises for a read-only store: returns the status)."""
    at = (now or dt.datetime.now(dt.UTC)).timestamp()
    previous = load(store)
    last_ok = at if ok else (previous.last_ok if previous else None)
    status = VerifyStatus(at=at, ok=ok, last_ok=last_ok, runs=runs, problem=(problem or None) and problem[:500])
    value: dict[str, Any] = {"at": status.at, "ok": status.ok, "last_ok": status.last_ok, "runs": status.runs,
                             "problem": status.problem}
    with store.engine.begin() as conn:
        store.save_cursors(conn, KEY_SOURCE, {"last": value})
    return status


def load(store: EvidenceStore) -> VerifyStatus | None:
    """The last recorded verification, or None when the store was never verified."""
    value = store.cursor_value(KEY_SOURCE, "last")
    if not isinstance(value, dict) or "at" not in value:
        return None
    return VerifyStatus(at=float(value["at"]), ok=bool(value.get("ok")),
                        last_ok=None if value.get("last_ok") is None else float(value["last_ok"]),
                        runs=int(value.get("runs") or 0), problem=value.get("problem"))


def verify_and_record(store: EvidenceStore) -> VerifyStatus:
    """Run the full store verification (as `annexa verify --store`) and record its result."""
    from agent.store.verify import verify_store

    report = verify_store(store)
    return record(store, ok=report.ok, runs=report.runs, problem=report.problems[0] if report.problems else None)
