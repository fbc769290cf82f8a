"""Issue 9 point 1: one SQL UPDATE or DELETE on any column an auditor reads fails `verify --store`, naming it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from agent.manual import add_evidence, remove_evidence
from agent.store.schema import findings, manual_evidence, resource_states, run_sources, runs
from agent.store.verify import verify_store
from tests.agent.store.test_store import Harness
from tests.conftest import World


@pytest.fixture
def harness(tmp_path: Path, world: World, store_url: str) -> Harness:
    world.add("testkit.widget", "w1", {"kind": "server", "encryption": {"enabled": True}, "rules": []})
    world.add("testkit.widget", "w2", {"kind": "db", "encryption": {"enabled": False}})
    h = Harness(tmp_path, world, store_url)
    h.run()
    world.remove("w2").save()  # run 2 closes w2's intervals; run 3 changes nothing
    h.run()
    h.run()
    return h


def _row(h: Harness, is_open: bool) -> int:
    with h.store.engine.connect() as conn:
        return int(conn.execute(select(findings.c.id).where(findings.c.open.is_(is_open))
                                .order_by(findings.c.id)).scalars().first())


FINDING_EDITS: list[tuple[str, Any]] = [
    ("severity", "info"), ("message", "all good"), ("controls", ["A.8.99"]), ("exception", "EXC-1"),
    ("evidence", "sha256:" + "0" * 64), ("title", "harmless"), ("resource_name", "other"), ("status", "excepted"),
    ("rule_id", "other.rule"), ("account", "999"), ("region", "mars-1"),
    ("last_seen", datetime(2030, 1, 1, tzinfo=UTC)), ("last_run", 99), ("first_run", 2),
    ("first_seen", datetime(2020, 1, 1, tzinfo=UTC)), ("open", False),
]


@pytest.mark.parametrize("which", ["open", "closed"])
@pytest.mark.parametrize(("column", "value"), FINDING_EDITS, ids=[c for c, _ in FINDING_EDITS])
def test_any_finding_column_update_is_named(harness: Harness, column: str, value: Any, which: str) -> None:
    anchor = harness.store.chain_head()[1]  # type: ignore[index]
    row_id = _row(harness, which == "open")
    if column == "open":
        value = which != "open"
    with harness.store.engine.begin() as conn:
        conn.execute(update(findings).where(findings.c.id == row_id).values({column: value}))
    for report in (verify_store(harness.store), verify_store(harness.store, anchors=[anchor])):
        assert not report.ok
        first = report.problems[0]
        assert first.startswith(f"findings row {row_id} "), first
        assert column in first, first


RESOURCE_EDITS: list[tuple[str, Any]] = [("name", "x"), ("evidence", "sha256:" + "1" * 64), ("account", "1"),
                                         ("last_seen", datetime(2030, 1, 1, tzinfo=UTC)), ("open", None)]


@pytest.mark.parametrize("which", ["open", "closed"])
@pytest.mark.parametrize(("column", "value"), RESOURCE_EDITS, ids=[c for c, _ in RESOURCE_EDITS])
def test_any_resource_column_update_is_named(harness: Harness, column: str, value: Any, which: str) -> None:
    if column == "open":
        value = which != "open"
    with harness.store.engine.begin() as conn:
        row_id = conn.execute(select(resource_states.c.id).where(resource_states.c.open.is_(which == "open"))
                              .order_by(resource_states.c.id)).scalars().first()
        conn.execute(update(resource_states).where(resource_states.c.id == row_id).values({column: value}))
    report = verify_store(harness.store)
    assert report.problems[0].startswith(f"resource_states row {row_id} ") and column in report.problems[0]


def test_lowering_severity_and_remapping_the_control_consistently_is_caught(harness: Harness) -> None:
    """The issue's example: a high failure turned into `info` on another control, row hash recomputed too."""
    from agent.store.hashing import finding_row_hash

    row_id = _row(harness, True)
    with harness.store.engine.begin() as conn:
        row = dict(conn.execute(select(findings).where(findings.c.id == row_id)).mappings().one())
        row.update(severity="info", controls=["A.5.1"])
        conn.execute(update(findings).where(findings.c.id == row_id).values(
            severity="info", controls=["A.5.1"], row_hash=finding_row_hash(row), hints=None))
    report = verify_store(harness.store)
    assert any("run 1 source kit: findings differ" in p for p in report.problems), report.problems


@pytest.mark.parametrize("table", ["findings", "resource_states"])
def test_deleting_any_interval_row_is_detected(harness: Harness, table: str) -> None:
    t = {"findings": findings, "resource_states": resource_states}[table]
    with harness.store.engine.connect() as conn:
        ids = conn.execute(select(t.c.id)).scalars().all()
    for row_id in ids:
        with harness.store.engine.begin() as conn:
            saved = dict(conn.execute(select(t).where(t.c.id == row_id)).mappings().one())
            conn.execute(t.delete().where(t.c.id == row_id))
        report = verify_store(harness.store)
        assert not report.ok and any(f"source kit: {'findings' if table == 'findings' else 'evidence'} differ" in p
                                     for p in report.problems), (row_id, report.problems)
        with harness.store.engine.begin() as conn:
            conn.execute(t.insert().values(**saved))
    assert verify_store(harness.store).ok


@pytest.mark.parametrize(("column", "value"), [("resources", 0), ("findings", 0),
                                               ("errors", [{"message": "x"}]), ("status", "failed"),
                                               ("finished_at", datetime(2030, 1, 1, tzinfo=UTC)),
                                               ("duration_seconds", 1e6)])
def test_run_sources_columns_are_sealed(harness: Harness, column: str, value: Any) -> None:
    with harness.store.engine.begin() as conn:
        conn.execute(update(run_sources).where(run_sources.c.run_id == 2).values({column: value}))
    report = verify_store(harness.store)
    assert report.problems[0] == (f"run_sources row (run 2, source kit): column {column} differs from its "
                                  "sealed manifest")


def test_deleting_a_run_sources_row_is_detected(harness: Harness) -> None:
    with harness.store.engine.begin() as conn:
        conn.execute(run_sources.delete().where(run_sources.c.run_id == 3))
    assert "run_sources row (run 3, source kit) was deleted" in verify_store(harness.store).problems


@pytest.mark.parametrize(("column", "value"), [("started_at", datetime(2020, 1, 1, tzinfo=UTC)),
                                               ("finished_at", datetime(2030, 1, 1, tzinfo=UTC)),
                                               ("status", "complete"), ("tool_version", "0")])
def test_run_metadata_is_sealed(harness: Harness, column: str, value: Any) -> None:
    with harness.store.engine.begin() as conn:
        if column == "status":
            conn.execute(update(runs).where(runs.c.id == 1).values(status="partial"))
        else:
            conn.execute(update(runs).where(runs.c.id == 1).values({column: value}))
    report = verify_store(harness.store)
    assert report.problems[0].startswith(f"runs row 1: column {column} differs from its sealed manifest")


def _manual(harness: Harness, tmp_path: Path) -> int:
    doc = tmp_path / "policy.pdf"
    doc.write_bytes(b"%PDF-1.4 policy")
    row = add_evidence(harness.store, "A.5.1", doc, valid_for=timedelta(days=365), note="signed by the board",
                       uploaded_by="alice")
    return int(row["id"])


@pytest.mark.parametrize(("column", "value"), [("note", "forged"), ("control", "A.5.2"), ("filename", "x.pdf"),
                                               ("valid_until", datetime(2099, 1, 1, tzinfo=UTC)),
                                               ("uploaded_by", "mallory")])
def test_manual_evidence_columns_are_sealed(harness: Harness, tmp_path: Path, column: str, value: Any) -> None:
    ev = _manual(harness, tmp_path)
    assert verify_store(harness.store).ok
    with harness.store.engine.begin() as conn:
        conn.execute(update(manual_evidence).where(manual_evidence.c.id == ev).values({column: value}))
    assert verify_store(harness.store).problems[0].startswith(f"manual_evidence row {ev} ")


def test_manual_evidence_deletion_and_removal_edits_are_detected(harness: Harness, tmp_path: Path) -> None:
    ev = _manual(harness, tmp_path)
    remove_evidence(harness.store, ev, removed_by="bob", reason="superseded")
    assert verify_store(harness.store).ok
    with harness.store.engine.begin() as conn:  # undo the removal
        conn.execute(update(manual_evidence).where(manual_evidence.c.id == ev).values(
            removed_at=None, removed_by=None, removal_reason=None, removal_hash=None))
    assert "removal was undone" in verify_store(harness.store).problems[0]
    with harness.store.engine.begin() as conn:
        conn.execute(manual_evidence.delete().where(manual_evidence.c.id == ev))
    assert f"manual_evidence row {ev} was deleted (its upload is sealed in the chain)" in \
        verify_store(harness.store).problems


def test_manual_evidence_events_are_chain_entries_not_runs(harness: Harness, tmp_path: Path) -> None:
    _manual(harness, tmp_path)
    with harness.store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(runs.c.kind).order_by(runs.c.seq))]
    assert kinds == ["run", "run", "run", "evidence"]
    assert [r["id"] for r in harness.store.runs()] == [3, 2, 1]
    head = json.loads(Path(harness.config.evidence_dir, "chain-head.json").read_text())
    assert head["seq"] == 4
