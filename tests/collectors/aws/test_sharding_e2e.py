"""`annexa run --shard K/N` splits one AWS organisation between N concurrent processes.

A moto organisation (4 accounts x 2 Regions, one member refusing the role), KMS and CloudWatch
Logs per Region and IAM (global) per account. Four `annexa run --shard k/4` processes run at once
against one real PostgreSQL store; an unsharded run goes to another. The current findings must be
the same multiset of (rule, resource, account, region, status), each shard must seal a run of its
own, and `annexa verify --store` must pass. Then the cloud changes and the shards run with N=3:
still equal to the unsharded run, so changing N leaves no interval open that no shard owns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from agent.store.store import EvidenceStore
from tests.collectors.aws.conftest import ACCOUNT
from tests.collectors.aws.test_events import CloudTrailFake
from tests.collectors.aws.test_multi_account import REGIONS, _assumed, org  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[3]


def _config(path: Path, url: str) -> Path:
    path.mkdir()
    cfg = path / "annexa.yaml"
    cfg.write_text(f"store:\n  url: {url}\n  evidence: {path / 'evidence'}\nsources:\n"
                   "  - name: aws-org\n    type: aws\n"
                   f"    regions: [{', '.join(REGIONS)}]\n    accounts: organization\n"
                   "    services: [kms, logs, iam, cloudtrail]\n    external_id: annexa-test\n")
    return cfg


def _annexa(cfg: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "agent", "--config", str(cfg), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cfg.parent)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _run_shards(cfg: Path, n: int) -> list[dict[str, Any]]:
    procs = [_annexa(cfg, "run", "--shard", f"{k}/{n}", "--format", "json", "--quiet") for k in range(n)]
    results = [_finish(p) for p in procs]
    for code, _, err in results:
        assert code in (0, 3), err[-3000:]  # 3: partial (the refusing member)
    return [json.loads(out) for _, out, _ in results]


def _current(url: str, evidence: Path) -> Counter[tuple[Any, ...]]:
    store = EvidenceStore.open(url, str(evidence))
    try:
        return Counter((f["rule_id"], f["resource_id"], f["account"], f["region"], f["status"])
                       for f in store.current_findings())
    finally:
        store.engine.dispose()


def _runs(url: str, evidence: Path) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from agent.store.schema import runs

    store = EvidenceStore.open(url, str(evidence))
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(runs).order_by(runs.c.id)).mappings()]
    finally:
        store.engine.dispose()


def test_four_concurrent_shards_equal_one_unsharded_run(
        org: tuple[CloudTrailFake, list[str]], tmp_path: Path, postgres: Any) -> None:  # noqa: F811
    proxy, members = org
    refusing = members[2]
    proxy.deny("AccessDenied", f"arn:aws:iam::{refusing}:role/AnnexaReadOnly")
    for account in members[:2]:
        _assumed(account).client("iam").create_user(UserName=f"dev-{account}")
    single_url, sharded_url = postgres.fresh_database(), postgres.fresh_database()
    single = _config(tmp_path / "single", single_url)
    sharded = _config(tmp_path / "sharded", sharded_url)

    code, _, err = _finish(_annexa(single, "run", "--format", "json", "--quiet"))
    assert code == 3, err[-3000:]
    outputs = _run_shards(sharded, 4)

    expected = _current(single_url, tmp_path / "single" / "evidence")
    got = _current(sharded_url, tmp_path / "sharded" / "evidence")
    assert sum(expected.values()) > 30
    assert {a for (_, _, a, _, _) in expected} >= {*members}
    assert {s for (*_, s) in expected} >= {"pass", "fail", "error"}
    # an account-level result of a regional service (read in the home Region) is there for every account
    summaries = {a for (rule, _, a, _, s) in expected
                 if rule == "aws.cloudtrail.multi_region_trail_enabled" and s != "error"}
    assert summaries == {ACCOUNT, *members[:2]}
    assert got == expected  # same findings, none twice
    # each shard sealed a run of its own, with its K/N, and found something of its part
    runs = [r for r in _runs(sharded_url, tmp_path / "sharded" / "evidence") if r["kind"] == "run"]
    assert sorted(r["shard"] for r in runs) == ["0/4", "1/4", "2/4", "3/4"]
    assert all(r["seq"] is not None and r["hash"] and r["status"] in ("complete", "partial") for r in runs)
    assert sorted(o["run_id"] for o in outputs) == sorted(r["id"] for r in runs)
    assert sum(o["sources"][0]["resources"] for o in outputs) > 0
    # the source counts as seen when its least recent shard finished, not when the last one did
    store = EvidenceStore.open(sharded_url, str(tmp_path / "sharded" / "evidence"))
    assert store.coverage()["aws-org"][0] == min(r["id"] for r in runs)
    store.engine.dispose()
    assert sum(1 for o in outputs if o["sources"][0]["resources"]) >= 2  # the work was shared
    verified = _finish(_annexa(sharded, "verify", "--store"))
    assert verified[0] == 0, verified[1][-2000:] + verified[2][-2000:]

    # The cloud changes; the shards now run as 3: a deleted key's and log group's findings close,
    # a new group's open, and nothing of the old 4-way split stays open.
    session = _assumed(members[0])
    session.client("logs", region_name=REGIONS[1]).delete_log_group(logGroupName=f"/app/{members[0]}")
    session.client("logs", region_name=REGIONS[0]).create_log_group(logGroupName="/app/new")
    session.client("iam").delete_user(UserName=f"dev-{members[0]}")
    code, _, err = _finish(_annexa(single, "run", "--format", "json", "--quiet"))
    assert code == 3, err[-3000:]
    _run_shards(sharded, 3)
    after = _current(single_url, tmp_path / "single" / "evidence")
    assert after != expected
    assert _current(sharded_url, tmp_path / "sharded" / "evidence") == after
    verified = _finish(_annexa(sharded, "verify", "--store"))
    assert verified[0] == 0, verified[1][-2000:] + verified[2][-2000:]


@pytest.fixture(autouse=True)
def _no_managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")


def test_boto3_is_pointed_at_moto(aws: str) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == aws and boto3.client("sts").get_caller_identity()["Account"]
