"""Benchmark: the collect → evaluate → store pipeline on synthetic resources, run after run.

Prints, per run: wall time, resources/s, rows added to the interval tables, blobs written, database
size, the evidence folder's disk use against the compressed evidence bytes it holds (the packing
overhead), and the peak memory of the process — showing that an unchanged world costs no new rows or
blobs, and that a small change costs a proportionally small amount. Then times `verify --store` and
prints the whole store's size after the last run against its size after the first.

    python bench/store_bench.py --resources 10000 --runs 30 --change 0.01   # the disk figure

    python bench/store_bench.py                      # 10,000 resources, 4 runs, SQLite
    python bench/store_bench.py --resources 50000 --runs 3 --change 0.01
    python bench/store_bench.py --url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import resource as rlimit
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from agent.model import Resource  # noqa: E402
from collectors.base import Collector, CollectorOptions  # noqa: E402
from collectors.registry import register  # noqa: E402


class SyntheticOptions(CollectorOptions):
    count: int
    generation: int = 0
    change: float = 0.0


@register
class SyntheticCollector(Collector):
    """`count` widgets; a `change` share of them differ in each `generation`."""

    type = "bench"
    resource_types = {"testkit.widget": "a synthetic widget"}
    Options = SyntheticOptions

    def collect(self) -> Iterator[Resource]:
        opts: SyntheticOptions = self.ctx.options
        changed_every = int(1 / opts.change) if opts.change else 0
        for i in range(opts.count):
            version = opts.generation if changed_every and i % changed_every == 0 else 0
            yield Resource("testkit.widget", f"arn:bench:widget/{i}", f"widget-{i}", region="r1", data={
                "kind": "server" if i % 3 == 0 else "db", "encryption": {"enabled": (i + version) % 2 == 0},
                "rules": [{"cidr": "10.0.0.0/8", "port": 22}], "tags": {"team": f"t{i % 17}", "v": version}})


def rss_mb() -> float:
    return rlimit.getrusage(rlimit.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--change", type=float, default=0.01, help="share of resources changed per run after the 2nd")
    parser.add_argument("--url", help="store URL (default: a SQLite file in a temp folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from agent.config import load_config
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from agent.runner import Runner, select_sources
    from agent.store.schema import findings, resource_states
    from agent.store.store import EvidenceStore
    from agent.store.verify import verify_store

    folder = Path(tempfile.mkdtemp(prefix="annexa-store-bench-"))
    url = args.url or f"sqlite:///{folder / 'annexa.db'}"
    rules_dir = ROOT / "tests" / "support" / "rules"
    results = []
    store = None
    for run in range(1, args.runs + 1):
        generation = 0 if run <= 2 else run  # runs 1-2 identical, later runs change a share
        (folder / "annexa.yaml").write_text(
            f"store:\n  url: {url}\n  evidence: {folder / 'evidence'}\n"
            f"sources:\n  - name: bench\n    type: bench\n    count: {args.resources}\n"
            f"    generation: {generation}\n    change: {args.change}\n")
        config = load_config(folder / "annexa.yaml")
        store = store or EvidenceStore.open(config.store_url, config.evidence_dir)
        rules = [r for r in load_rules([rules_dir]) if r.kind == "jmespath"]
        with store.engine.connect() as conn:
            before = (conn.execute(select(func.count()).select_from(findings)).scalar_one(),
                      conn.execute(select(func.count()).select_from(resource_states)).scalar_one())
        blobs_before = store.blobs.writes
        started = time.perf_counter()
        result = Runner(config, store, RuleSet(rules)).run(select_sources(config, None, None))
        seconds = time.perf_counter() - started
        with store.engine.connect() as conn:
            after = (conn.execute(select(func.count()).select_from(findings)).scalar_one(),
                     conn.execute(select(func.count()).select_from(resource_states)).scalar_one())
        db = folder / "annexa.db"
        usage = store.blobs.usage() if hasattr(store.blobs, "usage") else None
        db_bytes = sum(p.stat().st_blocks * 512 for p in folder.glob("annexa.db*"))
        row = {"run": run, "status": result.status, "seconds": round(seconds, 2),
               "resources_per_s": round(args.resources / seconds), "finding_rows_added": after[0] - before[0],
               "snapshot_rows_added": after[1] - before[1], "blobs_written": store.blobs.writes - blobs_before,
               "db_mb": round(db.stat().st_size / 1e6, 1) if db.exists() else None, "max_rss_mb": round(rss_mb())}
        if usage is not None:
            row.update(evidence_compressed_mb=round(usage.compressed_bytes / 1e6, 2),
                       evidence_disk_mb=round(usage.disk_bytes / 1e6, 2),
                       disk_ratio=round(usage.disk_bytes / max(usage.compressed_bytes, 1), 2),
                       store_disk_mb=round((usage.disk_bytes + db_bytes) / 1e6, 2))
        results.append(row)
        if not args.json:
            print(", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    assert store is not None
    started = time.perf_counter()
    report = verify_store(store)
    verify = {"verify_seconds": round(time.perf_counter() - started, 2), "verify_ok": report.ok,
              "runs": report.runs, "finding_intervals": report.findings, "blobs": report.blobs}
    if "store_disk_mb" in results[0]:
        verify["store_growth_vs_first_run"] = round(results[-1]["store_disk_mb"] / results[0]["store_disk_mb"], 2)
    if args.json:
        print(json.dumps({"runs": results, "verify": verify}))
    else:
        print(", ".join(f"{k} {v}" for k, v in verify.items()))
    os.environ.pop("ANNEXA_PLUGINS", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
