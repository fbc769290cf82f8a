"""Issue 9, point 3: a run always ends sealed — SIGTERM, kill -9, a full disk — with real processes.

Every test starts `annexa run` as a real process on the slow test collector (tests/support/slowkit.py),
whose gate file decides exactly where the run stands when the signal arrives; each runs on SQLite
and on the real PostgreSQL, and ends with `annexa verify --store`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agent.cli.app import App
from agent.store.schema import resource_states, run_sources, runs
from agent.store.store import ORPHANED, EvidenceStore
from agent.store.verify import verify_store
from tests.support import slowkit  # noqa: F401  (registers the slow collector in this process too)
from tests.support.annexa_process import ROOT, AnnexaProcess, annexa_env

RULES = ROOT / "tests" / "support" / "rules"


def widgets(prefix: str, n: int, pad: str = "") -> list[dict[str, Any]]:
    return [{"type": "testkit.widget", "id": f"urn:{prefix}:{i}",
             "data": {"encryption": {"enabled": True}, **({"pad": pad} if pad else {})}} for i in range(n)]


def slow_config(folder: Path, store_url: str, *, resources: int = 5, gate_after: int = 2,
                evidence: Path | None = None, pad: str = "") -> Path:
    """Sources s1 (stops after `gate_after` resources until the file `go` exists) and s2 (never waits)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = ""
    for name, gate in (("s1", True), ("s2", False)):
        world: dict[str, Any] = {"resources": widgets(name, resources, pad), "sleep": 0}
        if gate:
            world.update(gate=str(folder / "go"), gate_after=gate_after)
        (folder / f"world-{name}.json").write_text(json.dumps(world))
        sources += (f"  - name: {name}\n    type: slowkit\n    world: {folder / f'world-{name}.json'}\n"
                    f"    trace: {folder / f'trace-{name}.txt'}\n")
    config = folder / "annexa.yaml"
    config.write_text(f"store:\n  url: {store_url}\n  evidence: {evidence or folder / 'evidence'}\n"
                      f"rules:\n  paths: [{RULES}]\nsources:\n{sources}")
    return config


def annexa(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], env=annexa_env(config), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def run_process(config: Path, source: str = "s1") -> AnnexaProcess:
    return AnnexaProcess(config, "run", "--quiet", "--source", source)


def wait_until(what: str, check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def traced(folder: Path, source: str = "s1") -> int:
    """How many resources the collector of `source` has handed over so far (all runs)."""
    path = folder / f"trace-{source}.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def open_store(config: Path) -> EvidenceStore:
    app = App(str(config))
    return EvidenceStore.open(app.config.store_url, app.config.evidence_dir)


def run_rows(config: Path) -> list[dict[str, Any]]:
    store = open_store(config)
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(runs).where(runs.c.kind == "run")
                                                  .order_by(runs.c.id)).mappings()]
    finally:
        store.close()


def source_rows(config: Path, run_id: int) -> dict[str, dict[str, Any]]:
    store = open_store(config)
    try:
        with store.engine.connect() as conn:
            return {r["source"]: dict(r) for r in conn.execute(
                select(run_sources).where(run_sources.c.run_id == run_id)).mappings()}
    finally:
        store.close()


def count_resource_rows(config: Path) -> int:
    store = open_store(config)
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(resource_states)).scalar_one())
    finally:
        store.close()


def assert_verifies(config: Path) -> str:
    """`annexa verify --store` as a process: exit 0."""
    verify = annexa(config, "verify", "--store")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return verify.stdout + verify.stderr


def verified(config: Path) -> list[str]:
    """The same check in this process (each `annexa` process costs seconds of imports): its notes."""
    store = open_store(config)
    try:
        report = verify_store(store)
    finally:
        store.close()
    assert report.ok, report.problems
    return report.notes


def stderr_text(proc: AnnexaProcess) -> str:
    return "\n".join(str(doc.get("msg")) for doc in proc.messages())


# -- SIGTERM -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"),
                                                    (signal.SIGINT, 130, "SIGINT")])
def test_a_signal_mid_run_seals_the_run_incomplete(store_url: str, tmp_path: Path, sig: int, code: int,
                                                   name: str) -> None:
    folder = tmp_path / "r"
    config = slow_config(folder, store_url, resources=5, gate_after=2)
    with run_process(config) as proc:
        wait_until("two resources collected", lambda: traced(folder) >= 2)
        time.sleep(0.3)  # let the writer take them
        assert proc.terminate(sig) == code
        said = stderr_text(proc)
    [run] = run_rows(config)
    verb = {"SIGTERM": "terminated", "SIGINT": "interrupted"}[name]
    assert f"{verb} ({name}): run {run['id']} was sealed as incomplete" in said
    assert run["status"] == "incomplete" and run["seq"] == 1
    assert run["manifest"]["interruption"] == name
    assert source_rows(config, run["id"])["s1"]["status"] == "incomplete"
    assert count_resource_rows(config) == 2  # what the run had taken is kept, under its own roots
    assert "never sealed" not in assert_verifies(config)


def test_sigterm_while_no_resource_arrives_still_seals(store_url: str, tmp_path: Path) -> None:
    """The collector blocks before its first resource (a hung API call): the signal still ends the run."""
    folder = tmp_path / "r"
    config = slow_config(folder, store_url, resources=3, gate_after=0)
    with run_process(config) as proc:
        wait_until("the run row", lambda: bool(run_rows(config)))
        time.sleep(0.3)
        started = time.monotonic()
        assert proc.terminate(signal.SIGTERM) == 143
        assert time.monotonic() - started < 10  # never waits for the blocked collector thread
    [run] = run_rows(config)
    assert run["status"] == "incomplete" and run["seq"] == 1
    assert count_resource_rows(config) == 0
    assert verified(config) == []


# -- kill -9 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["before-any-resource", "after-a-flushed-batch"])
def test_kill9_orphan_is_sealed_by_the_next_run(store_url: str, tmp_path: Path, point: str) -> None:
    folder = tmp_path / "r"
    flushed = point == "after-a-flushed-batch"
    # The recorder flushes every 500 rows: 520 resources before the gate means one batch is written.
    config = slow_config(folder, store_url, resources=530 if flushed else 3, gate_after=520 if flushed else 0)
    with run_process(config) as proc:
        if flushed:
            wait_until("a flushed batch", lambda: count_resource_rows(config) > 0)
        else:
            wait_until("the source row", lambda: bool(run_rows(config)) and bool(source_rows(config, 1)))
        assert proc.terminate(signal.SIGKILL) == -signal.SIGKILL
    [orphan] = run_rows(config)
    assert orphan["status"] == "running" and orphan["seq"] is None
    kept = count_resource_rows(config)
    assert (kept >= 500) if flushed else (kept == 0)
    # an unsealed run is not a tampered store: it is reported as a note
    assert any(f"run {orphan['id']} was never sealed" in note for note in verified(config))

    (folder / "go").touch()
    again = annexa(config, "--log-level", "warning", "run", "--quiet", "--source", "s1", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "complete"
    assert f"run {orphan['id']} was left running by a process that is gone: sealed as incomplete" in again.stderr
    first, second = run_rows(config)
    assert (first["id"], first["status"], first["seq"]) == (orphan["id"], "incomplete", 1)
    assert first["manifest"]["interruption"] == ORPHANED
    assert source_rows(config, first["id"])["s1"]["status"] == "incomplete"
    assert (second["status"], second["seq"]) == ("complete", 2)
    assert source_rows(config, second["id"])["s1"]["resources"] == (530 if flushed else 3)
    # The orphan's rows stay under its own roots; the complete run did not fold them in as its own.
    if flushed:
        assert source_rows(config, first["id"])["s1"]["evidence_root"] != \
            source_rows(config, second["id"])["s1"]["evidence_root"]
    assert verified(config) == []
    assert not list(tmp_path.glob("*.run-*.lock"))  # SQLite: the orphan's liveness lock file is gone too
    store = open_store(config)
    try:
        assert len(list(store.current_findings(source="s1"))) == (530 if flushed else 3)
    finally:
        store.close()


def test_a_live_run_of_another_process_is_never_sealed(store_url: str, tmp_path: Path) -> None:
    """A run held open by another process (another pod on one PostgreSQL) stays `running` while a
    second run starts, checks for orphans and completes; then it completes itself."""
    folder = tmp_path / "r"
    config = slow_config(folder, store_url, resources=4, gate_after=2)
    with run_process(config, "s1") as slow:
        wait_until("two resources collected", lambda: traced(folder) >= 2)
        other = annexa(config, "run", "--quiet", "--source", "s2", "--format", "json")
        assert other.returncode == 0, other.stderr
        assert "left running" not in other.stderr
        statuses = {r["sources"][0]: (r["status"], r["seq"]) for r in run_rows(config)}
        assert statuses == {"s1": ("running", None), "s2": ("complete", 1)}
        (folder / "go").touch()
        assert slow.wait() == 0
    statuses = {r["sources"][0]: (r["status"], r["seq"]) for r in run_rows(config)}
    assert statuses == {"s1": ("complete", 2), "s2": ("complete", 1)}
    assert verified(config) == []


# -- a full disk ---------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted for this test only (needs root or CAP_SYS_ADMIN)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk up to `leave` free bytes with a filler file; returns the filler."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_ends_the_run_with_one_line_and_the_run_sealed(store_url: str, tmp_path: Path,
                                                                   small_disk: Path) -> None:
    """SQLite: database and evidence on the full disk, so even sealing fails and the next run seals the
    orphan. PostgreSQL: the evidence folder is full, the database is not, so the run seals itself."""
    sqlite = store_url.startswith("sqlite")
    url = f"sqlite:///{small_disk / 'annexa.db'}" if sqlite else store_url
    folder = tmp_path / "r"
    config = slow_config(folder, url, resources=60, gate_after=0, evidence=small_disk / "evidence",
                         pad=os.urandom(6000).hex())
    (folder / "go").touch()
    open_store(config).close()  # the schema, before the disk fills
    filler = fill(small_disk, 48 * 1024)
    full = annexa(config, "run", "--quiet", "--source", "s1")
    assert full.returncode == 70, full.stdout + full.stderr
    # one message; structured log records (e.g. the chain checkpoint that could not be written) may precede it
    lines = [line for line in full.stderr.strip().splitlines() if not line.startswith('{"ts"')]
    assert len(lines) == 1 and "Traceback" not in full.stderr, full.stderr
    assert lines[0].startswith("annexa: error: run 1 stopped: the disk is full ("), full.stderr
    sealed_now = "it was sealed as incomplete" in lines[0]
    assert sealed_now or "it could not be sealed and will be sealed as incomplete by the next run" in lines[0]
    if not sqlite:
        assert sealed_now  # only the evidence folder was full
    filler.unlink()
    [stopped] = run_rows(config)
    assert stopped["status"] == ("incomplete" if sealed_now else "running")
    # With space again, the next run (sealing the orphan first if need be) completes and all verifies.
    again = annexa(config, "run", "--quiet", "--source", "s1", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert [(r["status"], r["seq"]) for r in run_rows(config)] == [("incomplete", 1), ("complete", 2)]
    assert verified(config) == []


# -- in this process: any error seals, liveness locks, the daemon ------------------------------------
def in_process_runner(config: Path, **kwargs: Any) -> tuple[Any, EvidenceStore]:
    from agent.runner import Runner

    app = App(str(config))
    store = EvidenceStore.open(app.config.store_url, app.config.evidence_dir)
    return Runner(app.config, store, app.rule_set(), **kwargs), store


def test_an_error_in_the_middle_of_a_run_seals_it_incomplete(store_url: str, tmp_path: Path) -> None:
    from agent.runtypes import RunFailed

    folder = tmp_path / "r"
    config = slow_config(folder, store_url, resources=3, gate_after=0)
    seen: list[str] = []

    def hook(finding: Any) -> Any:  # a bug somewhere in the write path, after one finding
        seen.append(finding.resource_id)
        if len(seen) == 2:
            raise ZeroDivisionError("division by zero")
        return finding

    runner, store = in_process_runner(config, finding_hook=hook)
    try:
        with pytest.raises(RunFailed) as failed:
            runner.run([runner.config.source("s2")])
    finally:
        store.close()
    assert failed.value.exit_code == 70 and failed.value.sealed
    assert str(failed.value).startswith("run 1 stopped on an unexpected error: ZeroDivisionError: division by zero;"
                                        " it was sealed as incomplete")
    [run] = run_rows(config)
    assert (run["status"], run["seq"]) == ("incomplete", 1)
    assert run["manifest"]["interruption"] == "error: ZeroDivisionError"
    assert source_rows(config, 1)["s2"]["status"] == "incomplete"
    assert count_resource_rows(config) == 2  # kept: what the run had recorded before the error
    assert verified(config) == []


def test_a_full_disk_message_names_the_disk(tmp_path: Path) -> None:
    import errno

    from sqlalchemy.exc import OperationalError

    from agent.runtypes import RunFailed, disk_full

    enospc = OSError(errno.ENOSPC, "No space left on device", "/var/lib/annexa/evidence/ab/.tmp-1")
    assert disk_full(enospc) == "No space left on device: /var/lib/annexa/evidence/ab/.tmp-1"
    sqlite = OperationalError("INSERT ...", {}, Exception("database or disk is full"))
    assert disk_full(sqlite) == "database or disk is full"

    class DiskFull(Exception):
        sqlstate = "53100"

    assert disk_full(OperationalError("UPDATE ...", {}, DiskFull("could not extend file"))) == "could not extend file"
    wrapped = RuntimeError("flush failed")
    wrapped.__cause__ = enospc
    assert disk_full(wrapped) is not None and disk_full(RuntimeError("other")) is None
    assert str(RunFailed(4, sqlite, sealed=False)) == (
        "run 4 stopped: the disk is full (database or disk is full); it could not be sealed and will be sealed "
        "as incomplete by the next run. Free some space and run again")


def test_a_held_run_is_alive_to_every_other_holder(store_url: str, tmp_path: Path) -> None:
    from agent.locks import RunLiveness

    config = slow_config(tmp_path / "r", store_url)
    app = App(str(config))
    one = EvidenceStore.open(app.config.store_url, app.config.evidence_dir)
    two = EvidenceStore.open(app.config.store_url, app.config.evidence_dir)  # another process, or pod
    try:
        mine = RunLiveness(one)
        run_id = one.begin_run(["s1"], liveness=mine.hold)
        with mine.claim(run_id) as dead:
            assert not dead
        with RunLiveness(two).claim(run_id) as dead:
            assert not dead
        assert two.seal_orphans(RunLiveness(two).claim) == []
        mine.release(run_id)  # as if its process had died
        with RunLiveness(two).claim(run_id) as dead:
            assert dead
            with RunLiveness(one).claim(run_id) as also:  # while one claimer holds it, nobody else seals it
                assert not also
            assert two.seal_orphans(RunLiveness(one).claim) == []
        assert two.seal_orphans(RunLiveness(two).claim) == [run_id]
        assert two.seal_orphans(RunLiveness(two).claim) == []  # sealed once
    finally:
        one.close()
        two.close()
    assert [(r["status"], r["seq"]) for r in run_rows(config)] == [("incomplete", 1)]
    assert verified(config) == []


def test_the_daemon_seals_an_orphan_before_its_run(store_url: str, tmp_path: Path) -> None:
    from agent.daemon import Daemon, DaemonOptions

    config = slow_config(tmp_path / "r", store_url, resources=2, gate_after=0)
    app = App(str(config))
    store = EvidenceStore.open(app.config.store_url, app.config.evidence_dir)
    try:
        orphan = store.begin_run(["s2"])  # a `running` row whose process holds no liveness lock: gone
        assert Daemon(app, DaemonOptions(sources=("s2",)), store=store).run_once() == 0
    finally:
        store.close()
    rows = run_rows(config)
    assert [(r["id"], r["status"], r["seq"]) for r in rows] == [(orphan, "incomplete", 1), (orphan + 1, "complete", 2)]
    assert rows[0]["manifest"]["interruption"] == ORPHANED
    assert verified(config) == []


def test_a_source_that_cannot_finish_is_closed_by_the_seal(store_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """If a recorder cannot even mark its source incomplete (the disk filled up under it), the seal
    still closes it with roots over what it had flushed, so the sealed run verifies."""
    import errno

    from agent.runtypes import RunFailed
    from agent.store.recorder import BATCH, SourceRecorder

    def no_space(self: SourceRecorder) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(SourceRecorder, "abandon", no_space)
    folder = tmp_path / "r"
    config = slow_config(folder, store_url, resources=BATCH + 20, gate_after=0)
    count = 0

    def hook(finding: Any) -> Any:
        nonlocal count
        count += 1
        if count == BATCH + 10:  # after one batch was flushed
            raise RuntimeError("boom")
        return finding

    runner, store = in_process_runner(config, finding_hook=hook)
    try:
        with pytest.raises(RunFailed, match="RuntimeError: boom; it was sealed as incomplete"):
            runner.run([runner.config.source("s2")])
    finally:
        store.close()
    [run] = run_rows(config)
    assert (run["status"], run["seq"]) == ("incomplete", 1)
    assert source_rows(config, 1)["s2"]["status"] == "incomplete"
    assert count_resource_rows(config) >= BATCH
    assert verified(config) == []


def test_the_signal_line_says_what_the_signal_left_behind() -> None:
    from agent.cli.cmd_run import RunTerminated
    from agent.runtypes import Terminated

    assert str(RunTerminated("SIGTERM", Terminated())) == "terminated (SIGTERM): no run had begun; nothing was stored"
    unsealed = KeyboardInterrupt()
    unsealed.annexa_run = (7, False)  # type: ignore[attr-defined]
    assert str(RunTerminated("SIGINT", unsealed)) == (
        "interrupted (SIGINT): run 7 could not be sealed; the next run will seal it as incomplete")
    sealed = Terminated()
    sealed.annexa_run = (8, True)  # type: ignore[attr-defined]
    assert RunTerminated("SIGTERM", sealed).exit_code == 143
    assert str(RunTerminated("SIGTERM", sealed)).endswith("run 8 was sealed as incomplete")
