"""`annexa daemon`: schedules, per-source locks across processes, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agent.cli.app import App
from agent.daemon import VERIFY_JOB, Daemon, DaemonOptions, cron_trigger, cron_weekdays
from agent.errors import AnnexaError
from agent.locks import SourceLocks, source_lock_key
from agent.store.schema import resource_states, run_sources, runs
from agent.store.store import EvidenceStore
from tests.support import slowkit  # noqa: F401  (registers the slow collector in this process too)
from tests.support.annexa_process import ROOT, AnnexaProcess, annexa_env, http_get

SLOW_SOURCES = ("s1", "s2")


def widgets(prefix: str, n: int) -> list[dict[str, object]]:
    return [{"type": "testkit.widget", "id": f"urn:{prefix}:{i}", "data": {"encryption": {"enabled": True}}}
            for i in range(n)]


def slow_config(folder: Path, store_url: str, *, gate_after: int = 0, resources: int = 3) -> Path:
    """Two slowkit sources that stop after `gate_after` resources until the file `go` exists."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = ""
    for name in SLOW_SOURCES:
        world = {"resources": widgets(name, resources), "sleep": 0.01, "gate": str(folder / "go"),
                 "gate_after": gate_after}
        (folder / f"world-{name}.json").write_text(json.dumps(world))
        sources += (f"  - name: {name}\n    type: slowkit\n    world: {folder / f'world-{name}.json'}\n"
                    f"    trace: {folder / 'trace.txt'}\n")
    config = folder / "annexa.yaml"
    config.write_text(f"store:\n  url: {store_url}\n  evidence: {folder / 'evidence'}\n"
                      f"rules:\n  paths: [{ROOT / 'tests' / 'support' / 'rules'}]\nsources:\n{sources}")
    return config


def run_sources_rows(config: Path) -> list[dict[str, object]]:
    app = App(str(config))
    store = EvidenceStore.open(app.config.store_url, app.config.evidence_dir)
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(run_sources).order_by(run_sources.c.run_id)).mappings()]
    finally:
        store.close()


# -- schedules -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("field", "names"), [
    ("*", "*"), ("1", "mon"), ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"),
    ("MON-FRI", "mon,tue,wed,thu,fri"), ("*/2", "sun,tue,thu,sat"), ("0,6", "sun,sat"), ("5-7", "sun,fri,sat"),
])
def test_weekdays_mean_what_crontab_means(field: str, names: str) -> None:
    assert cron_weekdays(field) == names


def test_a_monday_job_fires_on_monday_in_utc() -> None:
    trigger = cron_trigger("30 2 * * 1")
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 28, 12, 0, tzinfo=UTC))  # a Saturday
    assert fire == datetime(2026, 11, 30, 2, 30, tzinfo=UTC) and fire.strftime("%A") == "Monday"
    assert cron_trigger("0 * * * *", 45).jitter == 45


def test_scheduler_jobs(tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    world.write_text('{"resources": []}')
    config = tmp_path / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\nsources:\n"
                      f"  - {{name: hourly, type: testkit, world: {world}, schedule: '15 * * * *'}}\n"
                      f"  - {{name: plain, type: testkit, world: {world}}}\n"
                      f"  - {{name: paused, type: testkit, world: {world}, enabled: false}}\n")
    daemon = Daemon(App(str(config)), DaemonOptions(jitter=30, misfire_grace_time=120, default_schedule="0 3 * * *"))
    scheduler = daemon.build_scheduler()
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        verify = jobs.pop(VERIFY_JOB)  # the scheduled `annexa verify --store`, on its default schedule
        assert {f.name: str(f) for f in verify.trigger.fields}["hour"] == "3"
        assert set(jobs) == {"hourly", "plain"}  # disabled sources never run
        for job in jobs.values():
            assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 120)
            assert job.trigger.jitter == 30 and str(job.trigger.timezone) == "UTC"
        fields = {job_id: {f.name: str(f) for f in job.trigger.fields} for job_id, job in jobs.items()}
        assert (fields["hourly"]["minute"], fields["hourly"]["hour"]) == ("15", "*")
        assert (fields["plain"]["minute"], fields["plain"]["hour"]) == ("0", "3")  # the default schedule
    finally:
        scheduler.shutdown(wait=False)
    bad = Daemon(App(str(config)), DaemonOptions(default_schedule="every day"))
    with pytest.raises(AnnexaError, match="--default-schedule: not a usable cron expression"):
        bad.plan()


# -- locks ---------------------------------------------------------------------------------------
def test_source_locks_exclude_other_holders(store_url: str, tmp_path: Path) -> None:
    one = EvidenceStore.open(store_url, str(tmp_path / "ev"))
    two = EvidenceStore.open(store_url, str(tmp_path / "ev"))  # another engine: other connections
    try:
        with SourceLocks(one).hold("aws-main") as first:
            assert first
            with SourceLocks(two).hold("aws-main") as second:
                assert not second
            with SourceLocks(two).hold("gh") as other:
                assert other  # other sources are independent
        with SourceLocks(two).hold("aws-main") as again:
            assert again  # released at the end of the run
    finally:
        one.close()
        two.close()
    assert source_lock_key("aws-main") == source_lock_key("aws-main") != source_lock_key("gh")


# -- processes -----------------------------------------------------------------------------------
def test_two_daemons_never_collect_one_source_at_once(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "d"
    config = slow_config(folder, store_url, gate_after=1)
    with AnnexaProcess(config, "daemon", "--once") as first:
        for name in SLOW_SOURCES:  # both sources are mid-run, their locks held
            first.wait_for("run started", source=name)
        trace = folder / "trace.txt"
        second = AnnexaProcess(config, "daemon", "--once").start()
        assert second.wait() == 0  # skipping is normal operation for a replica
        skipped = {d.get("source") for d in second.messages() if "skipped" in str(d.get("msg"))}
        assert skipped == set(SLOW_SOURCES)
        assert first.proc is not None and first.proc.poll() is None  # the first one was still running
        (folder / "go").touch()
        assert first.wait() == 0
    pids = {line.split()[0] for line in trace.read_text().splitlines()}
    assert pids == {str(first.proc.pid)}
    rows = run_sources_rows(config)
    assert sorted(str(r["source"]) for r in rows) == list(SLOW_SOURCES)  # the second daemon ran nothing
    assert {r["status"] for r in rows} == {"complete"}

    # The first daemon released its locks when its runs ended.
    app = App(str(config))
    store = EvidenceStore.open(app.config.store_url, app.config.evidence_dir)
    try:
        for name in SLOW_SOURCES:
            with SourceLocks(store).hold(name) as acquired:
                assert acquired
    finally:
        store.close()


def test_sigterm_mid_run_leaves_a_verifiable_store(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "d"
    config = slow_config(folder, store_url, gate_after=2, resources=5)
    with AnnexaProcess(config, "daemon", "--listen", "127.0.0.1:0", "--run-at-start", "--jitter", "0",
                       "--source", "s1") as daemon:
        base = f"http://{daemon.listen_address()}"
        daemon.wait_for("run started", source="s1")
        assert http_get(f"{base}/readyz")[0] == 200
        code, _, body = http_get(f"{base}/metrics")
        assert code == 200 and 'annexa_daemon_job_running{source="s1"} 1.0' in body
        assert daemon.terminate() == 0
        assert daemon.wait_for("run interrupted", source="s1")
        assert daemon.wait_for("daemon stopped")
    rows = run_sources_rows(config)
    assert [(r["source"], r["status"]) for r in rows] == [("s1", "incomplete")]
    # The stop takes effect between resources: how many of the two the writer had taken by then
    # depends on timing, but every one it took is kept.
    assert 1 <= rows[0]["resources"] <= 2
    app = App(str(config))
    store = EvidenceStore.open(app.config.store_url, app.config.evidence_dir)
    try:
        with store.engine.connect() as conn:
            assert [r.status for r in conn.execute(select(runs.c.status))] == ["incomplete"]
            kept = conn.execute(select(func.count()).select_from(resource_states)).scalar_one()
            assert kept == rows[0]["resources"]
    finally:
        store.close()
    verify = subprocess.run([sys.executable, "-m", "agent", "verify", "--store"], env=annexa_env(config),
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_scheduled_verification_is_recorded_for_the_exporter(tmp_path: Path) -> None:
    """The daemon's verify job records its result in the store; the exporter publishes it; a broken chain
    turns annexa_store_verify_ok to 0 while the last-ok timestamp stays."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    from sqlalchemy import update

    from agent.metrics.collector import StoreMetrics, store_registry

    world = tmp_path / "world.json"
    world.write_text('{"resources": [{"type": "testkit.widget", "id": "w1", "data": {}}]}')
    config = tmp_path / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\n"
                      f"verify:\n  schedule: '0 4 * * sun'\nsources:\n"
                      f"  - {{name: s, type: testkit, world: {world}}}\n")
    daemon = Daemon(App(str(config)), DaemonOptions(jitter=0))
    try:
        assert daemon.run_source("s") == "complete"

        def scrape() -> dict[str, float]:
            m = StoreMetrics(daemon.app, store=daemon.store, cache_seconds=0)
            text = generate_latest(store_registry(m, process=False)).decode()
            return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
                    if s.name.startswith("annexa_store_verify")}

        assert scrape() == {}  # never verified: no made-up timestamp
        assert daemon.verify_store() is True
        first = scrape()
        assert first["annexa_store_verify_ok"] == 1
        assert first["annexa_store_verify_timestamp_seconds"] == first["annexa_store_verify_last_ok_timestamp_seconds"]
        with daemon.store.engine.begin() as conn:  # tamper with a sealed run
            conn.execute(update(resource_states).values(name="renamed"))
        assert daemon.verify_store() is False
        second = scrape()
        assert second["annexa_store_verify_ok"] == 0
        assert second["annexa_store_verify_last_ok_timestamp_seconds"] == first["annexa_store_verify_timestamp_seconds"]
        assert second["annexa_store_verify_timestamp_seconds"] >= first["annexa_store_verify_timestamp_seconds"]
    finally:
        daemon.store.close()


def test_an_opted_in_incremental_schedule_still_checks_new_runs_and_goes_full_when_due(tmp_path: Path) -> None:
    from sqlalchemy import select, update

    from agent.store.schema import resource_states, runs
    from agent.verifystatus import load_checkpoint

    world = tmp_path / "world.json"
    world.write_text('{"resources": [{"type": "testkit.widget", "id": "w1", "data": {}}]}')
    config = tmp_path / "annexa.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\n"
                      f"verify:\n  schedule: '0 4 * * sun'\n  full_every_days: 7\nsources:\n"
                      f"  - {{name: s, type: testkit, world: {world}}}\n")
    daemon = Daemon(App(str(config)), DaemonOptions(jitter=0))
    try:
        assert daemon.run_source("s") == "complete"
        assert daemon.verify_store() is True  # no checkpoint yet: full
        first = load_checkpoint(daemon.store)
        assert first is not None and first.full_at == first.at
        world.write_text('{"resources": [{"type": "testkit.widget", "id": "w2", "data": {}}]}')
        assert daemon.run_source("s") == "complete"
        with daemon.store.engine.begin() as conn:  # tamper with a row the new run opened
            newest = conn.execute(select(runs.c.id).order_by(runs.c.id.desc())).scalars().first()
            changed = conn.execute(update(resource_states).where(resource_states.c.first_run == newest)
                                   .values(name="renamed"))
            assert changed.rowcount == 1
        assert daemon.verify_store() is False  # incremental, and it covers the new run
        assert load_checkpoint(daemon.store) == first  # a failed check does not move the checkpoint
    finally:
        daemon.store.close()
