"""Benchmark: the GitHub collector on a synthetic organisation of 2,000 repositories.

The fake GitHub (agent.fakeapi.github) runs in a separate process (so its CPU does not compete with
the collector's for one interpreter lock) with an injected latency per request and GitHub's primary
rate limit scaled down in time (`--limit` requests per `--window` seconds, rate-limit headers on every
answer, 403 when spent, 304s free). The full pipeline (collector → rules → store) runs in-process.

Printed: wall time of the collection, requests sent versus the minimum necessary for the same
evidence (computed from the tenant, listing by listing, page by page), the rate-limited floor and
the ratio to it, throttled answers, and what the collector reported about the budget.

The floor is the least time any client needs: max(latency floor N·λ/C, rate floor (ceil(N/L)-1)·W +
(last window's calls)·λ/C), with N the minimum calls, λ the latency, C the concurrency, L/W the limit.
The secondary-limit pacing (`requests_per_minute`) is off: the fake has no secondary limit and time is
scaled. `--repeat 2` runs again over the same store to show what the kept ETags save.

    python bench/github_bench.py [--repos 2000] [--latency 0.03] [--concurrency 16]
                                 [--limit 2500] [--window 20] [--repeat 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.fakeapi.github import SECURITY_OFF, SECURITY_ON, Alert, DeployKey, GitHubOrg, Hook, Ruleset  # noqa: E402

PER_PAGE = 100
CATEGORIES = ("org", "team", "repo", "protected_branch", "repository_ruleset", "secret_scanning_push_protection")


def synthetic_org(repos: int = 2000, seed: int = 7) -> GitHubOrg:
    """A large organisation, the same for a given seed (built in both processes)."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)

    def ago(days: float) -> str:
        return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    org = GitHubOrg("megacorp")
    for i in range(300):
        org.member(f"dev{i:03d}", "admin" if i < 3 else "member", two_factor=i % 30 != 7)
    org.saml = {f"dev{i:03d}": {"nameId": f"dev{i:03d}@megacorp.example"} for i in range(250)}
    for i in range(repos):
        name = f"repo-{i:04d}"
        private = rnd.random() < 0.8
        ghas = private and rnd.random() < 0.6
        kind = rnd.random()
        repo = org.repo(name, visibility="private" if private else "public", archived=rnd.random() < 0.1,
                        security=dict(SECURITY_ON if (ghas or not private) else SECURITY_OFF),
                        vulnerability_alerts=rnd.random() < 0.9,
                        code_scanning_analyses=1 if rnd.random() < 0.7 else 0,
                        created_at=(now - timedelta(days=3000 - i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if kind < 0.4:
            repo.protection = {"required_approving_review_count": rnd.choice([0, 1, 2]),
                               "enforce_admins": rnd.random() < 0.5, "required_status_checks": ["ci"]}
        repo.collaborators = {f"dev{rnd.randrange(300):03d}": rnd.choice(["push", "admin", "maintain"])
                              for _ in range(rnd.randint(1, 4))}
        repo.hooks = [Hook(rnd.choice(["https://ci.example/h", "http://old.example/h"]))
                      for _ in range(rnd.randint(0, 2))]
        repo.keys = [DeployKey(f"k{j}", read_only=rnd.random() < 0.7) for j in range(rnd.randint(0, 2))]
    names = list(org.repos)
    org.org_rulesets.append(Ruleset("baseline", [{"type": "pull_request", "parameters": {
        "required_approving_review_count": 1}}, {"type": "non_fast_forward"}],
        repositories=[n for n in names if int(n[-4:]) % 10 in (4, 5, 6)]))
    for t in range(20):
        from agent.fakeapi.github import Team
        org.teams.append(Team(f"Team {t}", f"team-{t}", {n: rnd.choice(["pull", "push", "admin"])
                                                        for n in rnd.sample(names, 100)}))
    for i in range(40):
        org.outside_collaborator(f"vendor{i:02d}", {n: rnd.choice(["pull", "push"]) for n in rnd.sample(names, 2)})
    org.dependabot += [Alert(rnd.choice(names), rnd.choice(["critical", "high"]), ago(rnd.uniform(1, 90)))
                       for _ in range(1500)]
    org.code_scanning += [Alert(rnd.choice(names), rnd.choice(["critical", "high"]), ago(rnd.uniform(1, 90)))
                          for _ in range(600)]
    org.secret_scanning += [Alert(rnd.choice(names), "high", ago(rnd.uniform(1, 90))) for _ in range(50)]
    for i in range(500):
        org.event(rnd.choice(["org.add_member", "repo.update_member", "protected_branch.update",
                              "secret_scanning_push_protection.bypass", "team.add_member"]),
                  f"dev{rnd.randrange(300):03d}", int((now - timedelta(days=rnd.uniform(0, 80))).timestamp() * 1000)
                  + i, user=f"dev{rnd.randrange(300):03d}", repo=f"megacorp/{rnd.choice(names)}")
    return org


def pages(n: int) -> int:
    return max(1, math.ceil(n / PER_PAGE))


def minimum_calls(org: GitHubOrg) -> dict[str, int]:
    """The fewest requests that read the documented evidence, listing by listing."""
    active = [r for r in org.repos.values() if not r.archived]
    code_on = [r for r in active if r.visibility == "public" or r.security.get("advanced_security") == "enabled"]
    visible_dep = {a.repo for a in org.dependabot if org.repos[a.repo].vulnerability_alerts
                   and not org.repos[a.repo].archived and a.state == "open"}
    visible_code = {a.repo for a in org.code_scanning if org.repos[a.repo] in code_on}
    dep_alerts = [a for a in org.dependabot
                  if org.repos[a.repo].vulnerability_alerts and not org.repos[a.repo].archived]
    code_alerts = [a for a in org.code_scanning if org.repos[a.repo].visibility == "public"
                   or org.repos[a.repo].security.get("advanced_security") == "enabled"]
    secret_alerts = [a for a in org.secret_scanning if org.repos[a.repo].security.get("secret_scanning") == "enabled"]
    audit = sum(pages(sum(1 for e in org.audit if e.action == c or e.action.startswith(c + "."))) for c in CATEGORIES)
    owners = sum(1 for r in org.members.values() if r == "admin")
    ruleset_ids = {rs.id for r in active for rs in org.effective_rulesets(r) if rs.rules}
    out = {
        "organisation": 1,
        "people": (pages(owners) + pages(len(org.members)) + pages(len(org.two_factor_disabled & set(org.members)))
                   + pages(len(org.outside)) + pages(len(org.two_factor_disabled & org.outside))
                   + pages(len(org.invitations)) + pages(len(org.hooks))),
        "teams": pages(len(org.teams)) + sum(pages(len(t.repos)) for t in org.teams),
        "graphql": pages(len(org.saml or {})) + pages(len(org.members)),
        "alert listings": pages(len(dep_alerts)) + pages(len(code_alerts)) + pages(len(secret_alerts)),
        "audit log": audit,
        "repository listing": pages(len(org.repos)),
        "per repository": (len(org.repos)  # direct collaborators (every repository, archived too)
                           + 5 * len(active) - len(active)  # protection, rules, hooks, deploy keys
                           + sum(1 for r in active if r.name not in visible_dep)  # vulnerability-alerts
                           + sum(1 for r in code_on if r.name not in visible_code)),  # code scanning analyses
        "ruleset details": len(ruleset_ids),
    }
    out["total"] = sum(out.values())
    return out


def floor_seconds(n: int, latency: float, concurrency: int, limit: int, window: float) -> float:
    latency_floor = n * latency / concurrency
    windows = math.ceil(n / limit)
    rate_floor = (windows - 1) * window + (n - (windows - 1) * limit) * latency / concurrency
    return max(latency_floor, rate_floor)


def serve_forever(args: argparse.Namespace) -> None:
    """Child process: the fake GitHub with latency and the scaled primary rate limit."""
    from agent.fakeapi import FakeApi
    from agent.fakeapi.github import serve

    org = synthetic_org(args.repos, args.seed)
    fake = serve(org, FakeApi("github-bench", latency=args.latency), rate_limit=(args.limit, args.window)).start()
    print(json.dumps({"url": fake.url, "token": org.token}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    fake.stop()


def run_once(folder: Path, url: str, token: str, args: argparse.Namespace, store: Any = None) -> dict[str, Any]:
    from agent.config import load_config
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from agent.runner import Runner, select_sources
    from agent.store.store import EvidenceStore
    from collectors.github import GitHubCollector
    from collectors.registry import known_resource_types

    cfg = folder / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
                   f"sources:\n  - name: gh\n    type: github\n    org: megacorp\n    endpoint: {url}\n"
                   f"    token_env: BENCH_GITHUB_TOKEN\n    max_concurrency: {args.concurrency}\n"
                   f"    requests_per_minute: 0\n    rate_limit_reserve: 0\n")
    os.environ["BENCH_GITHUB_TOKEN"] = token
    config = load_config(cfg)
    store = store or EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(load_rules(known_types=set(known_resource_types())), params=config.param_resolver())
    began = time.monotonic()
    result = Runner(config, store, rules).run(select_sources(config, None, None))
    wall = time.monotonic() - began
    summary = result.sources["gh"]
    stats = dict(GitHubCollector.last_stats)
    http = stats.pop("http")
    return {"store": store, "wall_seconds": round(wall, 2), "collection_seconds": round(summary.seconds, 2),
            "status": result.status, "resources": summary.resources, "findings": summary.findings,
            "requests": stats["requests"], "not_modified": stats["not_modified"], "pauses": stats["pauses"],
            "throttled": http.throttled, "retries": http.retries, "rate_limit": stats["rate_limit"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limit", type=int, default=2500)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(args)
        return 0
    minimum = minimum_calls(synthetic_org(args.repos, args.seed))
    child = subprocess.Popen([sys.executable, __file__, "--serve", *sys.argv[1:]], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        folder = Path(tempfile.mkdtemp(prefix="annexa-github-bench-"))
        runs, store = [], None
        for _ in range(args.repeat):
            run = run_once(folder, info["url"], info["token"], args, store)
            store = run.pop("store")
            runs.append(run)
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)
    floor = floor_seconds(minimum["total"], args.latency, args.concurrency, args.limit, args.window)
    first = runs[0]
    report = {"repositories": args.repos, "latency_s": args.latency, "concurrency": args.concurrency,
              "rate_limit": f"{args.limit} per {args.window:g}s", "minimum_calls": minimum,
              "floor_seconds": round(floor, 2), "runs": runs,
              "calls_ratio": round(first["requests"] / minimum["total"], 3),
              "floor_ratio": round(first["collection_seconds"] / floor, 3)}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(f"GitHub collector, synthetic organisation of {args.repos} repositories; latency {args.latency}s, "
              f"concurrency {args.concurrency}, rate limit {args.limit}/{args.window:g}s (scaled)")
        print("minimum calls: " + ", ".join(f"{k} {v}" for k, v in minimum.items()))
        for n, run in enumerate(runs, 1):
            print(f"run {n}: {run['status']}, collection {run['collection_seconds']}s "
                  f"(pipeline {run['wall_seconds']}s), {run['requests']} requests, "
                  f"{run['not_modified']} answered 304, {run['throttled']} throttled, "
                  f"{run['pauses']} rate-limit pauses, {run['resources']} resources")
        print(f"calls / minimum = {report['calls_ratio']} (target <= 1.05); floor {report['floor_seconds']}s, "
              f"time / floor = {report['floor_ratio']} (target <= 1.25)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
