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
        live = _live_summaries(conn, None)
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
