"""Export benchmark: build a store with N runs over M widgets (the test collector), then time the export.

    python bench/export_bench.py --widgets 5000 --runs 12 [--dir /tmp/annexa-bench]

Every run changes ~10 % of the widgets, so findings and snapshots accumulate intervals. The export runs
in a fresh subprocess (so its peak RSS is its own): once plain for the time, once under tracemalloc for
the peak of Python allocations. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(folder: Path, widgets: int, runs: int, url: str | None = None) -> dict[str, float]:
    """A store of `widgets` test widgets after `runs` runs (10 % flipped per run), in `folder`
    (SQLite there, or the store at `url`)."""
    import tests.support.testkit  # noqa: F401  (registers the test collector)
    from agent.cli.app import App
    from agent.cli.cmd_run import execute_run

    folder.mkdir(parents=True, exist_ok=True)
    rules = ROOT / "tests" / "support" / "rules"
    (folder / "annexa.yaml").write_text(
        f"store:\n  url: {url or 'sqlite:///' + str(folder / 'annexa.db')}\n  evidence: {folder / 'evidence'}\n"
        f"rules:\n  paths: [{rules}]\nsources:\n  - name: kit\n    type: testkit\n    world: {folder / 'world.json'}\n")
    rng = random.Random(7)
    state = {f"w{i}": {"encryption": {"enabled": rng.random() < 0.8}, "kind": "server" if i % 3 == 0 else "db",
                       "rules": [{"cidr": "0.0.0.0/0", "port": 22}] if i % 7 == 0 else [], "rev": 0}
             for i in range(widgets)}
    app = App(str(folder / "annexa.yaml"))
    store = app.store()
    began = time.monotonic()
    for run in range(runs):
        if run:
            for wid in rng.sample(sorted(state), max(1, widgets // 10)):
                state[wid]["encryption"]["enabled"] = not state[wid]["encryption"]["enabled"]
                state[wid]["rev"] = run
        (folder / "world.json").write_text(json.dumps({"resources": [
            {"type": "testkit.widget", "id": f"arn:bench:widget/{wid}", "name": wid, "data": data,
             "region": "r1", "account": "123456789012"} for wid, data in state.items()]}))
        execute_run(app, quiet=True, store=store)
    store.close()
    return {"build_seconds": round(time.monotonic() - began, 1)}


def export_once(folder: Path, trace: bool) -> dict[str, object]:
    import tracemalloc

    import tests.support.testkit  # noqa: F401
    from agent.cli.app import App
    from agent.export.bundle import export_bundle
    from agent.export.history import Period
    from agent.soa import configured_soa
    from agent.store.timeutil import utcnow

    app = App(str(folder / "annexa.yaml"))
    store = app.store()
    catalogue, rules, soa = app.catalogue, app.active_rules(), configured_soa(app.config, app.catalogue)
    out = folder / ("traced.zip" if trace else "bundle.zip")
    out.unlink(missing_ok=True)
    if trace:
        tracemalloc.start()
    began = time.monotonic()
    now = utcnow()
    result = export_bundle(store=store, catalogue=catalogue, rules=rules, soa=soa, out=out,
                           period=Period(now - timedelta(days=365), now))
    seconds = time.monotonic() - began
    figures: dict[str, object] = {"seconds": round(seconds, 2), "files": result.files,
                                  "bundle_mb": round(result.size / 1048576, 1), "finding_intervals": result.findings,
                                  "evidence_files": result.evidence_files, "runs": result.runs,
                                  "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if trace:
        figures["python_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1048576, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widgets", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/annexa-bench"))
    parser.add_argument("--export-only", choices=["plain", "traced"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        print(json.dumps(export_once(args.dir, args.export_only == "traced")))
        return
    figures: dict[str, object] = {"widgets": args.widgets, "runs_requested": args.runs}
    if not (args.dir / "annexa.db").exists():
        figures.update(build(args.dir, args.widgets, args.runs))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit"}
    for mode in ("plain", "traced"):
        proc = subprocess.run([sys.executable, __file__, "--dir", str(args.dir), "--export-only", mode],
                              capture_output=True, text=True, env=env, check=True)
        figures[mode] = json.loads(proc.stdout)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
