"""Benchmark: the Azure collection against the rate-limited floor, on a synthetic tenant.

Starts the Azure fake (agent.fakeapi.azure) with `--subscriptions` subscriptions (default 20), each
holding two of every collected kind of resource, plus the Acme directory in Entra ID. Every request
to the fake takes `--latency` seconds (handled concurrently, like the real services), and the source
allows `--concurrency` requests in flight per API. The collector then runs exactly as in
`annexa run` (real HTTP client, real pacing), and the bench prints:

  wall      the collection's wall time
  calls     requests the fake answered (ARM and Graph, retries included)
  floor     calls x latency / concurrency: the best any client could do with that many calls
  ratio     wall / floor (the target is <= 1.25)

    python bench/azure_bench.py [--subscriptions 20] [--latency 0.1] [--concurrency 16] [--repeat 3]
                                [--pipeline] [--json]

`--pipeline` also evaluates the rules and writes the store (what `annexa run` adds to collection).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN_ENV = "ANNEXA_BENCH_AZURE_TOKEN"


def _service_of(path: str) -> str:
    if path.startswith("/v1.0"):
        return "graph " + "/".join(path.split("/")[2:4])
    parts = path.split("/")
    if "providers" in parts:
        at = len(parts) - 1 - parts[::-1].index("providers")
        return "/".join(parts[at + 1:at + 3])
    return "/subscriptions"


def collect_once(fake_url: str, concurrency: int, workers: int) -> tuple[float, int, int]:
    """One collection: (seconds, resources, collection errors)."""
    from agent.config import SourceConfig
    from agent.runner import default_http_factory
    from collectors.azure import AzureCollector, AzureOptions
    from collectors.base import CollectorContext, Cursor, Progress

    src = SourceConfig.model_validate({"name": "bench", "type": "azure", "token_env": TOKEN_ENV,
                                       "arm_endpoint": fake_url, "graph_endpoint": fake_url,
                                       "max_concurrency": concurrency, "max_workers": workers})
    ctx = CollectorContext(source=src, options=AzureOptions.model_validate(src.options()),
                           logger=logging.getLogger("annexa.collector.bench"), progress=Progress(),
                           cursor=Cursor(lambda key: None), http_factory=default_http_factory(src))
    began = time.perf_counter()
    resources = sum(1 for _ in AzureCollector(ctx).collect())
    return time.perf_counter() - began, resources, len(ctx.errors)


def pipeline_once(fake_url: str, concurrency: int, workers: int, folder: Path) -> tuple[float, int]:
    """`annexa run` in-process over the same source: (seconds, findings)."""
    from agent.config import load_config
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from agent.runner import Runner, select_sources
    from agent.store.store import EvidenceStore
    from collectors.registry import known_resource_types

    cfg = folder / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{folder / 'bench.db'}\n  evidence: {folder / 'evidence'}\nsources:\n"
                   f"  - name: bench\n    type: azure\n    token_env: {TOKEN_ENV}\n    arm_endpoint: {fake_url}\n"
                   f"    graph_endpoint: {fake_url}\n    max_concurrency: {concurrency}\n    max_workers: {workers}\n")
    config = load_config(cfg)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(load_rules(known_types=set(known_resource_types())))
    began = time.perf_counter()
    result = Runner(config, store, rules).run(select_sources(config, None, None))
    seconds = time.perf_counter() - began
    findings = sum(sum(s.findings.values()) for s in result.sources.values())
    store.close()
    return seconds, findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request at the fake")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight per API (max_concurrency)")
    parser.add_argument("--workers", type=int, default=32, help="collection tasks side by side (max_workers)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pipeline", action="store_true", help="also time rules and the store (annexa run)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)

    import secrets

    from agent.fakeapi.azure import acme, serve

    token = secrets.token_urlsafe(16)
    os.environ[TOKEN_ENV] = token
    tenant = acme.synthetic(args.subscriptions)
    tenant.static_tokens[token] = None
    fake = serve(tenant, latency=args.latency)
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(args.repeat):
            fake.reset_log()
            fake.max_in_flight = 0
            seconds, resources, errors = collect_once(fake.url, args.concurrency, args.workers)
            calls = len(fake.log)
            floor = calls * args.latency / args.concurrency
            runs.append({"wall": seconds, "calls": calls, "floor": floor, "ratio": seconds / floor,
                         "resources": resources, "errors": errors, "max_in_flight": fake.max_in_flight,
                         "throttled": sum(1 for c in fake.log if c.status == 429),
                         "by_service": Counter(_service_of(c.path) for c in fake.log)})
        pipeline = None
        if args.pipeline:
            with tempfile.TemporaryDirectory() as folder:
                pipeline = pipeline_once(fake.url, args.concurrency, args.workers, Path(folder))
    finally:
        fake.stop()
    best = min(runs, key=lambda r: r["ratio"])
    summary = {"subscriptions": args.subscriptions, "latency": args.latency, "concurrency": args.concurrency,
               "workers": args.workers, "runs": len(runs),
               "wall_median": statistics.median(r["wall"] for r in runs), "wall_best": best["wall"],
               "calls": best["calls"], "floor": best["floor"],
               "ratio_median": statistics.median(r["ratio"] for r in runs), "ratio_best": best["ratio"],
               "resources": best["resources"], "errors": best["errors"], "throttled": best["throttled"],
               "max_in_flight": best["max_in_flight"], "by_service": dict(best["by_service"].most_common()),
               "pipeline_seconds": pipeline[0] if pipeline else None,
               "pipeline_findings": pipeline[1] if pipeline else None}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"Azure collection: {args.subscriptions} subscriptions, {args.latency * 1000:.0f} ms per request, "
              f"{args.concurrency} in flight per API, {len(runs)} runs")
        print(f"  wall     {summary['wall_median']:.2f} s median ({summary['wall_best']:.2f} s best)")
        print(f"  calls    {summary['calls']} ({summary['throttled']} throttled), "
              f"peak in flight {summary['max_in_flight']}")
        print(f"  floor    {summary['floor']:.2f} s (calls x latency / concurrency)")
        print(f"  ratio    {summary['ratio_median']:.2f} median, {summary['ratio_best']:.2f} best (target <= 1.25)")
        print(f"  output   {summary['resources']} resources, {summary['errors']} collection errors")
        if pipeline:
            print(f"  pipeline {pipeline[0]:.2f} s with rules and store ({pipeline[1]} findings)")
        print("  calls by API:")
        for name, count in summary["by_service"].items():
            print(f"    {count:5d}  {name}")
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
