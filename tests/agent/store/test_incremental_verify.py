"""`verify --store --incremental`: only what was sealed after the last passing verification, plus every link."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from agent.store.schema import findings, runs
from agent.store.verify import VerifiedCheckpoint, verify_store
from agent.verifystatus import full_check_due, load_checkpoint, record, verify_and_record
from tests.agent.store.test_store import Harness
from tests.conftest import World


@pytest.fixture
def harness(tmp_path: Path, world: World, store_url: str) -> Harness:
    for n in range(6):
        world.add("testkit.widget", f"w{n}", {"kind": "server", "encryption": {"enabled": n % 2 == 0}})
    h = Harness(tmp_path, world, store_url)
    h.run()
    h.run()
    return h


def _checkpoint_now(h: Harness) -> VerifiedCheckpoint:
    report = verify_store(h.store)
    assert report.ok, report.problems
    record(h.store, ok=True, runs=report.runs, problem=None, head=(report.head_seq, report.head), full=True)
    checkpoint = load_checkpoint(h.store)
    assert checkpoint is not None and checkpoint.seq == report.head_seq and checkpoint.hash == report.head
    return checkpoint


def _change_one(h: Harness, world: World) -> None:
    world.add("testkit.widget", "w1", {"kind": "server", "encryption": {"enabled": True}})
    h.run()


def _opened_after(h: Harness, seq: int) -> int:
    with h.store.engine.connect() as conn:
        later = conn.execute(select(runs.c.id).where(runs.c.seq > seq)).scalars().all()
        return int(conn.execute(select(findings.c.id).where(findings.c.first_run.in_(later))).scalars().first())


def test_incremental_checks_only_the_rows_after_the_checkpoint(harness: Harness, world: World) -> None:
    checkpoint = _checkpoint_now(harness)
    _change_one(harness, world)
    full = verify_store(harness.store)
    quick = verify_store(harness.store, after=checkpoint)
    assert full.ok and quick.ok, quick.problems
    assert quick.incremental_from == checkpoint.seq and quick.runs == full.runs  # every link still checked
    assert 0 < quick.findings < full.findings and quick.resources < full.resources
    assert any("incremental check" in note for note in quick.notes)


def test_a_row_changed_after_the_checkpoint_is_caught(harness: Harness, world: World) -> None:
    checkpoint = _checkpoint_now(harness)
    _change_one(harness, world)
    row_id = _opened_after(harness, checkpoint.seq)
    with harness.store.engine.begin() as conn:
        conn.execute(update(findings).where(findings.c.id == row_id).values(message="all good"))
    report = verify_store(harness.store, after=checkpoint)
    assert not report.ok and report.problems[0].startswith(f"findings row {row_id} ")


def test_an_older_row_is_left_to_the_full_check(harness: Harness, world: World) -> None:
    """The documented trade-off: rows sealed before the checkpoint are re-checked only in full."""
    checkpoint = _checkpoint_now(harness)
    _change_one(harness, world)
    with harness.store.engine.connect() as conn:
        old = int(conn.execute(select(findings.c.id).order_by(findings.c.id)).scalars().first())
    with harness.store.engine.begin() as conn:
        conn.execute(update(findings).where(findings.c.id == old).values(severity="info"))
    assert verify_store(harness.store, after=checkpoint).ok
    full = verify_store(harness.store)
    assert not full.ok and full.problems[0].startswith(f"findings row {old} ")


def test_a_rewritten_or_shortened_history_fails_the_incremental_check(harness: Harness) -> None:
    checkpoint = _checkpoint_now(harness)
    forged = VerifiedCheckpoint(seq=checkpoint.seq, hash="sha256:" + "0" * 64, at=checkpoint.at)
    report = verify_store(harness.store, after=forged)
    assert not report.ok and any("the history was rewritten" in p for p in report.problems)
    beyond = VerifiedCheckpoint(seq=checkpoint.seq + 5, hash=checkpoint.hash, at=checkpoint.at)
    report = verify_store(harness.store, after=beyond)
    assert not report.ok and any("shorter than the verified checkpoint" in p for p in report.problems)


def test_a_failed_verification_does_not_move_the_checkpoint(harness: Harness, world: World) -> None:
    checkpoint = _checkpoint_now(harness)
    _change_one(harness, world)
    record(harness.store, ok=False, runs=9, problem="x", head=(checkpoint.seq + 1, "sha256:" + "1" * 64))
    assert load_checkpoint(harness.store) == checkpoint


def test_the_daemon_checks_in_full_when_the_last_full_check_is_old(harness: Harness, world: World) -> None:
    now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    assert full_check_due(None, 7, now)
    recent = VerifiedCheckpoint(seq=1, hash="h", at="", full_at=(now - dt.timedelta(days=2)).isoformat())
    stale = VerifiedCheckpoint(seq=1, hash="h", at="", full_at=(now - dt.timedelta(days=8)).isoformat())
    assert not full_check_due(recent, 7, now) and full_check_due(stale, 7, now) and full_check_due(recent, 0, now)
    first = verify_and_record(harness.store, full_every_days=7)  # no checkpoint: full
    assert first.ok
    full_at = load_checkpoint(harness.store).full_at  # type: ignore[union-attr]
    _change_one(harness, world)
    assert verify_and_record(harness.store, full_every_days=7).ok
    after = load_checkpoint(harness.store)
    assert after is not None and after.full_at == full_at and after.seq > 1  # incremental: full_at kept


def test_cli_incremental_says_what_it_checked(harness: Harness, world: World, tmp_path: Path) -> None:
    config = next(tmp_path.glob("annexa.yaml"))

    def verify(*extra: str) -> dict:  # type: ignore[type-arg]
        proc = subprocess.run([sys.executable, "-m", "agent", "--config", str(config), "verify", "--store",
                               "--format", "json", *extra], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout)

    first = verify("--incremental")
    assert first["incremental_from"] is None and any("full one" in n for n in first["notes"])
    _change_one(harness, world)
    second = verify("--incremental")
    assert second["incremental_from"] == first["runs"] and 0 < second["findings"] < first["findings"]
    assert verify()["incremental_from"] is None  # without the flag: full
