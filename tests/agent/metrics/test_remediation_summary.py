"""Remediation summaries kept at the end of each run give exactly what folding the whole history gives,
run after run (fails, fixes, regressions, removals, collection errors, risk of a reopened failure), and a
source without a current summary is folded live."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from agent.cli.app import App
from agent.metrics.remediation import remediation_values
from agent.metrics.remediation_summary import KEY, current, finished_through, fold, source_rows, stored
from agent.remediation import store_episodes
from agent.runner import Runner, select_sources
from agent.store.schema import cursors
from tests.agent.export.sampling_store import fake_clock
from tests.conftest import World, write_config

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SLA = {"critical": 7, "high": 30, "medium": 90}


def _run(app: App) -> None:
    Runner(app.config, app.store(), app.rule_set()).run(select_sources(app.config, None, None))


def _reference(store: Any, now: datetime) -> dict[str, Any]:
    """The figures as the scrape computed them before summaries: every episode folded from the history."""
    out: dict[str, Any] = {}
    for ep in store_episodes(store, SLA.get):
        entry = out.setdefault(ep.severity, {"count": 0, "sum": 0.0, "past_sla": 0, "durations": []})
        if ep.outcome == "fixed":
            entry["count"] += 1
            entry["durations"].append(ep.seconds(now))
        elif ep.outcome == "open" and ep.past_sla(now):
            entry["past_sla"] += 1
    return out


def _world_step(world: World, rng: random.Random, state: dict[str, dict[str, Any]]) -> None:
    for wid in rng.sample(sorted(state), 6):
        state[wid]["encryption"]["enabled"] = not state[wid]["encryption"]["enabled"]
    for wid in rng.sample(sorted(state), 2):
        state[wid]["rules"] = [] if state[wid]["rules"] else [{"cidr": "0.0.0.0/0", "port": 22}]
    world.resources = [{"type": "testkit.widget", "id": wid, "name": wid, "data": data, "region": "r1"}
                       for wid, data in sorted(state.items()) if not data.get("gone")]
    world.fail = [{"type": "testkit.widget", "message": "AccessDenied", "region": "r1"}] if rng.random() < 0.2 else []
    world.save()


def test_summaries_equal_the_folded_history_run_after_run(tmp_path: Path, world: World, store_url: str) -> None:
    rng = random.Random(11)
    state = {f"w{i:02d}": {"kind": "server" if i % 2 else "db", "encryption": {"enabled": rng.random() < 0.6},
                           "rules": [{"cidr": "0.0.0.0/0", "port": 22}] if i % 5 == 0 else []} for i in range(24)}
    app = App(str(write_config(tmp_path, world, store_url, extra="remediation:\n  sla_days: {critical: 7, "
                                                                  "high: 30, medium: 90}\n")))
    clock = [T0]
    with fake_clock(clock):
        for n in range(12):
            clock[0] = T0 + timedelta(days=4 * n, hours=n)
            if n == 5:
                state["w03"]["gone"] = True  # removed while failing or not: the episode ends as removed
            if n == 8:
                state["w03"].pop("gone")
            _world_step(world, rng, state)
            _run(app)
            store = app.store()
            with store.engine.connect() as conn:
                kept = stored(conn)["kit"]
                live = fold(source_rows(conn, "kit"), None, kept.through)
            assert kept.through == n + 1
            assert kept.as_json() == live.as_json(), f"after run {n + 1}"
    now = T0 + timedelta(days=60)
    values = remediation_values(store, SLA.get, now)
    reference = _reference(store, now)
    assert any(r["count"] for r in reference.values()) and any(r["past_sla"] for r in reference.values())
    for severity, ref in reference.items():
        got = values[severity]
        assert (got["count"], got["past_sla"]) == (ref["count"], ref["past_sla"]), severity
        assert abs(got["sum"] - sum(ref["durations"])) < 1e-3
        assert got["buckets"][-1] == sum(1 for d in ref["durations"] if d <= 365 * 86400)
        assert got["buckets"][3] == sum(1 for d in ref["durations"] if d <= 14 * 86400)


def test_a_source_without_a_current_summary_is_folded_live(tmp_path: Path, world: World) -> None:
    world.add("testkit.widget", "w1", {"kind": "db", "encryption": {"enabled": False}})
    app = App(str(write_config(tmp_path, world)))
    clock = [T0]
    with fake_clock(clock):
        _run(app)
        clock[0] = T0 + timedelta(days=3)
        world.add("testkit.widget", "w1", {"kind": "db", "encryption": {"enabled": True}})
        _run(app)
    store = app.store()
    from_summary = current(store)["kit"].as_json()
    fixed = from_summary["severities"]["high"]
    assert fixed["fixed"] == 1 and abs(fixed["fixed_us"] - 3 * 86400 * 1_000_000) < 60 * 1_000_000  # fake clock
    with store.engine.begin() as conn:  # a store written before summaries existed
        conn.execute(delete(cursors).where(cursors.c.key == KEY))
    assert current(store)["kit"].as_json() == from_summary
    later = store.begin_run(["kit"])  # a run still going: a summary must not claim to cover it
    store.source_recorder(later, "kit", "testkit")
    with store.engine.connect() as conn:
        assert finished_through(conn, "kit") == later - 1
    assert current(store)["kit"].as_json() == from_summary
    with fake_clock([T0 + timedelta(days=5)]):
        _run(app)  # seals the abandoned run as an orphan first, then writes a whole summary again
    with store.engine.connect() as conn:
        assert stored(conn)["kit"].through == later + 1
        assert stored(conn)["kit"].as_json()["severities"] == from_summary["severities"]
