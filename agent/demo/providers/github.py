"""Acme's simulated GitHub organisation `acme-demo` for `annexa demo`.

People (the demo's shared cast): alice (owner), bob (second owner), carol (left the company but is
still a member, without two-factor authentication), dave and erin (developers), and an outside
collaborator from the agency that built the website. Repositories come in twins: one compliant,
one with the violations auditors find most often (no branch protection, a deploy key that can push,
a webhook over plain HTTP, a critical Dependabot alert past its deadline, a leaked token).
Between the two runs the team protects the legacy repository and revokes its write deploy key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from agent.fakeapi import FakeApi
from agent.fakeapi.github import SECURITY_ON, Alert, DeployKey, GitHubOrg, Hook, Invitation, Ruleset, serve

ORG = "acme-demo"
TOKEN_ENV = "ANNEXA_DEMO_GITHUB_TOKEN"
PROTECTED = {"required_approving_review_count": 2, "dismiss_stale_reviews": True,
             "require_code_owner_reviews": True, "required_status_checks": ["ci/test", "codeql"],
             "enforce_admins": True, "required_signatures": True}


def build(today: date) -> GitHubOrg:
    now = datetime(today.year, today.month, today.day, 9, 0, tzinfo=UTC)

    def ago(days: int) -> str:
        return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ms(days: float) -> int:
        return int((now - timedelta(days=days)).timestamp() * 1000)

    org = GitHubOrg(ORG, name="Acme (demo)", token="ghp_demo_only_not_a_real_token_0000000000")
    org.member("alice", "admin", name="Alice Adams")
    org.member("bob", "admin", name="Bob Brown")
    org.member("carol", two_factor=False, name="Carol Clark")
    org.member("dave", name="Dave Diaz")
    org.member("erin", name="Erin Evans")
    org.saml = {login: {"nameId": f"{login}@acme.example", "emails": [f"{login}@acme.example"]}
                for login in ("alice", "bob", "carol", "dave", "erin")}
    org.hooks.append(Hook("https://chat.acme.example/github"))
    org.invitations.append(Invitation(None, "frank@acme.example", ago(45)))
    org.repo("payments-api", protection=dict(PROTECTED), collaborators={"alice": "admin"},
             keys=[DeployKey("ci-read-only")], hooks=[Hook("https://ci.acme.example/github")])
    org.repo("web-frontend", visibility="public", collaborators={"erin": "admin"})
    org.repo("legacy-scripts", security={**SECURITY_ON, "secret_scanning_push_protection": "disabled"},
             vulnerability_alerts=False, code_scanning_analyses=0,
             collaborators={"dave": "admin", "carol": "admin"},
             keys=[DeployKey("old-jenkins", read_only=False, last_used=ago(200))],
             hooks=[Hook("http://jenkins.acme.example/github-webhook/")])
    org.repo("infra", protection={**PROTECTED, "required_approving_review_count": 1, "allow_force_pushes": True})
    org.repo("old-intranet", archived=True)
    org.org_rulesets.append(Ruleset("public repositories", [
        {"type": "pull_request", "parameters": {"required_approving_review_count": 1,
                                                "dismiss_stale_reviews_on_push": True,
                                                "require_code_owner_review": True}},
        {"type": "non_fast_forward"}, {"type": "deletion"},
        {"type": "required_status_checks", "parameters": {"required_status_checks": [{"context": "ci/test"}]}}],
        repositories=["web-frontend"]))
    org.outside_collaborator("pixel-agency-sam", {"web-frontend": "push", "legacy-scripts": "admin"})
    org.dependabot += [Alert("infra", "critical", ago(45), package="openssl"),
                       Alert("payments-api", "high", ago(4), package="requests")]
    org.code_scanning.append(Alert("payments-api", "high", ago(6)))
    org.secret_scanning.append(Alert("legacy-scripts", "high", ago(20), secret="ghp_demoLeaked" + "0" * 26))
    org.event("secret_scanning_push_protection.bypass", "dave", ms(12), repo=f"{ORG}/legacy-scripts",
              reason="used_in_tests")
    org.event("protected_branch.update", "alice", ms(30), repo=f"{ORG}/payments-api", branch="main")
    org.event("org.update_member", "bob", ms(8), user="erin", permission="admin")
    return org


class GitHubDemo:
    source = "demo-github"
    title = f"GitHub organisation {ORG}: 5 repositories, 5 members and an outside collaborator (simulated)"

    def __init__(self) -> None:
        self.org: GitHubOrg | None = None
        self.fake: FakeApi | None = None

    def start(self, folder: Path, today: date) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.org = build(today)
        self.fake = serve(self.org).start()

    def source_yaml(self) -> str:
        assert self.fake is not None
        return (f"- name: {self.source}\n  type: github\n  org: {ORG}\n  endpoint: {self.fake.url}\n"
                f"  token_env: {TOKEN_ENV}\n  max_concurrency: 8\n"
                f"  params: {{approved_public_repositories: [web-frontend]}}\n")

    def env(self) -> dict[str, str]:
        assert self.org is not None
        return {TOKEN_ENV: self.org.token}

    def apply_fixes(self) -> list[str]:
        assert self.org is not None
        legacy = self.org.repos["legacy-scripts"]
        legacy.protection = dict(PROTECTED)
        legacy.keys = [DeployKey("old-jenkins", read_only=True)]
        return [f"GitHub: {ORG}/legacy-scripts gets branch protection and its deploy key loses write access"]

    def stop(self) -> None:
        if self.fake is not None:
            self.fake.stop()
            self.fake = None


PROVIDER = GitHubDemo
