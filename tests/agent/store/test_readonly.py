"""A store on read-only media (a mounted snapshot or backup): every reading command works on it as it is,
and a command that would write says so in one line instead of crashing.

The folder is made read-only the real way, by a read-only bind mount (root only; elsewhere these tests
are skipped, naming why). A folder that is only not writable for the user is a different case, left to
SQLite's own `mode=ro` (agent/store/readonly.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.cli.test_workflow_cli import annexa
from tests.conftest import World, write_config
from tests.support.evidence import blob_writer, evidence_payloads

ReadOnlyView = Callable[[Path], Path]


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[ReadOnlyView]:
    """view(folder) -> the same folder bind-mounted read-only."""
    mounted: list[Path] = []

    def view(folder: Path) -> Path:
        target = tmp_path / f"read-only-{len(mounted)}"
        target.mkdir()
        first = subprocess.run(["mount", "--bind", str(folder), str(target)], capture_output=True, text=True)
        if first.returncode != 0:  # not root, or a container without the capability to mount
            pytest.skip(f"a read-only bind mount is not permitted here: {first.stderr.strip()}")
        mounted.append(target)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True, capture_output=True)
        return target

    yield view
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], capture_output=True)


def _live_store(tmp_path: Path, world: World) -> Path:
    live = tmp_path / "live"
    live.mkdir()
    world.add("testkit.widget", "w1", {"encryption": {"enabled": True}})
    world.add("testkit.widget", "w2", {"encryption": {"enabled": False}})
    cfg = write_config(live, world)
    for _ in range(2):
        assert annexa(cfg, "run", "--quiet").returncode == 0
    assert not Path(f"{live / 'annexa.db'}-wal").exists()  # closed cleanly: the log was folded in
    return cfg


def _one_line_refusal(out: subprocess.CompletedProcess[str], what: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"annexa: error: cannot write {what}") \
        and lines[0].endswith(": read-only file system"), out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr


def test_a_read_only_copy_is_read_verified_and_exported_and_writes_are_refused(
        tmp_path: Path, world: World, read_only_view: ReadOnlyView) -> None:
    live_cfg = _live_store(tmp_path, world)
    expected = json.loads(annexa(live_cfg, "findings", "--format", "json").stdout)
    view = read_only_view(tmp_path / "live")
    cfg = tmp_path / "view.yaml"
    cfg.write_text(live_cfg.read_text().replace(str(tmp_path / "live"), str(view)))

    out = annexa(cfg, "verify", "--store")
    assert out.returncode == 0 and out.stdout.startswith("store OK: 2 runs chained"), (out.stdout, out.stderr)
    assert "could not record the verification result in the store: attempt to write a readonly database" \
        in out.stderr and "[SQL:" not in out.stderr  # the driver's one line, not SQLAlchemy's statement dump

    found = annexa(cfg, "findings", "--format", "json")
    assert found.returncode == 0 and json.loads(found.stdout) == expected
    assert {f["status"] for f in expected} >= {"pass", "fail"}
    assert annexa(cfg, "controls").returncode == 0 and annexa(cfg, "runs").returncode == 0

    bundle = tmp_path / "audit.zip"
    assert annexa(cfg, "export", "--out", str(bundle)).returncode == 0
    checked = subprocess.run(["annexa", "verify", str(bundle)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    _one_line_refusal(annexa(cfg, "run", "--quiet"), str(view / "annexa.db"))  # its lock file
    policy = tmp_path / "policy.txt"
    policy.write_text("our policy")
    _one_line_refusal(annexa(cfg, "evidence", "add", "--control", "A.5.1", "--file", str(policy),
                             "--valid-for", "30d"), str(view / "evidence"))
    _one_line_refusal(annexa(live_cfg, "export", "--out", str(view / "audit.zip")), str(view))
    assert sorted(p.name for p in view.iterdir()) == sorted(p.name for p in (tmp_path / "live").iterdir())


def test_a_copy_whose_write_ahead_log_lacks_its_index_is_refused_by_name(
        tmp_path: Path, world: World, read_only_view: ReadOnlyView) -> None:
    live_cfg = _live_store(tmp_path, world)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(tmp_path / "live", snapshot)
    db = snapshot / "annexa.db"
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO cursors (source, key, value, updated_at) VALUES ('x', 'y', '1', '2026-12-06')")
    writer.commit()
    taken = tmp_path / "taken"  # a backup taken while a writer had the database open, without the -shm
    shutil.copytree(snapshot, taken, ignore=shutil.ignore_patterns("*-shm"))
    writer.close()
    assert Path(f"{taken / 'annexa.db'}-wal").stat().st_size > 0
    view = read_only_view(taken)
    cfg = tmp_path / "taken.yaml"
    cfg.write_text(live_cfg.read_text().replace(str(tmp_path / "live"), str(view)))
    out = annexa(cfg, "findings")
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "annexa.db-wal" in out.stderr and "copy the database with its -wal file" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_packed_evidence_on_read_only_media_is_read_including_an_unindexed_tail(
        tmp_path: Path, read_only_view: ReadOnlyView) -> None:
    live = tmp_path / "evidence"
    assert blob_writer(live, 0, 300, die=False).wait() == 0
    assert blob_writer(live, 300, 500, die=True).wait() == 0  # killed before committing its index rows
    view = read_only_view(live)
    payloads = evidence_payloads(view)
    assert len(payloads) == 500
    assert payloads["sha256:" + hashlib.sha256(b'{"n":499}').hexdigest()] == b'{"n":499}'
