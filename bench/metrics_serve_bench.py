"""`annexa metrics serve` under load: many idle (half-open) connections plus a burst of concurrent scrapes.

    python bench/metrics_serve_bench.py [--idle 1000] [--scrapes 300] [--widgets 2000] [--dir /tmp/x]

Builds a store with the test collector, starts `annexa metrics serve` as a real process, opens
`--idle` connections that never send a byte, then fires `--scrapes` concurrent GET /metrics (released
together) while /healthz is probed. Prints one JSON document: latency percentiles of both, failures,
and the server's thread count and RSS (from /proc) with all connections open.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_store(folder: Path, widgets: int) -> Path:
    import tests.support.testkit  # noqa: F401  (registers the test collector)
    from agent.cli.app import App
    from agent.cli.cmd_run import execute_run

    folder.mkdir(parents=True, exist_ok=True)
    rules = ROOT / "tests" / "support" / "rules"
    config = folder / "annexa.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
        f"rules:\n  paths: [{rules}]\nsources:\n  - name: kit\n    type: testkit\n    world: {folder / 'world.json'}\n")
    (folder / "world.json").write_text(json.dumps({"resources": [], "generate": widgets}))
    app = App(str(config))
    store = app.store()
    try:
        execute_run(app, quiet=True, store=store)
    finally:
        store.close()
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Threads", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


def get(port: int, path: str, timeout: float) -> tuple[bool, float]:
    began = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status == 200, time.monotonic() - began
    except OSError:
        return False, time.monotonic() - began


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--widgets", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout per request (s)")
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle + args.scrapes + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    folder = args.dir or Path(tempfile.mkdtemp(prefix="annexa-metrics-bench-"))
    config = build_store(folder, args.widgets)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit"}
    server = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(config), "metrics", "serve",
                               "--listen", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    idle: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while not get(port, "/healthz", 1.0)[0]:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        get(port, "/metrics", args.timeout)  # warm the cache once, as a running exporter would be
        before = proc_status(server.pid)
        for _ in range(args.idle):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        time.sleep(0.5)
        with_idle = proc_status(server.pid)
        healthz_idle = [get(port, "/healthz", args.timeout) for _ in range(20)]

        gate = threading.Barrier(args.scrapes + 1)
        scrapes: list[tuple[bool, float]] = []
        health: list[tuple[bool, float]] = []
        lock = threading.Lock()

        def scrape() -> None:
            gate.wait()
            result = get(port, "/metrics", args.timeout)
            with lock:
                scrapes.append(result)

        workers = [threading.Thread(target=scrape) for _ in range(args.scrapes)]
        for t in workers:
            t.start()
        began = time.monotonic()
        gate.wait()
        while any(t.is_alive() for t in workers):
            health.append(get(port, "/healthz", args.timeout))
            time.sleep(0.02)
        for t in workers:
            t.join()
        burst = time.monotonic() - began
        during = proc_status(server.pid)
    finally:
        for s in idle:
            s.close()
        server.terminate()
        server.wait(timeout=30)

    print(json.dumps({
        "idle_connections": args.idle, "concurrent_scrapes": args.scrapes, "widgets": args.widgets,
        "server_threads": {"before": before.get("Threads"), "with_idle": with_idle.get("Threads"),
                           "after_burst": during.get("Threads")},
        "server_rss_kb": {"before": before.get("VmRSS"), "with_idle": with_idle.get("VmRSS"),
                          "after_burst": during.get("VmRSS")},
        "healthz_with_idle": {"failed": sum(not ok for ok, _ in healthz_idle),
                              **percentiles([t for _, t in healthz_idle])},
        "metrics_burst": {"seconds": round(burst, 2), "failed": sum(not ok for ok, _ in scrapes),
                          **percentiles([t for _, t in scrapes])},
        "healthz_during_burst": {"probes": len(health), "failed": sum(not ok for ok, _ in health),
                                 **percentiles([t for _, t in health])},
    }, indent=2))


if __name__ == "__main__":
    main()
