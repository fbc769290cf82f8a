"""Issue 9 point 2: a wiped, truncated, corrupt or replaced store fails verification with one line and
`annexa run` refuses to start a new chain on it (the chain checkpoint beside the evidence)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.agent.cli.test_workflow_cli import annexa
from tests.conftest import World, write_config


def _store(tmp_path: Path, world: World) -> Path:
    world.add("testkit.widget", "w1", {"encryption": {"enabled": True}})
    cfg = write_config(tmp_path, world)
    for _ in range(2):
        assert annexa(cfg, "run", "--quiet").returncode == 0
    assert annexa(cfg, "verify", "--store").returncode == 0
    return cfg


def _one_failure(out, expect: str) -> None:  # type: ignore[no-untyped-def]
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("store verification FAILED: "), out.stdout
    assert expect in lines[0], lines[0]
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr


def test_truncated_database_fails_and_run_refuses_a_new_chain(tmp_path: Path, world: World) -> None:
    cfg = _store(tmp_path, world)
    (tmp_path / "annexa.db").write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'annexa.db'}{suffix}").unlink(missing_ok=True)
    _one_failure(annexa(cfg, "verify", "--store"), "is empty (0 bytes)")
    out = annexa(cfg, "run", "--quiet")
    assert out.returncode == 2 and "refusing to start a new chain" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    # The refused run created the empty schema but no chain: still failing, now on the checkpoint.
    _one_failure(annexa(cfg, "verify", "--store"), "records entry 2")


def test_corrupt_database_fails_with_one_line_not_exit_70(tmp_path: Path, world: World) -> None:
    cfg = _store(tmp_path, world)
    db = tmp_path / "annexa.db"
    data = bytearray(db.read_bytes())
    data[:16] = b"garbage garbage!"
    db.write_bytes(bytes(data))
    _one_failure(annexa(cfg, "verify", "--store"), "not a SQLite database")
    data[:16] = b"SQLite format 3\x00"
    data[16:4096] = b"\xff" * (4096 - 16)
    db.write_bytes(bytes(data))
    Path(f"{db}-wal").unlink(missing_ok=True)
    _one_failure(annexa(cfg, "verify", "--store"), "cannot read the store database")


def test_older_copy_of_the_database_fails_against_the_checkpoint(tmp_path: Path, world: World) -> None:
    cfg = _store(tmp_path, world)
    annexa(cfg, "run", "--quiet")  # make sure the WAL is checkpointed into the file before copying
    backup = tmp_path / "old.db"
    shutil.copy(tmp_path / "annexa.db", backup)
    for suffix in ("-wal",):
        if Path(f"{tmp_path / 'annexa.db'}{suffix}").exists():
            shutil.copy(f"{tmp_path / 'annexa.db'}{suffix}", f"{backup}{suffix}")
    assert annexa(cfg, "run", "--quiet").returncode == 0
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'annexa.db'}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, tmp_path / "annexa.db")
    if Path(f"{backup}-wal").exists():
        shutil.copy(f"{backup}-wal", f"{tmp_path / 'annexa.db'}-wal")
    _one_failure(annexa(cfg, "verify", "--store"), "wiped, truncated or replaced by an older copy")
    assert annexa(cfg, "run", "--quiet").returncode == 2


def test_database_without_schema_fails(tmp_path: Path, world: World) -> None:
    import sqlite3

    cfg = _store(tmp_path, world)
    (tmp_path / "annexa.db").unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'annexa.db'}{suffix}").unlink(missing_ok=True)
    sqlite3.connect(tmp_path / "annexa.db").execute("CREATE TABLE t (x)").connection.commit()
    _one_failure(annexa(cfg, "verify", "--store"), "no Annexa schema")
