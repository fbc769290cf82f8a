"""The collector makes exactly the minimum number of requests the benchmark computes for a tenant."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from collectors.github import GitHubCollector
from tests.collectors.github.conftest import TOKEN_ENV, run_sources, served, source_yaml
from tests.conftest import ROOT


def load_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("github_bench", ROOT / "bench" / "github_bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requests_equal_the_computed_minimum(tmp_path: Path) -> None:
    bench = load_bench()
    org = bench.synthetic_org(repos=120, seed=3)
    minimum = bench.minimum_calls(bench.synthetic_org(repos=120, seed=3))
    with served(org) as fake:
        run = run_sources(tmp_path, source_yaml("gh", org, fake).replace("max_concurrency: 4", "max_concurrency: 8"),
                          env={TOKEN_ENV: org.token})
    assert run.result.status == "complete", run.errors
    assert GitHubCollector.last_stats["requests"] == minimum["total"] == len(fake.log)
    assert bench.floor_seconds(10_000, 0.03, 16, 2500, 20) == 3 * 20 + 2500 * 0.03 / 16
