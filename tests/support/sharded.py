"""Helpers for `annexa run --shard K/N` end-to-end tests: concurrent CLI processes on one store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from agent.store.store import EvidenceStore

ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, url: str, sources: str) -> Path:
    folder.mkdir(parents=True)
    cfg = folder / "annexa.yaml"
    cfg.write_text(f"store:\n  url: {url}\n  evidence: {folder / 'evidence'}\nsources:\n{sources}")
    return cfg


def annexa(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.Popen([sys.executable, "-m", "agent", "--config", str(cfg), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full, cwd=cfg.parent)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def run_once(cfg: Path, env: dict[str, str], shard: str | None = None) -> dict[str, Any]:
    extra = ["--shard", shard] if shard else []
    code, out, err = finish(annexa(cfg, "run", *extra, "--format", "json", "--quiet", env=env))
    assert code in (0, 3), err[-3000:]  # 3: partial (a scope could not be read)
    return json.loads(out)  # type: ignore[no-any-return]


def run_shards(cfg: Path, n: int, env: dict[str, str]) -> list[dict[str, Any]]:
    """N shard processes started together (they overlap on the store), each one's JSON summary."""
    procs = [annexa(cfg, "run", "--shard", f"{k}/{n}", "--format", "json", "--quiet", env=env) for k in range(n)]
    results = [finish(p) for p in procs]
    for code, _, err in results:
        assert code in (0, 3), err[-3000:]
    return [json.loads(out) for _, out, _ in results]


def current(cfg: Path) -> Counter[tuple[Any, ...]]:
    """The store's current findings as a multiset of (rule, resource, account, region, status)."""
    store = _open(cfg)
    try:
        return Counter((f["rule_id"], f["resource_id"], f["account"], f["region"], f["status"])
                       for f in store.current_findings())
    finally:
        store.engine.dispose()


def sealed_runs(cfg: Path) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from agent.store.schema import runs

    store = _open(cfg)
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(runs).order_by(runs.c.id)).mappings()
                    if r["kind"] == "run"]
    finally:
        store.engine.dispose()


def verify(cfg: Path) -> None:
    code, out, err = finish(annexa(cfg, "verify", "--store"))
    assert code == 0, out[-2000:] + err[-2000:]


def _open(cfg: Path) -> EvidenceStore:
    from agent.config import load_config

    config = load_config(cfg)
    return EvidenceStore.open(config.store_url, config.evidence_dir)


def evidence(cfg: Path) -> Counter[tuple[Any, ...]]:
    """The store's open resources as a multiset of (type, resource id, evidence digest)."""
    from sqlalchemy import select

    from agent.store.schema import resource_states as rs

    store = _open(cfg)
    try:
        with store.engine.connect() as conn:
            return Counter((r.type, r.resource_id, r.evidence) for r in conn.execute(
                select(rs.c.type, rs.c.resource_id, rs.c.evidence).where(rs.c.open.is_(True))))
    finally:
        store.engine.dispose()


def assert_reshard_matches(single: Path, sharded: Path, env: dict[str, str], before: Counter[tuple[Any, ...]],
                           n: int = 3) -> None:
    """After the world changed: one more unsharded run and one of `n` shards leave the same findings,
    which differ from `before`, and the sharded store still verifies."""
    run_once(single, env)
    run_shards(sharded, n, env)
    after = current(single)
    assert after != before
    assert current(sharded) == after
    verify(sharded)
