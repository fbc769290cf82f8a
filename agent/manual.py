"""Manual evidence: documents (policies, training records, photos of door locks) attached to controls.

The file's bytes go to the content-addressed blob store; a ``manual_evidence`` row records who added it,
when, and until when it counts. Rows are never deleted: removal sets ``removed_at``/``removed_by`` so an
auditor can still see what was once relied on. Those two columns are deliberately outside the row hash
(removal is an update), while everything that defines the evidence is inside it.
"""

from __future__ import annotations

import getpass
import mimetypes
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from agent import clock
from agent.errors import AnnexaError, InputError
from agent.status import ManualEvidenceState
from agent.store.hashing import manual_row_hash
from agent.store.schema import manual_evidence
from agent.store.timeutil import as_utc, ts_text, utcnow

if TYPE_CHECKING:
    from agent.store.store import EvidenceStore

MAX_BYTES = 100 * 1024 * 1024
DURATION_UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}
_DURATION = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12w``, ``6m``, ``1y``: days, weeks, months of 30 days, years of 365 days.

    Fixed-length months and years keep expiry dates predictable (no "31st of February").
    """
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"invalid duration {text!r}: expected a positive number and a unit d, w, "
                         "m (30 days) or y (365 days), e.g. 365d, 12w, 6m, 1y")
    return timedelta(days=int(match.group(1)) * DURATION_UNITS[match.group(2).lower()])


def default_user() -> str:
    """Who is adding evidence when --by is not given: $USER, else the OS account name."""
    user = os.environ.get("USER") or os.environ.get("USERNAME")
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        return "unknown"


def read_evidence_file(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes; a missing, unreadable, empty or oversized file is an InputError."""
    try:
        if path.is_dir():
            raise InputError(str(path), "is a directory; give one file (zip a folder first)")
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(str(path), "file not found") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read file: {exc.strerror}") from None
    if size > max_bytes:
        raise InputError(str(path), f"file is {size / 1048576:.1f} MB; manual evidence is limited to "
                         f"{max_bytes // 1048576} MB per file (store large archives elsewhere and attach "
                         "a reference document)")
    if size == 0:
        raise InputError(str(path), "file is empty")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read file: {exc.strerror}") from None


def add_evidence(store: EvidenceStore, control: str, path: Path, *, valid_for: timedelta | None = None,
                 note: str | None = None, uploaded_by: str | None = None,
                 uploaded_at: datetime | None = None) -> dict[str, Any]:
    """Store the file and one manual_evidence row for `control` (a canonical 2022 id); return the row."""
    raw = read_evidence_file(path)
    digest = store.blobs.put_bytes(raw)
    at = as_utc(uploaded_at) or utcnow()
    row: dict[str, Any] = {
        "control": control, "filename": path.name, "blob": digest, "size": len(raw),
        "media_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        "note": note or None, "uploaded_by": uploaded_by or default_user(), "uploaded_at": at,
        "valid_until": at + valid_for if valid_for else None, "removed_at": None, "removed_by": None,
    }
    row["row_hash"] = manual_row_hash(row)
    with store.engine.begin() as conn:
        row["id"] = conn.execute(insert(manual_evidence).values(**row)).inserted_primary_key[0]
    return row


def evidence_state(row: Any, now: datetime) -> str:
    """current, expired or removed."""
    if row["removed_at"] is not None:
        return "removed"
    until = as_utc(row["valid_until"])
    return "expired" if until is not None and until <= now else "current"


def manual_evidence_rows(store: EvidenceStore, control: str | None = None, include_removed: bool = False,
                         now: datetime | None = None) -> list[dict[str, Any]]:
    """Manual evidence records, oldest first, as plain JSON-friendly dicts (also used by the exporter).

    Keys: id, control, filename, sha256, size, media_type, note, uploaded_by, uploaded_at, valid_until,
    state, removed_at, removed_by, row_hash. Timestamps are "…Z" text.
    """
    at = as_utc(now) or clock.now()
    query = select(manual_evidence).order_by(manual_evidence.c.id)
    if control is not None:
        query = query.where(manual_evidence.c.control == control)
    if not include_removed:
        query = query.where(manual_evidence.c.removed_at.is_(None))
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [{
        "id": r["id"], "control": r["control"], "filename": r["filename"], "sha256": r["blob"],
        "size": r["size"], "media_type": r["media_type"], "note": r["note"], "uploaded_by": r["uploaded_by"],
        "uploaded_at": ts_text(r["uploaded_at"]), "valid_until": ts_text(r["valid_until"]),
        "state": evidence_state(r, at), "removed_at": ts_text(r["removed_at"]), "removed_by": r["removed_by"],
        "row_hash": r["row_hash"],
    } for r in rows]


def remove_evidence(store: EvidenceStore, evidence_id: int, *, removed_by: str | None = None,
                    reason: str | None = None, removed_at: datetime | None = None) -> dict[str, Any]:
    """Soft-delete one record. The reason, if any, is appended to the note (the note is outside the hash)."""
    with store.engine.begin() as conn:
        query = select(manual_evidence).where(manual_evidence.c.id == evidence_id)
        row = conn.execute(query).mappings().first()
        if row is None:
            raise AnnexaError(f"no manual evidence with id {evidence_id} (see `annexa evidence list --all`)")
        if row["removed_at"] is not None:
            raise AnnexaError(f"manual evidence {evidence_id} was already removed on "
                              f"{ts_text(row['removed_at'])} by {row['removed_by']}")
        values: dict[str, Any] = {"removed_at": as_utc(removed_at) or utcnow(),
                                  "removed_by": removed_by or default_user()}
        if reason:
            values["note"] = f"{row['note']}\n" if row["note"] else ""
            values["note"] += f"removal reason: {reason}"
        conn.execute(update(manual_evidence).where(manual_evidence.c.id == evidence_id).values(**values))
    return {**dict(row), **values}


def manual_evidence_states(store: EvidenceStore,
                           now: datetime | None = None) -> dict[str, ManualEvidenceState]:
    """Per control: how many records are current or expired (removed ones do not count), as of `now`.

    `now` defaults to agent.clock.now() (honours ANNEXA_NOW). A record is current while it has no expiry
    or its valid_until is later than `now`.
    """
    at = as_utc(now) or clock.now()
    cols = manual_evidence.c
    out: dict[str, ManualEvidenceState] = {}
    with store.engine.connect() as conn:
        rows = conn.execute(select(cols.control, cols.uploaded_at, cols.valid_until)
                            .where(cols.removed_at.is_(None))).all()
    for control, uploaded, until in rows:
        state = out.setdefault(control, ManualEvidenceState())
        uploaded, until = as_utc(uploaded), as_utc(until)
        if until is not None and until <= at:
            state.expired += 1
        else:
            state.current += 1
            if until is not None and (state.earliest_expiry is None or until < state.earliest_expiry):
                state.earliest_expiry = until
        if uploaded and (state.newest is None or uploaded > state.newest):
            state.newest = uploaded
    return out
