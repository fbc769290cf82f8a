"""Annexa against ScoutSuite and Prowler on the same seeded moto account (driver of compare_peers.sh).

For each condition (the emulator as it answers, then +100 ms per call through the latency proxy)
and each repeat, the tools run back to back, each as its own process against the same emulator
(a fresh seed per tool run), and we record wall time, peak RSS of the scanner process, API calls
counted at the proxy, and what it found. Medians are printed and written as JSON.

    python bench/compare_peers.py [--scout BIN] [--prowler BIN] [--repeat 3] [--delays 0,100] [--json OUT]

Also `python bench/compare_peers.py --baseline OUT.json` records Annexa's detection on this world:
the multiset of (rule, resource, status) with emulator-generated ids normalised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
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

from bench.aws_world import REGIONS, MotoWorld, moto_env, seed_world  # noqa: E402
from bench.latency_proxy import LatencyProxy  # noqa: E402

SHIMS = ROOT / "bench" / "peer_shims"
# What moto cannot answer (Access Analyzer: HTTP 500; CloudTrail LookupEvents: not implemented);
# two attempts so emulator gaps fail fast (Prowler is run with its own fastest retry setting too).
ANNEXA_OPTIONS = ("    regions: [us-east-1, eu-west-1]\n    exclude_services: [accessanalyzer, events]\n"
                  "    max_attempts: 2\n")

# Ids moto makes up at random: normalised so two seedings of the same world compare equal.
_RANDOM = [
    (re.compile(r"\b(i|vol|snap|sg|vpc|subnet|ami|eni|lt|fl|rtb|igw|acl|vpce|sgr)-[0-9a-f]{8,17}\b"), r"\1-*"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "*"),
    (re.compile(r"\b(AKIA|ASIA|AIDA|AROA|AGPA|ANPA)[A-Z0-9]{12,20}\b"), r"\1*"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "*"),
    (re.compile(r"\b[0-9A-Za-z]{32}\b"), "*"),
    (re.compile(r"/[0-9a-f]{16}\b"), "/*"),  # ELBv2 load balancer and listener ids
    (re.compile(r"(:secret:[^|]*)-[A-Za-z0-9]{6}\b"), r"\1-*"),  # Secrets Manager's random suffix
]


def normalise(text: str) -> str:
    for pattern, repl in _RANDOM:
        text = pattern.sub(repl, text)
    return text


_CPU: dict[str, float] = {}  # the last child's CPU seconds (user + system), read by measured()


def _child(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, float, int]:
    """Run `cmd`; return (wall seconds, peak RSS MB of that process, exit code); CPU seconds in _CPU."""
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    _CPU["last"] = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, usage.ru_maxrss / 1024, proc.returncode


PYCACHE = Path(os.environ.get("ANNEXA_PEERS_CACHE", Path.home() / ".cache" / "annexa-peers")) / "pycache"


def tool_env(endpoint: str, *, optin_shim: bool = False) -> dict[str, str]:
    """The scanner's environment: the emulator's endpoint and dummy keys, the shims, and byte code.

    Every tool gets compiled byte code from one private cache (PYTHONPYCACHEPREFIX, filled by an
    untimed warm-up run), as a pip-installed package would have: without it (this machine sets
    PYTHONDONTWRITEBYTECODE=1) a tool whose venv holds no .pyc compiles ~1,000 modules per run.
    """
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("AWS_", "ANNEXA_")) and not k.startswith("ANNEXA_MALLOC_"))
           and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(moto_env(endpoint))
    env["PYTHONPATH"] = str(SHIMS)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if optin_shim:
        env["ANNEXA_SHIM_OPTIN"] = "1"
    return env


# -- the tools -----------------------------------------------------------------------------
def run_annexa(endpoint: str, work: Path) -> dict[str, Any]:
    annexa = shutil.which("annexa") or str(Path(sys.executable).parent / "annexa")
    cfg = work / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{work / 'annexa.db'}\n  evidence: {work / 'evidence'}\n"
                   f"sources:\n  - name: aws-bench\n    type: aws\n{ANNEXA_OPTIONS}")
    env = tool_env(endpoint)
    wall, rss, code = _child([annexa, "--config", str(cfg), "run"], env, work, work / "annexa.log")
    listed = subprocess.run([annexa, "--config", str(cfg), "findings", "--format", "json"], env=env,
                            capture_output=True, text=True, check=True)
    findings = json.loads(listed.stdout)
    return {"wall": wall, "rss_mb": rss, "exit": code, "findings": findings,
            "found": dict(sorted(Counter(f["status"] for f in findings).items()))}


def detection(findings: list[dict[str, Any]]) -> Counter[str]:
    """The multiset of `rule | resource id | status` (emulator ids normalised)."""
    return Counter(f"{f['rule']} | {normalise(str(f['resource']['id']))} | {f['status']}" for f in findings)


def compare_detection(baseline: dict[str, Any], found: Counter[str]) -> tuple[list[str], list[str]]:
    """(lost, new): baseline detections now missing (an error that became pass/fail is new, not
    lost; a fail or pass that became error is lost), and detections not in the baseline."""
    before = Counter(baseline["detections"])
    lost = sorted((before - found).elements())
    gained = sorted((found - before).elements())
    # An error resolved into a real verdict is a gain in detection, not a loss.
    resolved = {line.rsplit(" | ", 1)[0] for line in gained}
    lost = [line for line in lost if not (line.endswith(" | error") and line.rsplit(" | ", 1)[0] in resolved)]
    return lost, gained


def run_scout(scout: str, endpoint: str, work: Path) -> dict[str, Any]:
    env = tool_env(endpoint, optin_shim=True)
    cmd = [scout, "aws", "--no-browser", "--force", "--report-dir", str(work / "scout"),
           "--regions", *REGIONS, "--logfile", str(work / "scout-debug.log")]
    wall, rss, code = _child(cmd, env, work, work / "scout.log")
    found: dict[str, Any] = {}
    results = sorted((work / "scout").glob("scoutsuite-results/scoutsuite_results_*.js"))
    if results:
        text = results[0].read_text()
        data = json.loads(text[text.index("{"):])
        flagged = rules = 0
        for service in (data.get("services") or {}).values():
            for finding in (service.get("findings") or {}).values():
                rules += 1
                if finding.get("flagged_items"):
                    flagged += 1
                    found["flagged_items"] = found.get("flagged_items", 0) + finding["flagged_items"]
        found.update(rules=rules, rules_flagged=flagged)
    return {"wall": wall, "rss_mb": rss, "exit": code, "found": found}


def run_prowler(prowler: str, endpoint: str, work: Path) -> dict[str, Any]:
    env = tool_env(endpoint)
    cmd = [prowler, "aws", "--compliance", "iso27001_2022_aws", "--region", *REGIONS,
           "--aws-retries-max-attempts", "1", "--output-formats", "json-ocsf", "--output-directory",
           str(work / "prowler"), "--no-banner"]
    wall, rss, code = _child(cmd, env, work, work / "prowler.log")
    found: Counter[str] = Counter()
    for path in (work / "prowler").glob("*.ocsf.json"):
        for item in json.loads(path.read_text() or "[]"):
            found[str(item.get("status_code", "?")).lower()] += 1
    return {"wall": wall, "rss_mb": rss, "exit": code, "found": dict(sorted(found.items()))}


# -- the loop ------------------------------------------------------------------------------
def measured(tool: str, world: MotoWorld, delay: float, runner: Any, work_root: Path, *,
             work: Path | None = None, reseed: bool = True, keep_findings: bool = False) -> dict[str, Any]:
    """One run of `tool` through a fresh latency proxy (by default on a freshly reset and seeded world)."""
    if reseed:
        world.reset()
        seed_world(world.url)
    proxy = LatencyProxy(world.url, delay)
    try:
        work = work or Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=work_root))
        result = runner(proxy.url, work)
        result["cpu"] = _CPU.pop("last", 0.0)
        result["calls"] = proxy.stats.snapshot()
    finally:
        proxy.close()
    if not keep_findings:
        result.pop("findings", None)
    print(f"  {tool:9} +{delay:>3.0f} ms: {result['wall']:6.1f} s ({result['cpu']:5.1f} s CPU), "
          f"{result['rss_mb']:6.0f} MB, {result['calls']['calls']:4d} calls ({result['calls']['repeats']} repeated), "
          f"exit {result['exit']}, found {result['found']}", flush=True)
    return result


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"wall_s": round(statistics.median(r["wall"] for r in runs), 2),
            "cpu_s": round(statistics.median(r["cpu"] for r in runs), 2),
            "rss_mb": round(statistics.median(r["rss_mb"] for r in runs), 1),
            "calls": int(statistics.median(r["calls"]["calls"] for r in runs)),
            "repeated_calls": max(r["calls"]["repeats"] for r in runs),
            "repeated": runs[-1]["calls"]["repeated"],
            "walls": [round(r["wall"], 2) for r in runs], "found": runs[-1]["found"],
            "calls_by_service": runs[-1]["calls"]["by_service"], "exit_codes": [r["exit"] for r in runs]}


def _version(executable: str, dist: str) -> str:
    """The installed version of `dist` in the venv holding `executable`."""
    python = Path(executable).parent / "python"
    out = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} / {five:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scout", help="the `scout` executable of a ScoutSuite venv")
    parser.add_argument("--prowler", help="the `prowler` executable of a Prowler venv")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--delays", default="0,100", help="added ms per call, comma-separated")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--baseline", type=Path, help="only record Annexa's detection on the world here")
    parser.add_argument("--check", type=Path, metavar="BASELINE",
                        help="only run Annexa once and compare its detection with BASELINE (exit 1 on a loss "
                             "or on any repeated API call)")
    parser.add_argument("--no-annexa", action="store_true", help="measure the peers only")
    parser.add_argument("--unchanged", action="store_true",
                        help="also time Annexa's first run on an empty store against a second, unchanged run")
    args = parser.parse_args(argv)

    world = MotoWorld()
    work_root = Path(tempfile.mkdtemp(prefix="annexa-peers-"))
    try:
        if args.baseline:
            seed_world(world.url)
            result = run_annexa(world.url, work_root)
            found = detection(result["findings"])
            args.baseline.write_text(json.dumps({
                "world": "bench/aws_world.py", "options": ANNEXA_OPTIONS.strip().splitlines(),
                "counts": result["found"], "detections": dict(sorted(found.items()))}, indent=1) + "\n")
            print(f"recorded {sum(found.values())} detections {result['found']} in {args.baseline}")
            return 0
        if args.check:
            result = measured("annexa", world, 0, run_annexa, work_root, keep_findings=True)
            lost, gained = compare_detection(json.loads(args.check.read_text()), detection(result["findings"]))
            repeats = result["calls"]["repeats"]
            print(f"annexa found {result['found']}; {len(lost)} detections lost, {len(gained)} new; "
                  f"{repeats} repeated API calls {result['calls']['repeated'] or ''}")
            for line in lost:
                print(f"  lost: {line}")
            for line in gained:
                print(f"  new:  {line}")
            if lost:
                print(next(work_root.glob("annexa-*/annexa.log")).read_text()[-3000:])
            return 1 if lost or repeats else 0
        tools: list[tuple[str, Any]] = [] if args.no_annexa else [("annexa", run_annexa)]
        if args.scout:
            tools.append(("scoutsuite", lambda url, work: run_scout(args.scout, url, work)))
        if args.prowler:
            tools.append(("prowler", lambda url, work: run_prowler(args.prowler, url, work)))
        report: dict[str, Any] = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
                                             f"{platform.python_version()}",
                                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                  "versions": {name: _version(exe, dist) for name, exe, dist in (
                                      ("scoutsuite", args.scout, "scoutsuite"), ("prowler", args.prowler, "prowler"))
                                      if exe},
                                  "load_before": _load(), "repeat": args.repeat, "conditions": {}}
        for delay in (float(d) for d in args.delays.split(",")):
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in tools}
            print(f"+{delay:.0f} ms per call (load {_load()})", flush=True)
            if not report["conditions"]:
                print("warm-up (byte code, untimed)", flush=True)
                for name, runner in tools:
                    measured(name, world, 0, runner, work_root)
            for _ in range(args.repeat):
                for name, runner in tools:
                    runs[name].append(measured(name, world, delay, runner, work_root))
            report["conditions"][f"+{delay:.0f}ms"] = {name: _median(r) for name, r in runs.items()}
        if args.unchanged and not args.no_annexa:
            report["first_vs_unchanged"] = first_vs_unchanged(world, work_root, args.repeat)
        report["load_after"] = _load()
        _print(report)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    finally:
        world.stop()
        shutil.rmtree(work_root, ignore_errors=True)
    return 0


def first_vs_unchanged(world: MotoWorld, work_root: Path, repeat: int) -> dict[str, Any]:
    """Annexa twice on one store and one seeded world: the first run writes every resource and
    finding, the second finds everything unchanged (what a scheduled scan mostly sees)."""
    print(f"first run vs unchanged run (load {_load()})", flush=True)
    first, second = [], []
    for _ in range(repeat):
        work = Path(tempfile.mkdtemp(prefix="annexa-twice-", dir=work_root))
        first.append(measured("annexa", world, 0, run_annexa, work_root, work=work))
        second.append(measured("annexa", world, 0, run_annexa, work_root, work=work, reseed=False))
    return {"first": _median(first), "unchanged": _median(second)}


def _print(report: dict[str, Any]) -> None:
    print(f"\n{report['machine']}; load {report['load_before']} -> {report['load_after']}; "
          f"medians of {report['repeat']}")
    print(f"{'condition':10} {'tool':11} {'wall s':>7} {'CPU s':>6} {'peak RSS MB':>12} {'calls':>6} "
          f"{'repeats':>7}  found")
    rows = [(cond, name, fig) for cond, tools in report["conditions"].items() for name, fig in tools.items()]
    rows += [(f"{which} run", "annexa", fig) for which, fig in report.get("first_vs_unchanged", {}).items()]
    for cond, name, fig in rows:
        print(f"{cond:10} {name:11} {fig['wall_s']:7.2f} {fig['cpu_s']:6.2f} {fig['rss_mb']:12.0f} {fig['calls']:6d} "
              f"{fig['repeated_calls']:7d}  {fig['found']}")
    for cond, tools in report["conditions"].items():
        if "annexa" in tools and "scoutsuite" in tools:
            ratio = tools["annexa"]["wall_s"] / tools["scoutsuite"]["wall_s"]
            tools["annexa"]["ratio_to_scoutsuite"] = round(ratio, 2)
            print(f"{cond}: Annexa / ScoutSuite wall time = {ratio:.2f}")


if __name__ == "__main__":
    sys.exit(main())
