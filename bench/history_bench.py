"""A year of history: `verify --store`, export of the period and bundle verify at 90 … 1,460 runs.

    python bench/history_bench.py --widgets 10000 --runs 1460 --sizes 90,365,730,1460 \
        --dir /tmp/annexa-history --json bench/history_latest.json

The store is built once, through the real store API (begin_run → SourceRecorder → seal_run), with
synthetic widgets and no collector: each run records every widget, about 1 % of them changed since
the run before, so finding and snapshot intervals accumulate as they do in a real year. Runs are
spaced six hours apart on a clock that ends now (1,460 runs = 365 days). After the run that reaches
each size, the store is copied to `DIR/size-N` (database, evidence folder and checkpoint), so every
size can be measured on a store of exactly that many runs. An existing store in DIR is extended, not
rebuilt; `--measure-only` skips building.

Each measurement runs in a fresh subprocess, so its CPU seconds (user + system, of that process
alone) and its peak RSS are its own: `verify --store`, export of the whole period (the year up to
that size) into a bundle, and `annexa verify` of that bundle. Wall times depend on the machine's
load, which is printed with every figure (`uptime`). Prints and writes one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPACING = timedelta(hours=6)
SOURCE = "kit"


URL_FILE = "store-url.txt"  # a PostgreSQL store's database URL, beside its evidence folder


def store_url(folder: Path) -> str:
    """The store database of `folder`: the URL saved by `--pg-url`, else its SQLite file."""
    saved = folder / URL_FILE
    return saved.read_text().strip() if saved.exists() else f"sqlite:///{folder / 'annexa.db'}"


def built(folder: Path) -> bool:
    return (folder / "annexa.db").exists() or (folder / URL_FILE).exists()


def config_text(folder: Path) -> str:
    rules = ROOT / "tests" / "support" / "rules"
    return (f"store:\n  url: {store_url(folder)}\n  evidence: {folder / 'evidence'}\n"
            f"rules:\n  paths: [{rules}]\nsources:\n  - name: {SOURCE}\n    type: testkit\n"
            f"    world: {folder / 'world.json'}\n")


class Clock:
    """The store's clock during the build: a fixed instant per run, a millisecond more per call."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.calls = 0

    def set(self, instant: datetime) -> None:
        self.now, self.calls = instant, 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.now + timedelta(milliseconds=self.calls)


class World:
    """`widgets` synthetic widgets; `change` of them differ in each generation (seeded, repeatable)."""

    def __init__(self, widgets: int, change: float) -> None:
        self.rng = random.Random(16)
        self.ids = [f"w{i:05d}" for i in range(widgets)]
        self.change = max(1, int(widgets * change))
        self.state = {wid: {"encryption": {"enabled": self.rng.random() < 0.8},
                            "kind": "server" if i % 3 == 0 else "db",
                            "rules": [{"cidr": "0.0.0.0/0", "port": 22}] if i % 7 == 0 else [],
                            "tags": {"team": f"t{i % 17}"}, "rev": 0}
                      for i, wid in enumerate(self.ids)}
        self.cache: dict[str, tuple[Any, bytes, list[Any]]] = {}

    def advance(self, generation: int) -> None:
        """Regenerate the world of `generation` (the same whatever run the build resumes from)."""
        rng = random.Random(generation)
        for wid in rng.sample(self.ids, self.change):
            data = self.state[wid]
            data["encryption"]["enabled"] = not data["encryption"]["enabled"]
            data["rev"] = generation
            self.cache.pop(wid, None)

    def items(self, source: str) -> list[tuple[Any, bytes, list[Any]]]:
        from agent.model import Finding, Resource, Status, canonical_json

        out = []
        for wid in self.ids:
            cached = self.cache.get(wid)
            if cached is None:
                data = json.loads(json.dumps(self.state[wid]))
                res = Resource("testkit.widget", f"arn:bench:widget/{wid}", wid, data, account="123456789012",
                               region="r1", source=source)
                raw = canonical_json(res.evidence_document())
                env = {**res.envelope()}
                enabled = data["encryption"]["enabled"]
                found = [Finding(rule="testkit.widget.encrypted", status=Status.PASS if enabled else Status.FAIL,
                                 source=source, resource=env, severity="high", controls=("A.8.24",),
                                 title="Widgets are encrypted",
                                 message="" if enabled else f"Widget {wid} in r1 is not encrypted")]
                if data["kind"] == "server":
                    open_port = bool(data["rules"])
                    found.append(Finding(rule="testkit.widget.no_public_ports",
                                         status=Status.FAIL if open_port else Status.PASS, source=source,
                                         resource=env, severity="critical", controls=("A.8.20", "A.8.22"),
                                         title="Widgets expose no admin port to the world",
                                         message=f"Widget {wid} opens [22] to the internet" if open_port else ""))
                cached = self.cache[wid] = (res, raw, found)
            out.append(cached)
        return out


def sealed_runs(store: Any) -> int:
    from sqlalchemy import func, select

    from agent.store.schema import runs

    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(runs).where(runs.c.seq.is_not(None))).scalar_one())


def snapshot(folder: Path, size: int, store: Any) -> Path:
    """Copy the store as it is now to DIR/size-N (a consistent copy: the builder is between runs)."""
    target = folder / f"size-{size}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    url = store_url(folder)
    if url.startswith("postgresql"):
        store.engine.dispose()  # a template database must have no connections
        copy = f"{url}_size{size}"
        _pg_admin(url, f'DROP DATABASE IF EXISTS "{copy.rsplit("/", 1)[1]}"',
                  f'CREATE DATABASE "{copy.rsplit("/", 1)[1]}" TEMPLATE "{url.rsplit("/", 1)[1]}"')
        (target / URL_FILE).write_text(copy + "\n")
    for name in ("annexa.db", "annexa.db-wal", "annexa.db-shm"):
        if (folder / name).exists():
            shutil.copy2(folder / name, target / name)
    shutil.copytree(folder / "evidence", target / "evidence")
    (target / "annexa.yaml").write_text(config_text(target))
    return target


def _pg_admin(url: str, *statements: str) -> None:
    """Run statements on the server of `url`, connected to its `postgres` database."""
    import psycopg

    server = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def build(folder: Path, widgets: int, runs: int, sizes: list[int], change: float) -> dict[str, Any]:
    """Extend the store in `folder` to `runs` sealed runs; copy it at each size."""
    import agent.store.recorder as recorder_mod
    import agent.store.store as store_mod
    from agent.store.store import EvidenceStore

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annexa.yaml").write_text(config_text(folder))
    clock = Clock()
    recorder_mod.utcnow = clock  # type: ignore[assignment]
    store_mod.utcnow = clock  # type: ignore[assignment]
    store = EvidenceStore.open(store_url(folder), str(folder / "evidence"))
    done = sealed_runs(store)
    world = World(widgets, change)
    for generation in range(1, done + 1):
        world.advance(generation)
    start = datetime.now(UTC).replace(microsecond=0) - SPACING * runs
    began, cpu0 = time.monotonic(), time.process_time()
    for number in range(done + 1, runs + 1):
        world.advance(number)
        clock.set(start + SPACING * number)
        run_id = store.begin_run([SOURCE])
        rec = store.source_recorder(run_id, SOURCE, "testkit")
        for res, raw, found in world.items(SOURCE):
            digest = rec.record_resource(res, raw)
            for finding in found:
                finding.evidence = digest
                rec.record_finding(finding)
        rec.complete([])
        store.seal_run(run_id, "complete")
        if number in sizes and number != runs:
            snapshot(folder, number, store)
        if number % 10 == 0:
            print(f"run {number}/{runs}: {time.monotonic() - began:.0f} s wall, "
                  f"{time.process_time() - cpu0:.0f} s CPU", file=sys.stderr, flush=True)
    store.close()
    return {"built_runs": runs - done, "build_wall_s": round(time.monotonic() - began, 1),
            "build_cpu_s": round(time.process_time() - cpu0, 1)}


# -- measurements (each in its own process) ------------------------------------------------------------
def child_figures(store: Any = None) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {"cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    if store is not None and store.engine.dialect.name == "postgresql":
        out["server_cpu_s"] = server_cpu(store)
    return out


def server_cpu(store: Any) -> float:
    """CPU seconds of the PostgreSQL backends now connected to the store's database. A measuring child
    is the only client and keeps its pooled connections open, so this is the server's share of it."""
    from pg_server import backend_cpu

    return round(sum(backend_cpu(store.engine).values()), 2)


def measure_verify_store(folder: Path) -> dict[str, Any]:
    from agent.store.store import EvidenceStore
    from agent.store.verify import verify_store

    store = EvidenceStore.open(store_url(folder), str(folder / "evidence"))
    began = time.monotonic()
    report = verify_store(store)
    wall = time.monotonic() - began
    return {"ok": report.ok, "runs": report.runs, "finding_intervals": report.findings, "blobs": report.blobs,
            "wall_s": round(wall, 2), **child_figures(store)}


def measure_export(folder: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from agent.cli.app import App
    from agent.export.bundle import export_bundle
    from agent.export.history import Period
    from agent.soa import configured_soa
    from agent.store.schema import runs

    app = App(str(folder / "annexa.yaml"))
    store = app.store()
    with store.engine.connect() as conn:
        first, last = conn.execute(select(func.min(runs.c.started_at), func.max(runs.c.finished_at))).one()
    out = folder / "bundle.zip"
    out.unlink(missing_ok=True)
    began = time.monotonic()
    result = export_bundle(store=store, catalogue=app.catalogue, rules=app.active_rules(),
                           soa=configured_soa(app.config, app.catalogue), out=out,
                           period=Period(_utc(first) - timedelta(hours=1), _utc(last) + timedelta(hours=1)))
    wall = time.monotonic() - began
    return {"wall_s": round(wall, 2), "files": result.files, "bundle_mb": round(result.size / 1048576, 1),
            "finding_intervals": result.findings, "evidence_files": result.evidence_files, "runs": result.runs,
            **child_figures(store)}


def measure_bundle(folder: Path) -> dict[str, Any]:
    from agent.export.verify import check_bundle

    began = time.monotonic()
    report = check_bundle(folder / "bundle.zip")
    wall = time.monotonic() - began
    return {"ok": report.ok, "wall_s": round(wall, 2), **child_figures()}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


MEASURES = {"verify-store": measure_verify_store, "export": measure_export, "verify-bundle": measure_bundle}


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def measure(folder: Path, what: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit"}
    before = load()
    proc = subprocess.run([sys.executable, __file__, "--dir", str(folder), "--child", what],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"], "load": before}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "load": before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widgets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1460)
    parser.add_argument("--sizes", default="90,365,730,1460", help="comma-separated run counts to measure")
    parser.add_argument("--change", type=float, default=0.01, help="share of widgets changed per run")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/annexa-history"))
    parser.add_argument("--measure-only", action="store_true", help="measure the stores already built")
    parser.add_argument("--build-only", action="store_true", help="build (or extend) the store, measure nothing")
    parser.add_argument("--only", default="verify-store,export,verify-bundle", help="which measurements")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--pg-url", help="build on PostgreSQL: a new database named after DIR on this server "
                        "(postgresql+psycopg://user@host:port/any); kept, with one copy per size")
    parser.add_argument("--child", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(MEASURES[args.child](args.dir)))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    figures: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "widgets": args.widgets,
                               "change_per_run": args.change, "run_spacing_hours": SPACING.total_seconds() / 3600,
                               "machine": f"{os.cpu_count()} cores", "sizes": {}}
    if args.pg_url and not (args.dir / URL_FILE).exists():
        name = "annexa_history_" + "".join(c if c.isalnum() else "_" for c in args.dir.name)
        url = args.pg_url.rsplit("/", 1)[0] + "/" + name
        _pg_admin(url, f'CREATE DATABASE "{name}"')
        args.dir.mkdir(parents=True, exist_ok=True)
        (args.dir / URL_FILE).write_text(url + "\n")
    figures["store"] = "postgresql" if store_url(args.dir).startswith("postgresql") else "sqlite"
    if not args.measure_only:
        figures["build"] = build(args.dir, args.widgets, args.runs, sizes, args.change)
        if args.build_only:
            print(json.dumps(figures["build"]))
            return 0
    for size in sizes:
        folder = args.dir if size == args.runs else args.dir / f"size-{size}"
        if not built(folder):
            continue
        row: dict[str, Any] = {}
        for what in args.only.split(","):
            row[what] = measure(folder, what)
            print(f"{size} runs, {what}: {json.dumps(row[what])}", flush=True)
        figures["sizes"][str(size)] = row
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
