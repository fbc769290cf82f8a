"""The demo's simulated GitHub organisation: discovered, quick, with violations and compliant twins."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from agent.demo.providers import discover
from agent.demo.providers.github import ORG, GitHubDemo
from tests.collectors.github.conftest import run_sources

WEB = f"https://github.com/{ORG}"


def test_github_demo_is_discovered() -> None:
    assert any(isinstance(p, GitHubDemo) for p in discover())


def test_github_demo_runs_twice_with_fixes_in_between(tmp_path: Path) -> None:
    demo = GitHubDemo()
    demo.start(tmp_path / "sources" / demo.source, datetime.now(UTC).date())
    try:
        source = "".join("  " + line + "\n" for line in demo.source_yaml().splitlines())
        started = time.monotonic()
        first = run_sources(tmp_path, source, env=demo.env())
        seconds = time.monotonic() - started
        changes = demo.apply_fixes()
        second = run_sources(tmp_path, source, env=demo.env(), store=first.store)
    finally:
        demo.stop()
    assert first.result.status == "complete", first.errors
    assert seconds < 10 and first.result.sources[demo.source].seconds < 3.0
    assert first.status("github.repo.default_branch_protected", f"{WEB}/payments-api") == "pass"
    assert first.status("github.repo.default_branch_protected", f"{WEB}/legacy-scripts") == "fail"
    assert first.status("github.repo.deploy_keys_read_only", f"{WEB}/legacy-scripts") == "fail"
    assert first.status("github.repo.dependabot_alerts_within_sla", f"{WEB}/infra") == "fail"
    assert first.status("github.repo.no_open_secret_scanning_alerts", f"{WEB}/legacy-scripts") == "fail"
    assert first.status("github.member.two_factor_enabled", "https://github.com/carol") == "fail"
    assert first.status("github.outside_collaborator.no_admin_access", "https://github.com/pixel-agency-sam") == "fail"
    carol = first.evidence("https://github.com/carol", "identity.account")
    assert carol["email"] == "carol@acme.example" and carol["mfa_enrolled"] is False
    assert changes and second.status("github.repo.default_branch_protected", f"{WEB}/legacy-scripts") == "pass"
    assert second.status("github.repo.deploy_keys_read_only", f"{WEB}/legacy-scripts") == "pass"
    assert any(f["rule_id"] == "github.audit.push_protection_not_bypassed" and f["status"] == "fail"
               for f in second.findings)
