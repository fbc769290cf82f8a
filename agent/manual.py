"""Manual evidence: documents (policies, training records, photos of door locks) attached to controls.

The file's bytes go to the content-addressed blob store; a ``manual_evidence`` row records who added it,
when, and until when it counts. Rows are never deleted: removal sets ``removed_at``/``removed_by``/
``removal_reason`` so an auditor can still see what was once relied on. The upload (every column) and
the removal each have a hash and are sealed as chain events (kind ``evidence``) at once, so deleting a
row, editing its note or undoing a removal fails ``annexa verify --store``.
"""

from __future__ import annotations

import getpass
import mimetypes
import os
import re
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from agent import clock
from agent.errors import AnnexaError, InputError
from agent.status import ManualEvidenceState
from agent.store.hashing import manual_removal_hash, manual_row_hash
from agent.store.schema import manual_evidence
from agent.store.timeutil import as_utc, ts_text, utcnow
from agent.yamlfile import display_path, read_input_file

if TYPE_CHECKING:
    from agent.store.store import EvidenceStore

MAX_BYTES = 100 * 1024 * 1024
MAX_VALID_DAYS = 100 * 365  # evidence is re-checked long before a century is up
MAX_BY_CHARS = 200          # uploaded_by / removed_by columns are VARCHAR(200)
MAX_NOTE_CHARS = 10_000
DURATION_UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}
_DURATION = re.compile(r"\s*([0-9]{1,9})\s*([dwmy])\s*", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12w``, ``6m``, ``1y``: days, weeks, months of 30 days, years of 365 days (at most 100 years).

    Fixed-length months and years keep expiry dates predictable (no "31st of February").
    """
    match = _DURATION.fullmatch(text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"invalid duration {text[:40]!r}: expected a positive number and a unit d, w, "
                         "m (30 days) or y (365 days), e.g. 365d, 12w, 6m, 1y")
    days = int(match.group(1)) * DURATION_UNITS[match.group(2).lower()]
    if days > MAX_VALID_DAYS:
        raise ValueError(f"duration {text.strip()!r} is too long: at most 100 years (36500d)")
    return timedelta(days=days)


def checked_text(value: str, what: str, *, limit: int, multiline: bool = False) -> str:
    """Free text given on the command line, as the store can keep it; anything else is an InputError.

    Refuses bytes that are not UTF-8 (Python shows them as lone surrogates), NUL and other control
    characters (newlines and tabs allowed when `multiline`), and text longer than `limit`.
    """
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise InputError(None, "is not valid UTF-8 text", field=what)
    allowed = "\n\t" if multiline else ""
    bad = next((ch for ch in value if unicodedata.category(ch) == "Cc" and ch not in allowed), None)
    if bad is not None:
        raise InputError(None, f"contains the control character {bad!r}; use plain text", field=what)
    if len(value) > limit:
        raise InputError(None, f"is {len(value)} characters long; at most {limit} are allowed", field=what)
    return value


def evidence_filename(path: Path) -> str:
    """The file name stored with the evidence: UTF-8, no control characters (it is shown in reports)."""
    name = path.name
    if not name:
        raise InputError(display_path(path), "is not a file name")
    try:
        return checked_text(name, "file name", limit=255)
    except InputError as exc:
        raise InputError(display_path(path), f"the file name {exc.detail}; rename the file") from None


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
    """The file's bytes; a missing, unreadable, empty, oversized or non-regular file is an InputError."""
    name = display_path(path)
    try:
        if path.is_dir():
            raise InputError(name, "is a directory; give one file (zip a folder first)")
        size = path.stat().st_size
    except (OSError, ValueError):
        size = 0  # read_input_file names the problem
    if size > max_bytes:
        raise InputError(name, f"file is {size / 1048576:.1f} MB; manual evidence is limited to "
                         f"{max_bytes // 1048576} MB per file (store large archives elsewhere and attach "
                         "a reference document)")
    data = read_input_file(path, max_bytes, what="file")
    if not data:
        raise InputError(name, "file is empty")
    return data


def add_evidence(store: EvidenceStore, control: str, path: Path, *, valid_for: timedelta | None = None,
                 note: str | None = None, uploaded_by: str | None = None,
                 uploaded_at: datetime | None = None, data: bytes | None = None) -> dict[str, Any]:
    """Store the file and one manual_evidence row for `control` (a canonical 2022 id); return the row.

    `data`: the file's bytes when the caller has already read them with read_evidence_file. Every
    check happens before the blob or the row is written.
    """
    filename = evidence_filename(path)
    if note:
        note = checked_text(note, "--note", limit=MAX_NOTE_CHARS, multiline=True)
    by = checked_text(uploaded_by or default_user(), "--by", limit=MAX_BY_CHARS)
    raw = read_evidence_file(path) if data is None else data
    at = as_utc(uploaded_at) or utcnow()
    try:
        until = at + valid_for if valid_for else None
    except OverflowError:
        raise InputError(None, "the expiry date would be out of range", field="--valid-for") from None
    digest = store.blobs.put_bytes(raw)
    row: dict[str, Any] = {
        "control": control, "filename": filename, "blob": digest, "size": len(raw),
        "media_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
        "note": note or None, "uploaded_by": by, "uploaded_at": at,
        "valid_until": until, "removed_at": None, "removed_by": None, "removal_reason": None,
    }
    row["row_hash"] = manual_row_hash(row)
    with store.engine.begin() as conn:
        row["id"] = conn.execute(insert(manual_evidence).values(**row)).inserted_primary_key[0]
        sealed = store.seal_event("evidence", at, {"action": "add", "evidence_id": row["id"], "control": control,
                                                   "row_hash": row["row_hash"]}, conn)
    store.checkpoint_after(sealed)
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
        "size": r["size"], "media_type": r["media_type"], "note": shown_note(r), "uploaded_by": r["uploaded_by"],
        "uploaded_at": ts_text(r["uploaded_at"]), "valid_until": ts_text(r["valid_until"]),
        "state": evidence_state(r, at), "removed_at": ts_text(r["removed_at"]), "removed_by": r["removed_by"],
        "row_hash": r["row_hash"],
    } for r in rows]


def shown_note(row: Any) -> str | None:
    """The note as listed: the upload's note, then the removal reason (each under its own hash)."""
    if not row["removal_reason"]:
        return row["note"]
    return (f"{row['note']}\n" if row["note"] else "") + f"removal reason: {row['removal_reason']}"


def remove_evidence(store: EvidenceStore, evidence_id: int, *, removed_by: str | None = None,
                    reason: str | None = None, removed_at: datetime | None = None) -> dict[str, Any]:
    """Soft-delete one record: the removal (when, by whom, why) is hashed and sealed as a chain event."""
    if reason:
        reason = checked_text(reason, "--reason", limit=MAX_NOTE_CHARS, multiline=True)
    removed_by = checked_text(removed_by or default_user(), "--by", limit=MAX_BY_CHARS)
    if not 0 < evidence_id < 2**31:
        raise AnnexaError(f"no manual evidence with id {evidence_id} (see `annexa evidence list --all`)")
    with store.engine.begin() as conn:
        query = select(manual_evidence).where(manual_evidence.c.id == evidence_id)
        row = conn.execute(query).mappings().first()
        if row is None:
            raise AnnexaError(f"no manual evidence with id {evidence_id} (see `annexa evidence list --all`)")
        if row["removed_at"] is not None:
            raise AnnexaError(f"manual evidence {evidence_id} was already removed on "
                              f"{ts_text(row['removed_at'])} by {row['removed_by']}")
        values: dict[str, Any] = {"removed_at": as_utc(removed_at) or utcnow(), "removed_by": removed_by,
                                  "removal_reason": reason or None}
        values["removal_hash"] = manual_removal_hash({**dict(row), **values})
        conn.execute(update(manual_evidence).where(manual_evidence.c.id == evidence_id).values(**values))
        sealed = store.seal_event("evidence", values["removed_at"], {
            "action": "remove", "evidence_id": evidence_id, "control": row["control"],
            "row_hash": values["removal_hash"]}, conn)
    store.checkpoint_after(sealed)
    out = {**dict(row), **values}
    out["note"] = shown_note(out)
    return out


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
