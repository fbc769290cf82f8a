"""GitHub tests: the real collector, HTTP client, rule engine and store against the GitHub fake on loopback."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.config import load_config
from agent.fakeapi import FakeApi
from agent.fakeapi.github import (
    SECURITY_OFF,
    SECURITY_ON,
    Alert,
    DeployKey,
    GitHubOrg,
    Hook,
    Invitation,
    Ruleset,
    serve,
)
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, select_sources
from agent.store.store import EvidenceStore
from collectors.registry import known_resource_types

TOKEN_ENV = "GHTEST_TOKEN"
NOW = datetime.now(UTC)
WEB = "https://github.com"


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ms_ago(days: float) -> int:
    return int((NOW - timedelta(days=days)).timestamp() * 1000)


def repo_url(org: str, name: str) -> str:
    return f"{WEB}/{org}/{name}"


CLASSIC_STRICT = {"required_approving_review_count": 2, "dismiss_stale_reviews": True,
                  "require_code_owner_reviews": True, "required_status_checks": ["ci/build", "codeql"],
                  "enforce_admins": True, "required_signatures": True}


def acme() -> GitHubOrg:
    """Acme's organisation: for every rule, a repository or person that passes and one that fails."""
    org = GitHubOrg("acme", name="Acme")
    org.member("alice", "admin", email="alice@acme.example", name="Alice")
    org.member("bob", "admin")
    org.member("carol", two_factor=False, verified_domain_emails=["carol@acme.example"])
    org.member("dave")
    org.member("erin")
    org.member("deploy-bot", kind="Bot")
    org.saml = {"alice": {"nameId": "alice@acme.example", "emails": ["alice@acme.example"]},
                "dave": {"nameId": "dave@acme.example", "emails": ["dave@acme.example"]}}
    org.hooks.append(Hook("https://hooks.acme.example/github"))
    org.invitations += [Invitation("frank", None, ago(2)), Invitation(None, "gina@acme.example", ago(60))]
    org.repo("api", protection=dict(CLASSIC_STRICT), collaborators={"alice": "admin"},
             keys=[DeployKey("ci-read", read_only=True)], hooks=[Hook("https://ci.acme.example/hook")])
    org.repo("web", visibility="public", collaborators={"dave": "admin"})
    org.repo("docs", visibility="public")
    org.repo("legacy", protection=None, vulnerability_alerts=False, code_scanning_analyses=0,
             security={**SECURITY_ON, "secret_scanning": "disabled", "secret_scanning_push_protection": "disabled"},
             collaborators={"alice": "admin", "bob": "admin", "dave": "admin", "erin": "admin"},
             keys=[DeployKey("old-deployer", read_only=False)],
             hooks=[Hook("http://legacy.acme.example/hook"), Hook("https://x.acme.example", insecure_ssl="1")])
    org.repo("payments", protection={"required_approving_review_count": 1, "allow_force_pushes": True,
                                     "required_status_checks": ["ci"], "enforce_admins": True})
    org.repo("internal-tool", security=dict(SECURITY_OFF), protection=dict(CLASSIC_STRICT))
    org.repo("old-site", archived=True)
    org.repo("empty", branch_exists=False)
    org.org_rulesets.append(Ruleset(
        "default branch", [{"type": "pull_request", "parameters": {
            "required_approving_review_count": 1, "dismiss_stale_reviews_on_push": False,
            "require_code_owner_review": False, "require_last_push_approval": False,
            "required_review_thread_resolution": False}},
            {"type": "non_fast_forward"}, {"type": "deletion"},
            {"type": "required_status_checks", "parameters": {
                "required_status_checks": [{"context": "build"}], "strict_required_status_checks_policy": True}}],
        bypass_actors=[{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}],
        repositories=["web", "docs"]))
    org.repos["docs"].rulesets.append(Ruleset("docs strict", [
        {"type": "pull_request", "parameters": {"required_approving_review_count": 1,
                                                "dismiss_stale_reviews_on_push": True,
                                                "require_code_owner_review": True}},
        {"type": "required_signatures"}]))
    org.outside_collaborator("vendor-vic", {"legacy": "admin"}, two_factor=False)
    org.outside_collaborator("contractor-cat", {"api": "push"})
    org.dependabot += [Alert("api", "critical", ago(3)), Alert("payments", "critical", ago(40)),
                       Alert("payments", "medium", ago(400))]
    org.code_scanning += [Alert("api", "high", ago(5)), Alert("payments", "critical", ago(60))]
    org.secret_scanning += [Alert("payments", "high", ago(10), secret="ghp_" + "Q" * 36)]
    org.event("secret_scanning_push_protection.bypass", "dave", ms_ago(3), repo="acme/web",
              reason="false_positive")
    org.event("secret_scanning_push_protection.request_bypass", "erin", ms_ago(3), repo="acme/api")
    org.event("protected_branch.destroy", "bob", ms_ago(2), repo="acme/legacy", branch="main")
    org.event("protected_branch.create", "alice", ms_ago(2), repo="acme/api", branch="main")
    org.event("org.update_member", "carol", ms_ago(1), user="carol", permission="admin")
    org.event("org.add_member", "alice", ms_ago(1), user="erin", permission="read")
    org.event("git.clone", "dave", ms_ago(1), repo="acme/api")
    org.event("repo.create", "alice", ms_ago(1), repo="acme/new")
    return org


def lax() -> GitHubOrg:
    """An organisation whose settings fail every organisation-level rule."""
    org = GitHubOrg("lax", token="ghp_lax_token_000000000000000000000000")
    org.settings.update(two_factor_requirement_enabled=False, default_repository_permission="write",
                        members_can_create_public_repositories=True)
    org.member("solo", "admin")
    org.hooks.append(Hook("http://hooks.lax.example/in", insecure_ssl="1"))
    org.repo("sandbox")
    return org


@dataclass
class GhRun:
    result: Any
    store: EvidenceStore
    findings: list[dict[str, Any]]
    evidence_dir: Path

    def status(self, rule: str, resource_id: str) -> str:
        matches = [f["status"] for f in self.findings if f["rule_id"] == rule and f["resource_id"] == resource_id]
        assert matches, f"no finding for {rule} on {resource_id}; have: " + ", ".join(
            sorted({f"{f['resource_id']}={f['status']}" for f in self.findings if f["rule_id"] == rule}))
        assert len(matches) == 1, matches
        return matches[0]

    def message(self, rule: str, resource_id: str) -> str:
        return next(f["message"] for f in self.findings if f["rule_id"] == rule and f["resource_id"] == resource_id)

    def by_rule(self, rule: str) -> dict[str, str]:
        return {f["resource_id"]: f["status"] for f in self.findings if f["rule_id"] == rule}

    @property
    def errors(self) -> list[Any]:
        return [e for s in self.result.sources.values() for e in s.errors]

    def evidence(self, resource_id: str, type_: str | None = None) -> dict[str, Any]:
        import json

        import sqlalchemy as sa

        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.text("select type, evidence from resource_states where resource_id = :r "
                                        "and open = :o"), {"r": resource_id, "o": True}).all()
        for rtype, digest in rows:
            if type_ is None or rtype == type_:
                return json.loads(self.store.blobs.get_bytes(digest))["data"]
        raise AssertionError(f"no evidence for {resource_id}")


@functools.cache
def builtin_rules() -> tuple[Any, ...]:
    return tuple(load_rules(known_types=set(known_resource_types())))


@contextmanager
def served(org: GitHubOrg, **kw: Any) -> Iterator[FakeApi]:
    fake = serve(org, **kw).start()
    try:
        yield fake
    finally:
        fake.stop()


def source_yaml(name: str, org: GitHubOrg, fake: FakeApi, extra: str = "", token_env: str = TOKEN_ENV) -> str:
    return (f"  - name: {name}\n    type: github\n    org: {org.login}\n    endpoint: {fake.url}\n"
            f"    token_env: {token_env}\n    max_concurrency: 4\n    requests_per_minute: 0\n{extra}")


def run_sources(folder: Path, sources: str, *, http_factory: Callable[..., Any] | None = None,
                env: dict[str, str] | None = None, store: EvidenceStore | None = None) -> GhRun:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
                   f"sources:\n{sources}")
    config = load_config(cfg)
    store = store or EvidenceStore.open(config.store_url, config.evidence_dir)
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        runner = Runner(config, store, RuleSet(builtin_rules(), params=config.param_resolver()),
                        http_factory=http_factory)
        result = runner.run(select_sources(config, None, None))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return GhRun(result, store, list(store.current_findings()), folder / "evidence")


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.02)
