"""Manual evidence: content-addressed files, expiry, soft removal, and the store's integrity check."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from agent.catalogue import load_catalogue
from agent.errors import AnnexaError, InputError
from agent.manual import (
    add_evidence,
    manual_evidence_rows,
    manual_evidence_states,
    parse_duration,
    read_evidence_file,
    remove_evidence,
)
from agent.status import control_states
from agent.store.schema import manual_evidence
from agent.store.store import EvidenceStore
from agent.store.verify import verify_store
from tests.support.evidence import drop_blob

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[EvidenceStore]:
    s = EvidenceStore.open(store_url, str(tmp_path / "evidence"))
    yield s
    s.close()


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "infosec-policy.pdf"
    path.write_bytes(b"%PDF-1.4 information security policy v3\n")
    return path


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("12w", 84), ("6m", 180), ("1y", 365), (" 2Y ", 730)])
def test_durations(text: str, days: int) -> None:
    assert parse_duration(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "30", "d", "0d", "-3d", "1.5y", "3h", "1 year"])
def test_bad_durations_explain_the_units(text: str) -> None:
    with pytest.raises(ValueError, match="30 days"):
        parse_duration(text)


def test_file_problems_are_one_clear_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_evidence_file(tmp_path / "missing.pdf")
    with pytest.raises(InputError, match="is a directory"):
        read_evidence_file(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_evidence_file(tmp_path / "empty.txt")
    (tmp_path / "big.bin").write_bytes(b"x" * 2048)
    with pytest.raises(InputError, match="limited to 0 MB"):
        read_evidence_file(tmp_path / "big.bin", max_bytes=1024)
    assert read_evidence_file(tmp_path / "big.bin", max_bytes=4096) == b"x" * 2048


def test_add_stores_the_bytes_content_addressed(store: EvidenceStore, policy: Path) -> None:
    raw = policy.read_bytes()
    row = add_evidence(store, "A.5.1", policy, valid_for=timedelta(days=365), note="board approved",
                       uploaded_by="alice", uploaded_at=T0)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert row["blob"] == digest and row["size"] == len(raw)
    assert store.blobs.get_bytes(digest) == raw
    assert store.blobs.exists(digest)
    again = add_evidence(store, "A.5.36", policy, uploaded_by="bob", uploaded_at=T0)
    assert again["blob"] == digest and again["id"] != row["id"]
    [listed] = manual_evidence_rows(store, control="A.5.1", now=T0)
    assert listed == {
        "id": row["id"], "control": "A.5.1", "filename": "infosec-policy.pdf", "sha256": digest,
        "size": len(raw), "media_type": "application/pdf", "note": "board approved", "uploaded_by": "alice",
        "uploaded_at": "2026-03-01T12:00:00.000000Z", "valid_until": "2027-03-01T12:00:00.000000Z",
        "state": "current", "removed_at": None, "removed_by": None, "row_hash": row["row_hash"]}


def test_states_follow_expiry_and_removal(store: EvidenceStore, policy: Path) -> None:
    short = add_evidence(store, "A.6.3", policy, valid_for=timedelta(days=30), uploaded_by="a", uploaded_at=T0)
    add_evidence(store, "A.7.1", policy, uploaded_by="a", uploaded_at=T0)           # never expires
    gone = add_evidence(store, "A.7.2", policy, uploaded_by="a", uploaded_at=T0)
    remove_evidence(store, gone["id"], removed_by="auditor-liaison", reason="wrong site", removed_at=T0)

    before = manual_evidence_states(store, now=T0 + timedelta(days=29))
    assert (before["A.6.3"].current, before["A.6.3"].expired) == (1, 0)
    assert before["A.6.3"].earliest_expiry == short["valid_until"]
    assert before["A.6.3"].newest == T0
    assert "A.7.2" not in before
    after = manual_evidence_states(store, now=T0 + timedelta(days=30))
    assert (after["A.6.3"].current, after["A.6.3"].expired) == (0, 1)
    assert (after["A.7.1"].current, after["A.7.1"].expired) == (1, 0)

    states = {s.control.id: s.status for s in control_states(load_catalogue().controls, [], {}, manual=before)}
    assert states["A.6.3"] == "manual" and states["A.7.1"] == "manual" and states["A.7.2"] == "unknown"
    states = {s.control.id: s.status for s in control_states(load_catalogue().controls, [], {}, manual=after)}
    assert states["A.6.3"] == "failing" and states["A.7.1"] == "manual"

    listed = {r["control"]: r for r in manual_evidence_rows(store, include_removed=True,
                                                            now=T0 + timedelta(days=31))}
    assert listed["A.6.3"]["state"] == "expired"
    assert listed["A.7.2"]["state"] == "removed" and listed["A.7.2"]["removed_by"] == "auditor-liaison"
    assert listed["A.7.2"]["note"] == "removal reason: wrong site"
    assert "A.7.2" not in {r["control"] for r in manual_evidence_rows(store)}


def test_remove_twice_or_unknown_is_an_error(store: EvidenceStore, policy: Path) -> None:
    row = add_evidence(store, "A.5.1", policy, uploaded_by="a")
    remove_evidence(store, row["id"], removed_by="b")
    with pytest.raises(AnnexaError, match="already removed"):
        remove_evidence(store, row["id"], removed_by="b")
    with pytest.raises(AnnexaError, match="no manual evidence with id 999"):
        remove_evidence(store, 999)


def test_verify_passes_after_add_and_remove_and_detects_tampering(store: EvidenceStore, policy: Path) -> None:
    row = add_evidence(store, "A.5.1", policy, valid_for=timedelta(days=30), uploaded_by="alice")
    other = add_evidence(store, "A.5.2", policy, uploaded_by="alice")
    assert verify_store(store).ok
    remove_evidence(store, other["id"], removed_by="bob", reason="superseded")
    report = verify_store(store)
    assert report.ok, report.problems
    assert report.blobs == 1

    with store.engine.begin() as conn:  # someone extends the validity behind the tool's back
        conn.execute(update(manual_evidence).where(manual_evidence.c.id == row["id"])
                     .values(valid_until=datetime(2099, 1, 1, tzinfo=UTC)))
    report = verify_store(store)
    assert not report.ok
    assert report.problems[0].startswith(f"manual_evidence row {row['id']} (A.5.1 infosec-policy.pdf)")


def test_verify_detects_a_missing_evidence_file(store: EvidenceStore, policy: Path) -> None:
    row = add_evidence(store, "A.5.1", policy, uploaded_by="alice")
    store.blobs.flush()  # type: ignore[attr-defined]
    drop_blob(store.blobs.root, row["blob"])  # type: ignore[attr-defined]
    report = verify_store(store)
    assert report.problems == [f"evidence blob {row['blob']} is missing"]


# --- issue 9, point 6: --valid-for 9000y, odd file names and ids were exit 70 ------------------------

@pytest.mark.parametrize("text", ["9000y", "36501d", "1300m", "1" + "0" * 30 + "d", "9" * 5000 + "d", "5d6"])
def test_durations_are_bounded(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
    assert parse_duration("100y") == timedelta(days=36500)


def test_a_non_utf8_or_control_character_file_name_is_refused_before_writing(
        store: EvidenceStore, tmp_path: Path) -> None:
    import os

    for raw in (b"\xff\xfe.pdf", b"line\nbreak.pdf", b"esc\x1b[31m.pdf"):
        path = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/" + raw))
        path.write_bytes(b"content")
        with pytest.raises(InputError, match="rename the file"):
            add_evidence(store, "A.5.1", path)
    assert manual_evidence_rows(store, include_removed=True) == []
    assert not any(p.is_file() for p in (tmp_path / "evidence").rglob("*"))


@pytest.mark.parametrize(("option", "value", "words"), [
    ("note", "a\x00b", "control character"),
    ("note", "\udcff", "not valid UTF-8"),
    ("uploaded_by", "x" * 201, "at most 200"),
    ("uploaded_by", "bob\n", "control character"),
])
def test_text_options_are_checked_before_writing(store: EvidenceStore, policy: Path, option: str, value: str,
                                                 words: str) -> None:
    with pytest.raises(InputError, match=words):
        add_evidence(store, "A.5.1", policy, **{option: value})  # type: ignore[arg-type]
    assert manual_evidence_rows(store, include_removed=True) == []


def test_fifo_and_devices_are_not_evidence_files(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.pdf"
    os.mkfifo(fifo)
    for target in (fifo, Path("/dev/zero")):
        with pytest.raises(InputError, match=r"not a regular file|empty"):
            read_evidence_file(target)


def test_out_of_range_ids_are_unknown(store: EvidenceStore) -> None:
    for bad in (0, -5, 2**31, 10**30):
        with pytest.raises(AnnexaError, match="no manual evidence"):
            remove_evidence(store, bad)
