"""Per-run metrics summaries: a scrape adds them up instead of counting every open finding, and gives
exactly the numbers of the live count; a source without a current summary is counted live."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from agent.cli.app import App
from agent.metrics.collector import StoreMetrics
from agent.metrics.snapshot import SUMMARY_KEY, _live_summaries, summaries
from agent.runner import Runner, select_sources
from agent.store.schema import cursors
from tests.conftest import World, write_config


def _run(app: App) -> None:
    Runner(app.config, app.store(), app.rule_set()).run(select_sources(app.config, None, None))


def _snapshot(app: App) -> tuple[object, ...]:
    metrics = StoreMetrics(app, cache_seconds=0)
    snap = metrics.snapshot()
    return (snap.findings, snap.rule_findings, {k: v.resources for k, v in snap.sources.items()},
            [(c.id, c.status, c.evidence_age is None) for c in snap.controls])


def test_a_scrape_reads_the_summaries_and_matches_the_live_count(tmp_path: Path, world: World, store_url: str) -> None:
    for i in range(30):
        world.add("testkit.widget", f"w{i}", {"kind": "server" if i % 3 else "db",
                                              "encryption": {"enabled": i % 4 != 0}, "rules": []})
    app = App(str(write_config(tmp_path, world, store_url)))
    _run(app)
    world.remove("w0")
    world.add("testkit.widget", "w1", {"kind": "db", "encryption": {"enabled": False}})
    _run(app)
    store = app.store()
    stored = summaries(store)
    assert stored["kit"].run_id == 2 and stored["kit"].resources == 29
    with store.engine.connect() as conn:
        live = _live_summaries(conn, None, store.coverage(conn))
    assert sorted(stored["kit"].findings) == sorted(live["kit"].findings)
    from_summary = _snapshot(app)
    with store.engine.begin() as conn:
        conn.execute(delete(cursors).where(cursors.c.key == SUMMARY_KEY))
    assert summaries(store)["kit"].run_id is None  # counted live
    assert _snapshot(app) == from_summary


def test_a_source_whose_latest_run_has_no_summary_is_counted_live(tmp_path: Path, world: World) -> None:
    world.add("testkit.widget", "w1", {"kind": "db", "encryption": {"enabled": False}})
    app = App(str(write_config(tmp_path, world)))
    _run(app)
    store = app.store()
    later = store.begin_run(["kit"])  # a later run of the source that never got to its summary
    store.source_recorder(later, "kit", "testkit")
    with store.engine.connect() as conn:
        value = conn.execute(select(cursors.c.value).where(cursors.c.key == SUMMARY_KEY)).scalar_one()
    assert value["run_id"] == 1
    assert summaries(store)["kit"].run_id is None


def test_evidence_age_follows_the_newest_run_that_saw_the_unchanged_findings(tmp_path: Path, world: World) -> None:
    """An unchanged run writes nothing per finding, so the age must come from the runs that covered the
    source, not from the interval's stored columns: read a minute ago is a minute old, not three days."""
    from datetime import UTC, datetime, timedelta

    from agent.posture import posture
    from tests.agent.export.sampling_store import fake_clock

    world.add("testkit.widget", "w1", {"kind": "db", "encryption": {"enabled": True}})
    app = App(str(write_config(tmp_path, world)))
    clock = [datetime.now(UTC) - timedelta(days=3)]
    with fake_clock(clock):
        _run(app)
        clock[0] = datetime.now(UTC) - timedelta(minutes=1)
        _run(app)
    for drop_summary in (False, True):
        if drop_summary:  # counted live: the same answer
            with app.store().engine.begin() as conn:
                conn.execute(delete(cursors).where(cursors.c.key == SUMMARY_KEY))
        snap = StoreMetrics(app, cache_seconds=0).snapshot()
        age = next(c.evidence_age for c in snap.controls if c.id == "A.8.24")
        assert age is not None and age < 600, age
        state = next(s for s in posture(app) if s.control.id == "A.8.24")
        assert state.newest_evidence is not None
        assert datetime.now(UTC) - state.newest_evidence < timedelta(minutes=10)
