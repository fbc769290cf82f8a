"""Reading at scale: `annexa findings` (first screen, JSON, CSV), `controls`, `runs` and a metrics scrape.

Builds (once, in --dir) a store of N widgets with the test collector and rule pack — about 1.3 findings
per widget, so 75,000 widgets give ~100,000 open findings — then runs each command in its own process
and prints one JSON document:

* `findings_first_screen_s`: from starting `annexa findings` (table) until 60 lines are on its stdout;
* `findings_json_s` / `findings_json_rss_mb`, the same for `--format csv`: the whole listing, and the
  peak RSS of that process (constant if the output is streamed);
* `controls_s`, `runs_s`: the whole command; `metrics_scrape_s`: one `annexa metrics show` (a full scrape);
  `cli_start_s`: `annexa --version`, the part of each of these that is Python starting;
* `metrics_compute_*_s`: computing one metrics snapshot in-process, from the per-run summaries and live.

    python bench/reading_bench.py --widgets 75000 --dir /tmp/annexa-reading
    python bench/reading_bench.py --widgets 1000000 --dir /tmp/annexa-reading-1m-pg \
        --store-url postgresql+psycopg://postgres@127.0.0.1:5432/annexa_reading_1m

With a PostgreSQL store on this machine, `server_cpu_s` gives the CPU of the backends that served
each command (see bench/pg_server.py: measure on a quiet server).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.export_bench import build  # noqa: E402

TIME = "/usr/bin/time"


def _env() -> dict[str, str]:
    """Byte-code cached outside the tree (as an installed package has it): without it every start of
    the CLI compiles ~1,000 modules (about 2 s here), which would swamp what is measured."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit", "COLUMNS": "160",
           "PYTHONPYCACHEPREFIX": "/tmp/annexa-bench-pycache"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def scrape_compute(folder: Path) -> dict[str, float]:
    """In-process seconds to compute one metrics snapshot: from the per-run summaries, and live."""
    import tests.support.testkit  # noqa: F401
    from agent.cli.app import App
    from agent.metrics.collector import StoreMetrics
    from agent.metrics.snapshot import SUMMARY_KEY
    from agent.store.schema import cursors

    app = App(str(folder / "annexa.yaml"))
    out = {}
    metrics = StoreMetrics(app, cache_seconds=0)
    metrics.snapshot()  # warm: catalogue, rules, connection
    out["metrics_compute_summary_s"] = round(metrics.snapshot().compute_seconds, 3)
    store = app.store()
    with store.engine.begin() as conn:
        saved = conn.execute(cursors.select().where(cursors.c.key == SUMMARY_KEY)).mappings().all()
        conn.execute(cursors.delete().where(cursors.c.key == SUMMARY_KEY))
    out["metrics_compute_live_s"] = round(metrics.snapshot().compute_seconds, 3)
    out.update(remediation_compute(app))
    with store.engine.begin() as conn:
        for row in saved:
            conn.execute(cursors.insert().values(**row))
    metrics.close()
    return out


def remediation_compute(app: Any) -> dict[str, float]:
    """In-process seconds for the remediation figures of one scrape: from the summaries, and folded live."""
    from agent.clock import now
    from agent.metrics.remediation import remediation_values
    from agent.metrics.remediation_summary import current, fold, source_rows

    store = app.store()
    sla_for = app.config.remediation.days_for
    remediation_values(store, sla_for, now())  # warm
    began = time.process_time()
    remediation_values(store, sla_for, now())
    out = {"remediation_compute_summary_cpu_s": round(time.process_time() - began, 3)}
    with store.engine.connect() as conn:
        began = time.process_time()
        for source in current(store):
            fold(source_rows(conn, source), None)
        out["remediation_compute_live_cpu_s"] = round(time.process_time() - began, 3)
    return out


def _cli(folder: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "agent", "--config", str(folder / "annexa.yaml"), *args]


def whole(folder: Path, *args: str) -> tuple[float, float, int]:
    """Seconds, peak RSS (MB) and output bytes of one command run to the end (its CPU seconds in `CPU`).

    The peak comes from GNU time, started as a small process of its own: Linux carries a process's
    memory high-water mark across fork and exec, so the rusage of a child forked straight from this
    process (which may have just built a large store) would report this process's peak instead.
    """
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        wrapped = [TIME, "-f", "%M %U %S", "-o", rss_file.name] if os.access(TIME, os.X_OK) else []
        server_before = _server_cpu()
        began = time.monotonic()
        proc = subprocess.Popen([*wrapped, *_cli(folder, *args)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=_env())
        assert proc.stdout is not None
        size = 0
        while chunk := proc.stdout.read(1 << 16):
            size += len(chunk)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - began
        _server_cpu_since(args, server_before)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{args} failed")
        if wrapped:
            peak, user, system = rss_file.read().split()[-3:]
            peak_kb, CPU[args] = int(peak), round(float(user) + float(system), 2)
        else:  # the fallback may overstate the peak
            peak_kb, CPU[args] = usage.ru_maxrss, round(usage.ru_utime + usage.ru_stime, 2)
    return round(seconds, 2), round(peak_kb / 1024, 1), size


CPU: dict[tuple[str, ...], float] = {}  # user + system seconds of the last `whole` run of each command
SERVER: dict[tuple[str, ...], float] = {}  # PostgreSQL backends' CPU seconds for it (PostgreSQL stores only)
_PG: list[Any] = []  # the engine that reads the server's figures, when the store is PostgreSQL


def _server_cpu() -> float | None:
    if not _PG:
        return None
    from bench.pg_server import reaped_backend_cpu

    time.sleep(0.2)  # let the postmaster reap the backends of the command before
    return reaped_backend_cpu(_PG[0])


def _server_cpu_since(args: tuple[str, ...], before: float | None) -> None:
    after = _server_cpu()
    if before is not None and after is not None:
        SERVER[args] = round(after - before, 2)


def first_screen(folder: Path, lines: int = 60) -> float:
    server_before = _server_cpu()
    began = time.monotonic()
    proc = subprocess.Popen(_cli(folder, "findings"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env())
    assert proc.stdout is not None
    for _ in range(lines):
        if not proc.stdout.readline():
            break
    seconds = time.monotonic() - began
    proc.kill()
    proc.wait()
    _server_cpu_since(("first screen",), server_before)
    return round(seconds, 2)


def _watch_server(folder: Path) -> None:
    """When the store in `folder`'s config is PostgreSQL, keep an engine to read its backends' CPU."""
    import tests.support.testkit  # noqa: F401  (registers the test collector the config names)
    from agent.config import load_config
    from agent.store.engine import make_engine

    url = load_config(folder / "annexa.yaml").store_url
    if url.startswith("postgresql"):
        _PG.append(make_engine(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widgets", type=int, default=75_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/annexa-reading"))
    parser.add_argument("--store-url", help="build the store there instead of a SQLite file in --dir")
    args = parser.parse_args()
    figures: dict[str, object] = {"dir": str(args.dir)}
    if not ((args.dir / "annexa.db").exists() or (args.dir / "annexa.yaml").exists()):  # a store (any URL) there
        figures["widgets"] = args.widgets
        figures.update(build(args.dir, args.widgets, args.runs, args.store_url))
    _watch_server(args.dir)
    whole(args.dir, "--version")  # fills the byte-code cache
    figures["cli_start_s"] = whole(args.dir, "--version")[0]
    figures["findings_first_screen_s"] = first_screen(args.dir)
    for fmt in ("json", "csv"):
        seconds, rss, size = whole(args.dir, "findings", "--format", fmt)
        figures.update({f"findings_{fmt}_s": seconds, f"findings_{fmt}_rss_mb": rss,
                        f"findings_{fmt}_mb": round(size / 1e6, 1)})
    for name, cmd in (("controls", ["controls"]), ("runs", ["runs"]), ("metrics_scrape", ["metrics", "show"])):
        seconds, rss, _ = whole(args.dir, *cmd)
        figures[f"{name}_s"], figures[f"{name}_rss_mb"] = seconds, rss
        figures[f"{name}_cpu_s"] = CPU[tuple(cmd)]
    if SERVER:
        figures["server_cpu_s"] = {" ".join(cmd): cpu for cmd, cpu in SERVER.items()}
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    figures.update(scrape_compute(args.dir))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
