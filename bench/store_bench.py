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
    python bench/store_bench.py --runs 30 --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python bench/store_bench.py --runs 2 --profile 25 --no-verify --quiet --out /tmp/bench.json

`cpu_seconds` is the process's own CPU time (user + system, every thread) during the run: on a
shared machine it is the figure to compare, wall time is not. `--pg-url` runs the same workload on
SQLite, then on a fresh database of that PostgreSQL server, and compares time and size; the
PostgreSQL server's own CPU for the bench's connections (read from /proc, same machine) is added;
a PostgreSQL table that grew as much as makes autovacuum analyze it is analyzed after the run,
outside the timed part, as autovacuum does between scheduled runs.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
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


def cpu_now() -> float:
    usage = rlimit.getrusage(rlimit.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fresh_pg_database(server_url: str) -> str:
    """A new, empty database on the server of `server_url`; returns its URL."""
    import psycopg

    name = f"annexa_store_bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(server_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class BackendCpu:
    """CPU seconds the PostgreSQL backends serving one database used, summed over every backend seen."""

    def __init__(self, engine):  # type: ignore[no-untyped-def]
        self.engine = engine
        self.seen: dict[int, float] = {}

    def total(self) -> float:
        from pg_server import backend_cpu

        self.seen.update(backend_cpu(self.engine))
        return sum(self.seen.values())


def pg_size_mb(engine) -> float:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 1e6


def sqlite_payload_bytes(engine) -> int:  # type: ignore[no-untyped-def]
    """Bytes of row and index content in a SQLite store (the `dbstat` table: no free pages, no page slack)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(sum(payload), 0) FROM dbstat")).scalar_one())


def manifest_bytes(engine, run_id: int) -> int:  # type: ignore[no-untyped-def]
    """Bytes of a run's sealed manifest as SQLite stores it."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(length(CAST(manifest AS BLOB)), 0) FROM runs WHERE id = :id"),
                                {"id": run_id}).scalar_one())


def run_bench(args: argparse.Namespace, url: str | None, label: str) -> dict:
    from agent.config import load_config
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from agent.runner import Runner, select_sources
    from agent.store.schema import findings, resource_states
    from agent.store.store import EvidenceStore
    from agent.store.verify import verify_store

    folder = Path(tempfile.mkdtemp(prefix="annexa-store-bench-"))
    url = url or f"sqlite:///{folder / 'annexa.db'}"
    postgres = url.startswith("postgresql")
    prefix = f"[{label}] " if args.pg_url else ""
    rules_dir = ROOT / "tests" / "support" / "rules"
    results = []
    store = None
    backend = None
    profiler = cProfile.Profile() if args.profile else None
    for run in range(1, args.runs + 1):
        generation = 0 if run <= 2 else run  # runs 1-2 identical, later runs change a share
        (folder / "annexa.yaml").write_text(
            f"store:\n  url: {url}\n  evidence: {folder / 'evidence'}\n"
            f"sources:\n  - name: bench\n    type: bench\n    count: {args.resources}\n"
            f"    generation: {generation}\n    change: {args.change}\n")
        config = load_config(folder / "annexa.yaml")
        store = store or EvidenceStore.open(config.store_url, config.evidence_dir)
        if postgres and backend is None:
            backend = BackendCpu(store.engine)
        rules = [r for r in load_rules([rules_dir]) if r.kind == "jmespath"]
        with store.engine.connect() as conn:
            before = (conn.execute(select(func.count()).select_from(findings)).scalar_one(),
                      conn.execute(select(func.count()).select_from(resource_states)).scalar_one())
        blobs_before = store.blobs.writes
        payload_before = None if postgres else sqlite_payload_bytes(store.engine)
        usage_before = store.blobs.usage() if hasattr(store.blobs, "usage") else None
        server_before = backend.total() if backend else 0.0
        cpu_before = cpu_now()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = Runner(config, store, RuleSet(rules)).run(select_sources(config, None, None))
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        cpu = cpu_now() - cpu_before
        server_cpu = backend.total() - server_before if backend else None
        with store.engine.connect() as conn:
            after = (conn.execute(select(func.count()).select_from(findings)).scalar_one(),
                     conn.execute(select(func.count()).select_from(resource_states)).scalar_one())
        if postgres:
            # Scheduled runs are minutes or hours apart, and autovacuum analyzes a table within a minute
            # once 50 rows + 10 % of it changed; back-to-back bench runs would otherwise plan on whatever
            # statistics autovacuum happened to leave (server CPU varied 2x between identical benches).
            # The same threshold here, untimed; only inserted rows are counted.
            from sqlalchemy import text

            grown = [name for name, b, a in zip(("findings", "resource_states"), before, after, strict=True)
                     if a - b > 50 + 0.1 * b]
            if grown:
                with store.engine.connect() as conn:
                    conn.execute(text("ANALYZE " + ", ".join(grown)))
                    conn.commit()
        db = folder / "annexa.db"
        usage = store.blobs.usage() if hasattr(store.blobs, "usage") else None
        db_bytes = sum(p.stat().st_blocks * 512 for p in folder.glob("annexa.db*"))
        if postgres:
            db_bytes = int(pg_size_mb(store.engine) * 1e6)
        row = {"run": run, "status": result.status, "seconds": round(seconds, 2),
               "resources_per_s": round(args.resources / seconds), "cpu_seconds": round(cpu, 2),
               "resources_per_cpu_s": round(args.resources / max(cpu, 1e-9)),
               "finding_rows_added": after[0] - before[0],
               "snapshot_rows_added": after[1] - before[1], "blobs_written": store.blobs.writes - blobs_before,
               "db_mb": round(db_bytes / 1e6, 1) if (db.exists() or postgres) else None,
               "max_rss_mb": round(rss_mb())}
        if server_cpu is not None:
            row["server_cpu_seconds"] = round(server_cpu, 2)
        if payload_before is not None:
            # What the run added besides its manifest: rows and index entries (exact, SQLite) plus the
            # compressed evidence bytes it stored. The target: under 1 KB per source when nothing changed.
            manifest = manifest_bytes(store.engine, result.run_id)
            evidence_added = (usage.compressed_bytes - usage_before.compressed_bytes) if usage and usage_before else 0
            row.update(manifest_bytes=manifest,
                       bytes_added_besides_manifest=sqlite_payload_bytes(store.engine) - payload_before
                       - manifest + evidence_added)
        if usage is not None:
            row.update(evidence_compressed_mb=round(usage.compressed_bytes / 1e6, 2),
                       evidence_disk_mb=round(usage.disk_bytes / 1e6, 2),
                       disk_ratio=round(usage.disk_bytes / max(usage.compressed_bytes, 1), 2),
                       store_disk_mb=round((usage.disk_bytes + db_bytes) / 1e6, 2))
        results.append(row)
        if not args.quiet:
            print(prefix + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    assert store is not None
    out: dict = {"store": label, "runs": results}
    if not args.no_verify:
        cpu_before = cpu_now()
        started = time.perf_counter()
        report = verify_store(store)
        out["verify"] = {"verify_seconds": round(time.perf_counter() - started, 2),
                         "verify_cpu_seconds": round(cpu_now() - cpu_before, 2), "verify_ok": report.ok,
                         "runs": report.runs, "finding_intervals": report.findings, "blobs": report.blobs}
        if not args.quiet:
            print(prefix + ", ".join(f"{k} {v}" for k, v in out["verify"].items()), flush=True)
    if "store_disk_mb" in results[0]:
        out["store_growth_vs_first_run"] = round(results[-1]["store_disk_mb"] / results[0]["store_disk_mb"], 2)
    out["total_cpu_seconds"] = round(sum(r["cpu_seconds"] for r in results), 2)
    out["total_seconds"] = round(sum(r["seconds"] for r in results), 2)
    if backend is not None:
        out["total_server_cpu_seconds"] = round(sum(r["server_cpu_seconds"] for r in results), 2)
    if profiler:
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(args.profile)
        out["profile"] = buf.getvalue()
        print(buf.getvalue())
    store.engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--change", type=float, default=0.01, help="share of resources changed per run after the 2nd")
    parser.add_argument("--url", help="store URL (default: a SQLite file in a temp folder)")
    parser.add_argument("--pg-url", help="a PostgreSQL server URL: compare a fresh database there with SQLite")
    parser.add_argument("--profile", type=int, metavar="N", help="print the top N functions (cProfile, by own time)")
    parser.add_argument("--no-verify", action="store_true", help="skip `verify --store` at the end")
    parser.add_argument("--quiet", action="store_true", help="no line per run")
    parser.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    load = os.getloadavg()
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
                    "load_before": [round(x, 2) for x in load], "resources": args.resources, "runs": args.runs,
                    "change": args.change}
    if args.pg_url:
        report["sqlite"] = run_bench(args, args.url, "sqlite")
        pg_url = fresh_pg_database(args.pg_url)
        try:
            report["postgresql"] = run_bench(args, pg_url, "postgresql")
        finally:
            drop_pg_database(args.pg_url, pg_url)
        lite, pg = report["sqlite"], report["postgresql"]
        report["pg_vs_sqlite"] = {
            "cpu_time": round((pg["total_cpu_seconds"] + pg["total_server_cpu_seconds"])
                              / lite["total_cpu_seconds"], 2),
            "wall_time": round(pg["total_seconds"] / lite["total_seconds"], 2),
            "size": round(pg["runs"][-1]["store_disk_mb"] / lite["runs"][-1]["store_disk_mb"], 2)}
        if not args.json:
            print("PostgreSQL / SQLite: " + ", ".join(f"{k} {v}" for k, v in report["pg_vs_sqlite"].items()))
    else:
        report.update(run_bench(args, args.url, "postgresql" if (args.url or "").startswith("postgres") else "sqlite"))
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if not args.json and not args.quiet:
        print(f"load average before {report['load_before']}, after {report['load_after']} on {os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    os.environ.pop("ANNEXA_PLUGINS", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
