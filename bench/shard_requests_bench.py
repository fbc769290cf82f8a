"""Benchmark: how many extra API requests `--shard K/N` costs for GCP and GitHub sources.

Sharding a GCP organisation or a GitHub organisation is not free: every shard lists the hierarchy
(GCP folders and projects) or the repositories (GitHub), every GCP shard reads the organisation's
and folders' IAM policies and log sinks (projects inherit them) and, when logging and storage are
both collected, the other projects' sinks as context; every GitHub shard reads the teams, the outside
collaborators and the organisation-wide alert listings, and the organisation's shard reads every
repository's collaborators. This script counts the requests the fakes receive for one unsharded
run and for all N shards of a split (run one after the other, each on a fresh SQLite store with a
cold ETag cache), checks that the findings are the same, and prints the overhead.

    python bench/shard_requests_bench.py                      # GCP 40 projects, GitHub 200 repos, N=2,4,8
    python bench/shard_requests_bench.py --projects 20 --repos 100 --shards 2,4

Request counts do not depend on the machine's load; CPU seconds and wall time are printed beside
them (with `uptime`) only to show what the counting cost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GCP_TOKEN, GCP_ENV = "ya29.bench-token", "ANNEXA_BENCH_GCP_TOKEN"
GH_ENV = "ANNEXA_BENCH_GH_TOKEN"


def _run(folder: Path, source: str, shard: tuple[int, int] | None) -> Counter[tuple[Any, ...]]:
    """One run (a shard of the source, or all of it) on the store in `folder`; the store's findings."""
    from agent.config import load_config
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from agent.runner import Runner, select_sources
    from agent.store.store import EvidenceStore
    from collectors.registry import known_resource_types

    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{folder / 'a.db'}\n  evidence: {folder / 'ev'}\nsources:\n{source}")
    config = load_config(cfg)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(load_rules(known_types=set(known_resource_types())), params=config.param_resolver())
    Runner(config, store, rules).run(select_sources(config, None, shard), f"{shard[0]}/{shard[1]}" if shard else None)
    found = Counter((f["rule_id"], f["resource_id"], f["status"]) for f in store.current_findings())
    store.engine.dispose()
    return found


def measure(name: str, fake: Any, source: str, shards: list[int], work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"source": name, "splits": []}
    fake.reset_log()
    cpu, wall = time.process_time(), time.perf_counter()
    single = _run(work / f"{name}-single", source, None)
    base = len(fake.log)
    out.update(unsharded_requests=base, unsharded_cpu_s=round(time.process_time() - cpu, 2),
               unsharded_wall_s=round(time.perf_counter() - wall, 2), findings=sum(single.values()))
    for n in shards:
        fake.reset_log()
        cpu, wall = time.process_time(), time.perf_counter()
        per_shard = []
        found: Counter[tuple[Any, ...]] = Counter()
        for k in range(n):
            before = len(fake.log)
            found = _run(work / f"{name}-n{n}", source, (k, n))  # one store: the last shard sees all findings
            per_shard.append(len(fake.log) - before)
        total = sum(per_shard)
        out["splits"].append({"n": n, "requests": total, "per_shard": per_shard,
                              "extra_percent": round(100 * (total - base) / base, 1),
                              "same_findings": found == single,
                              "cpu_s": round(time.process_time() - cpu, 2),
                              "wall_s": round(time.perf_counter() - wall, 2)})
    return out


def gcp(projects: int, shards: list[int], work: Path) -> dict[str, Any]:
    from agent.fakeapi import gcp as fake_gcp
    from agent.fakeapi.gcp_world import GcpWorld
    from bench.gcp_bench import seed

    world = GcpWorld()
    world.tokens.add(GCP_TOKEN)
    seed(world, projects)
    os.environ[GCP_ENV] = GCP_TOKEN
    fake = fake_gcp.start(world)
    try:
        source = (f"  - name: gcp-org\n    type: gcp\n    endpoint: {fake.url}\n    token_env: {GCP_ENV}\n"
                  "    organization: '100000000001'\n    max_concurrency: 16\n")
        result = measure("gcp", fake, source, shards, work)
    finally:
        fake.stop()
    result["units"] = f"{projects} projects + the organisation"
    return result


def github(repos: int, shards: list[int], work: Path) -> dict[str, Any]:
    from agent.fakeapi.github import serve
    from bench.github_bench import synthetic_org

    org = synthetic_org(repos)
    os.environ[GH_ENV] = org.token
    fake = serve(org).start()
    try:
        source = (f"  - name: gh\n    type: github\n    org: {org.login}\n    endpoint: {fake.url}\n"
                  f"    token_env: {GH_ENV}\n    max_concurrency: 8\n    requests_per_minute: 0\n")
        result = measure("github", fake, source, shards, work)
    finally:
        fake.stop()
    result["units"] = f"{repos} repositories + the organisation"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=40)
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--shards", default="2,4,8")
    parser.add_argument("--json", default=str(ROOT / "bench" / "shard_requests_latest.json"))
    args = parser.parse_args(argv)
    shards = [int(n) for n in args.shards.split(",")]
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        results = [gcp(args.projects, shards, Path(tmp)), github(args.repos, shards, Path(tmp))]
    print(f"load: {load}")
    for r in results:
        print(f"{r['source']}: {r['units']}; unsharded {r['unsharded_requests']} requests "
              f"({r['unsharded_cpu_s']} s CPU, {r['unsharded_wall_s']} s wall), {r['findings']} findings")
        for s in r["splits"]:
            print(f"  N={s['n']}: {s['requests']} requests (+{s['extra_percent']} %), per shard {s['per_shard']}, "
                  f"same findings: {s['same_findings']}; {s['cpu_s']} s CPU, {s['wall_s']} s wall")
    Path(args.json).write_text(json.dumps({"load": load, "date": time.strftime("%Y-%m-%d"),
                                           "results": results}, indent=2) + "\n")
    return 0 if all(s["same_findings"] for r in results for s in r["splits"]) else 1


if __name__ == "__main__":
    sys.exit(main())
