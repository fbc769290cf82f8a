"""An export interrupted by an exception, SIGINT, SIGTERM or SIGKILL leaves no partial file behind:
the first three remove it on the way out; a killed process's file is removed by the next export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tests.support.testkit  # noqa: F401  (registers the test collector in this process)
from agent.cli.app import App
from agent.cli.cmd_run import execute_run
from agent.export import bundle as bundle_mod
from agent.export.verify import check_bundle
from agent.export.zipout import BundleWriter, remove_stale_partials
from agent.store.timeutil import utcnow
from tests.agent.export.conftest import History, export
from tests.conftest import ROOT, World, write_config

WIDGETS = 6000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> History:
    """A store large enough that exporting it takes a while (a signal lands mid-export)."""
    folder = tmp_path_factory.mktemp("big")
    world = World(folder / "world.json")
    world.path.write_text(f'{{"resources": [], "generate": {WIDGETS}}}')
    config = write_config(folder, world)
    app = App(str(config))
    store = app.store()
    try:
        execute_run(app, quiet=True, store=store)
    finally:
        store.close()
    return History(folder, config, world, [utcnow()])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".partial")


def start_export(history: History, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit"}
    return subprocess.Popen([sys.executable, "-m", "agent", "--config", str(history.config), "export",
                             "--out", str(out), "--control", "A.8.24"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def signal_mid_export(proc: subprocess.Popen[bytes], folder: Path, signum: int) -> None:
    """Wait until the partial zip exists and has grown, then send the signal."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = [p for p in folder.iterdir() if p.name.endswith(".partial")]
        if partial and partial[0].stat().st_size > 64 * 1024:
            proc.send_signal(signum)
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    raise AssertionError("the export never started writing")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_export_removes_the_partial_file(big: History, tmp_path: Path, signum: int, code: int) -> None:
    out = tmp_path / "audit.zip"
    proc = start_export(big, out)
    signal_mid_export(proc, tmp_path, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err.decode()[-2000:]
    assert b"export interrupted" in err and b"Traceback" not in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_killed_exports_partial_file_is_removed_by_the_next_export(big: History, tmp_path: Path) -> None:
    out = tmp_path / "audit.zip"
    proc = start_export(big, out)
    signal_mid_export(proc, tmp_path, signal.SIGKILL)
    proc.wait(timeout=60)
    stale = leftovers(tmp_path)
    assert len(stale) == 1 and stale[0].startswith(".audit.zip.") and stale[0].endswith(".partial")
    again = start_export(big, out)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()[-2000:]
    assert leftovers(tmp_path) == [] and check_bundle(out).ok


def test_a_partial_file_in_use_is_left_alone(big: History, tmp_path: Path) -> None:
    out = tmp_path / "audit.zip"
    writer = BundleWriter(out, utcnow())  # an export of the same name, still writing
    try:
        (tmp_path / ".audit.zip.abandoned.partial").write_bytes(b"PK")
        assert remove_stale_partials(out) == [tmp_path / ".audit.zip.abandoned.partial"]
        assert writer.tmp.exists()
    finally:
        writer.abort()
    assert leftovers(tmp_path) == []


def test_an_exception_mid_export_removes_the_partial_file(history: History, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(bundle_mod.html, "render_index", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export(history, tmp_path / "audit.zip", controls=["A.8.24"])
    assert sorted(p.name for p in tmp_path.iterdir()) == []
