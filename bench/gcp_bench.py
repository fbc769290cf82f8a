"""Benchmark: the full GCP pipeline (collector -> rules -> store) on a synthetic organisation of 50 projects.

The GCP fake (agent.fakeapi.gcp) answers every request after a fixed latency and enforces a rate
limit (requests per second, answered with 429 RESOURCE_EXHAUSTED beyond it, as Google does). The
source's `rate_limit` is set to the same rate, so the collector paces itself instead of being
throttled. The floor is the least time any client could take for the same calls: calls / rate
(the rate-limited floor), or calls x latency / concurrency if that is larger. Target: wall time
<= 1.25 x floor.

    python bench/gcp_bench.py [--projects 50] [--rate 200] [--latency 0.03] [--concurrency 16] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "ya29.bench-token"
TOKEN_ENV = "ANNEXA_BENCH_GCP_TOKEN"


def seed(world: Any, projects: int) -> None:
    """An organisation with 5 folders; each project has the same mix of resources (some failing)."""
    from agent.fakeapi.gcp_world import audit_config, binding, policy

    now = datetime.now(UTC)
    world.org_iam = policy([binding("roles/viewer", "group:auditors@acme.example")],
                           [audit_config("allServices", "DATA_READ", "DATA_WRITE")])
    folders = [world.add_folder(str(500 + i), f"bu-{i}") for i in range(5)]
    for i in range(projects):
        project = world.add_project(f"acme-p{i:03d}", str(900000 + i), parent=folders[i % 5].name)
        project.kms_locations = ["global", "europe-west1", "us-central1"]
        project.iam = policy([binding("roles/owner", "group:platform@acme.example"),
                              binding("roles/editor", f"serviceAccount:{project.compute_sa}"),
                              binding("roles/viewer", "user:ann@acme.example", f"user:guest{i}@gmail.com")])
        for name in ("app", "batch", "deploy"):
            sa = world.add_service_account(project, name)
            world.add_sa_key(project, sa["email"], now - timedelta(days=30 * (i % 7)))
        world.add_service_account(project, "compute", email=project.compute_sa)
        for b in range(3):
            world.add_bucket(project, f"acme-p{i:03d}-b{b}", versioning={"enabled": b != 1})
        world.add_network(project, "default" if i % 4 == 0 else "vpc")
        world.add_firewall(project, "allow-ssh", allowed=[{"IPProtocol": "tcp", "ports": ["22"]}],
                           source_ranges=["0.0.0.0/0"] if i % 3 == 0 else ["35.235.240.0/20"])
        world.add_firewall(project, "allow-https", allowed=[{"IPProtocol": "tcp", "ports": ["443"]}],
                           source_ranges=["0.0.0.0/0"])
        for z, zone in enumerate(("europe-west1-b", "europe-west1-c", "us-central1-a")):
            world.add_instance(project, zone, f"vm-{z}", external_ip="34.1.1.1" if z == 0 else None)
        world.add_sql_instance(project, "db")
        world.add_crypto_key(project, "europe-west1", "app", "data", rotation_days=90 if i % 2 else None)
        world.add_crypto_key(project, "europe-west1", "app", "backup")
        world.audit_entry(project, now - timedelta(days=2), "SetIamPolicy",
                          service="cloudresourcemanager.googleapis.com", resource=f"projects/{project.project_id}",
                          binding_deltas=[{"action": "ADD", "role": "roles/viewer", "member": "user:ann@acme.example"}])


def run(projects: int, rate: float, latency: float, concurrency: int, workers: int) -> dict[str, Any]:
    from agent.config import load_config
    from agent.fakeapi import gcp as fake_gcp
    from agent.fakeapi.errors import google_exhausted
    from agent.fakeapi.gcp_world import GcpWorld
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from agent.runner import Runner, select_sources
    from agent.store.store import EvidenceStore
    from collectors.gcp import GcpCollector
    from collectors.registry import known_resource_types

    world = GcpWorld()
    world.tokens.add(TOKEN)
    seed(world, projects)
    fake = fake_gcp.start(world, latency=latency)
    fake.rate_limit(int(rate), 1.0, google_exhausted)
    os.environ[TOKEN_ENV] = TOKEN
    folder = Path(tempfile.mkdtemp(prefix="annexa-gcp-bench-"))
    (folder / "annexa.yaml").write_text(
        f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
        f"sources:\n  - name: gcp-bench\n    type: gcp\n    endpoint: {fake.url}\n    token_env: {TOKEN_ENV}\n"
        f"    rate_limit: {rate}\n    max_concurrency: {concurrency}\n    max_workers: {workers}\n"
        f"    audit_log_calls_per_minute: {min(rate * 60, 6000)}\n"
        "identity:\n  domains: [acme.example]\n")
    config = load_config(folder / "annexa.yaml")
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(load_rules(known_types=set(known_resource_types())), params=config.param_resolver())
    began = time.monotonic()
    result = Runner(config, store, rules).run(select_sources(config, None, None))
    wall = time.monotonic() - began
    summary = result.sources["gcp-bench"]
    collect_seconds = summary.seconds
    fake.stop()
    store.close()
    calls = len(fake.log)
    throttled = sum(1 for c in fake.log if c.status == 429)
    by_api: dict[str, int] = {}
    for call in fake.log:
        key = call.path.split("/")[1] if not call.path.startswith("/v") else "/".join(call.path.split("/")[1:2]) + \
            (":" + call.path.rsplit("/", 1)[-1] if call.path.startswith("/v2/entries") else "")
        by_api[key] = by_api.get(key, 0) + 1
    counted = sum(GcpCollector.calls.values()) if GcpCollector.calls else 0
    floor = max(calls / rate, calls * latency / concurrency)
    return {"projects": projects, "rate_limit": rate, "latency": latency, "max_concurrency": concurrency,
            "calls": calls, "calls_recorded_by_collector": counted, "throttled_429": throttled,
            "floor_seconds": round(floor, 2), "collection_seconds": round(collect_seconds, 2),
            "wall_seconds": round(wall, 2), "ratio_to_floor": round(collect_seconds / floor, 3),
            "resources": summary.resources, "findings": summary.findings, "errors": len(summary.errors),
            "max_in_flight": fake.max_in_flight, "calls_by_path_prefix": dict(sorted(by_api.items()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second the fake allows")
    parser.add_argument("--latency", type=float, default=0.03, help="seconds the fake takes per request")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="source max_concurrency (requests in flight; the GCP default when unset: 16)")
    parser.add_argument("--workers", type=int, default=16, help="collector max_workers (its default: 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    out = run(args.projects, args.rate, args.latency, args.concurrency, args.workers)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['projects']} projects, {out['calls']} calls ({out['throttled_429']} throttled), "
              f"rate limit {out['rate_limit']:.0f}/s, latency {out['latency'] * 1000:.0f} ms, "
              f"{out['max_concurrency']} in flight (peak {out['max_in_flight']})")
        print(f"floor {out['floor_seconds']}s; collection {out['collection_seconds']}s "
              f"({out['ratio_to_floor']} x floor); whole run {out['wall_seconds']}s")
        print(f"{out['resources']} resources, findings {out['findings']}, {out['errors']} collection errors")
        print("calls by path prefix: " + ", ".join(f"{k} {v}" for k, v in out["calls_by_path_prefix"].items()))
    return 0 if out["ratio_to_floor"] <= 1.25 and out["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
