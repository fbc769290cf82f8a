"""`annexa run` with a github source, as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.collectors.github.conftest import acme, served
from tests.conftest import ROOT

ANNEXA = [sys.executable, "-m", "agent"]


def test_annexa_run_with_a_github_source(tmp_path: Path) -> None:
    org = acme()
    with served(org, rate_limit=(5000, 3600)) as fake:
        cfg = tmp_path / "annexa.yaml"
        cfg.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\n"
                       f"sources:\n  - name: gh\n    type: github\n    org: acme\n    endpoint: {fake.url}\n"
                       f"    token_env: GH_E2E_TOKEN\n    params: {{min_approvals: 2}}\n")
        env = {**os.environ, "GH_E2E_TOKEN": org.token, "NO_PROXY": "127.0.0.1,localhost", "PYTHONPATH": str(ROOT)}
        run = subprocess.run([*ANNEXA, "--config", str(cfg), "--log-format", "json", "--log-level", "info", "run",
                              "--format", "json"], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        assert summary["status"] == "complete"
        assert "rate limit remaining: core" in run.stderr  # the end-of-run budget line
        assert org.token not in run.stderr and org.token not in run.stdout
        found = subprocess.run([*ANNEXA, "--config", str(cfg), "findings", "--source", "gh", "--format", "json"],
                               capture_output=True, text=True, env=env, timeout=120)
    findings = json.loads(found.stdout)
    reviews = {f["resource"]["id"]: f["status"] for f in findings if f["rule"] == "github.repo.reviews_required"}
    # min_approvals: 2 from the source's params: api (2 approvals) passes, payments (1) now fails
    assert reviews["https://github.com/acme/api"] == "pass"
    assert reviews["https://github.com/acme/payments"] == "fail"
    f = next(f for f in findings if f["rule"] == "github.repo.default_branch_protected")
    assert f["resource"]["type"] == "github.repository" and f["resource"]["account"] == "acme"
    assert set(f["controls"]) == {"A.8.32", "A.8.4"}
