"""Every GitHub rule: a passing and a failing repository, person or event, asserted by its html_url.

One pipeline run over two simulated organisations (Acme, with compliant and failing twins, and
"lax", whose organisation settings fail), as two github sources of one annexa.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collectors.github.conftest import (
    TOKEN_ENV,
    WEB,
    GhRun,
    acme,
    lax,
    repo_url,
    run_sources,
    served,
    source_yaml,
)
from tests.support.evidence import evidence_payloads

ACME_PARAMS = "    params: {approved_public_repositories: [docs]}\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GhRun]:
    good, bad = acme(), lax()
    with served(good) as fake_a, served(bad) as fake_b:
        sources = (source_yaml("gh-acme", good, fake_a, ACME_PARAMS)
                   + source_yaml("gh-lax", bad, fake_b, token_env="GHTEST_LAX"))
        result = run_sources(tmp_path_factory.mktemp("gh"), sources,
                             env={TOKEN_ENV: good.token, "GHTEST_LAX": bad.token})
        yield result


def api(name: str) -> str:
    return repo_url("acme", name)


def test_run_is_complete_and_every_github_rule_has_a_pass_and_a_fail(run: GhRun) -> None:
    assert run.result.status == "complete", run.errors
    rules = {f["rule_id"] for f in run.findings if f["rule_id"].startswith("github.")}
    assert len(rules) >= 30
    for rule in rules:
        statuses = set(run.by_rule(rule).values())
        assert {"pass", "fail"} <= statuses, (rule, run.by_rule(rule))


@pytest.mark.parametrize(("rule", "passing", "failing"), [
    ("github.org.two_factor_required", f"{WEB}/acme", f"{WEB}/lax"),
    ("github.org.default_repository_permission_least", f"{WEB}/acme", f"{WEB}/lax"),
    ("github.org.members_cannot_create_public_repositories", f"{WEB}/acme", f"{WEB}/lax"),
    ("github.org.owner_count_in_range", f"{WEB}/acme", f"{WEB}/lax"),
    ("github.org.saml_sso_configured", f"{WEB}/acme", f"{WEB}/lax"),
    ("github.org.webhooks_use_tls", f"{WEB}/acme", f"{WEB}/lax"),
    ("github.org.members_have_two_factor", f"{WEB}/lax", f"{WEB}/acme"),
    ("github.member.two_factor_enabled", f"{WEB}/alice", f"{WEB}/carol"),
    ("github.outside_collaborator.two_factor_enabled", f"{WEB}/contractor-cat", f"{WEB}/vendor-vic"),
    ("github.outside_collaborator.no_admin_access", f"{WEB}/contractor-cat", f"{WEB}/vendor-vic"),
    ("github.invitation.not_stale", f"{WEB}/acme/invitations#", "gina"),
    ("github.repo.default_branch_protected", api("web"), api("legacy")),
    ("github.repo.reviews_required", api("api"), api("legacy")),
    ("github.repo.stale_reviews_dismissed", api("api"), api("web")),
    ("github.repo.code_owner_review_required", api("docs"), api("web")),
    ("github.repo.status_checks_required", api("payments"), api("legacy")),
    ("github.repo.admins_cannot_bypass", api("api"), api("web")),
    ("github.repo.force_push_and_deletion_blocked", api("web"), api("payments")),
    ("github.repo.signed_commits_required", api("docs"), api("legacy")),
    ("github.repo.secret_scanning_enabled", api("api"), api("legacy")),
    ("github.repo.push_protection_enabled", api("web"), api("legacy")),
    ("github.repo.dependabot_alerts_enabled", api("api"), api("legacy")),
    ("github.repo.dependabot_alerts_within_sla", api("api"), api("payments")),
    ("github.repo.code_scanning_enabled", api("api"), api("legacy")),
    ("github.repo.code_scanning_alerts_within_sla", api("api"), api("payments")),
    ("github.repo.no_open_secret_scanning_alerts", api("api"), api("payments")),
    ("github.repo.admin_collaborators_limited", api("api"), api("legacy")),
    ("github.repo.deploy_keys_read_only", api("api"), api("legacy")),
    ("github.repo.webhooks_use_tls", api("api"), api("legacy")),
    ("github.repo.public_visibility_approved", api("docs"), api("web")),
])
def test_rule_pass_and_fail(run: GhRun, rule: str, passing: str, failing: str) -> None:
    by_id = run.by_rule(rule)
    if passing.endswith("#") or "/" not in failing:  # invitations: ids carry the invitation id
        passed = [rid for rid, st in by_id.items() if st == "pass"]
        failed = [rid for rid, st in by_id.items() if st == "fail"]
        assert len(passed) == 1 and len(failed) == 1, by_id
        assert "gina" in run.message(rule, failed[0])
        return
    assert run.status(rule, passing) == "pass", run.message(rule, passing)
    assert run.status(rule, failing) == "fail", run.message(rule, failing)


def test_audit_events_are_judged(run: GhRun) -> None:
    events = {f["resource_id"]: (f["rule_id"], f["status"], f["message"]) for f in run.findings
              if f["rule_id"].startswith("github.audit.")}
    by_rule: dict[str, set[str]] = {}
    for rule, status, message in events.values():
        by_rule.setdefault(rule, set()).add(status)
        if status == "fail":
            assert any(who in message for who in ("dave", "bob", "carol")), message
    assert by_rule == {"github.audit.push_protection_not_bypassed": {"pass", "fail"},
                       "github.audit.branch_protection_not_removed": {"pass", "fail"},
                       "github.audit.no_self_granted_access": {"pass", "fail"}}
    assert all(rid.startswith(f"{WEB}/organizations/acme/settings/audit-log#") for rid in events)


def test_plan_limited_features_are_errors_not_passes(run: GhRun) -> None:
    tool = api("internal-tool")  # private, GitHub Advanced Security off
    for rule in ("github.repo.secret_scanning_enabled", "github.repo.push_protection_enabled",
                 "github.repo.code_scanning_enabled", "github.repo.code_scanning_alerts_within_sla",
                 "github.repo.no_open_secret_scanning_alerts"):
        assert run.status(rule, tool) == "error", rule
    assert "not available (plan)" in run.message("github.repo.secret_scanning_enabled", tool)
    assert "Advanced Security" in run.message("github.repo.code_scanning_enabled", tool)
    # Dependabot alerts disabled: the "enabled" rule fails, the SLA rule cannot be judged
    assert run.status("github.repo.dependabot_alerts_within_sla", api("legacy")) == "error"
    assert "disabled" in run.message("github.repo.dependabot_alerts_within_sla", api("legacy"))


def test_archived_and_empty_repositories(run: GhRun) -> None:
    for rid in (api("old-site"), api("empty")):
        assert rid not in run.by_rule("github.repo.default_branch_protected")
    assert api("old-site") not in run.by_rule("github.repo.dependabot_alerts_enabled")
    assert run.status("github.repo.admin_collaborators_limited", api("old-site")) == "pass"
    doc = run.evidence(api("old-site"), "github.repository")
    assert "default_branch_protection" in doc["archived_not_read"]
    assert run.evidence(api("empty"), "github.repository")["default_branch_protection"]["exists"] is False


def test_thresholds_come_from_params(run: GhRun) -> None:
    # payments has 1 approval: passes the default min_approvals=1
    assert run.status("github.repo.reviews_required", api("payments")) == "pass"
    msg = run.message("github.repo.dependabot_alerts_within_sla", api("payments"))
    assert "critical 15 days" in msg and "/security/dependabot/" in msg


def test_repository_evidence_merges_protection_layers(run: GhRun) -> None:
    web = run.evidence(api("web"), "github.repository")
    eff = web["default_branch_protection"]["effective"]
    assert eff["layers"] == ["rulesets"] and eff["required_approving_review_count"] == 1
    assert eff["bypass_actors"][0]["actor_type"] == "RepositoryRole" and eff["admins_enforced"] is False
    assert web["default_branch_protection"]["protection"] is None
    api_doc = run.evidence(api("api"), "github.repository")
    assert api_doc["default_branch_protection"]["protection"]["required_pull_request_reviews"][
        "required_approving_review_count"] == 2
    assert api_doc["push_access"]["users"] == ["alice", "contractor-cat"]
    assert api_doc["outside_collaborators"] == [{"login": "contractor-cat", "permission": "write"}]
    assert api_doc["dependabot"]["enabled_source"].startswith("open alerts")  # no per-repo call needed


def test_leaked_secret_values_never_reach_the_store(run: GhRun) -> None:
    leaked = "ghp_" + "Q" * 36
    stored = evidence_payloads(run.evidence_dir)
    assert stored
    for digest, raw in stored.items():
        assert leaked.encode() not in raw, digest
    alerts = run.evidence(api("payments"), "github.repository")["secret_scanning"]["open_alerts"]
    assert alerts and "secret" not in alerts[0] and "repository" not in alerts[0]


def test_identity_accounts(run: GhRun) -> None:
    alice = run.evidence(f"{WEB}/alice", "identity.account")
    assert alice["email"] == "alice@acme.example" and alice["privileged"] is True
    assert alice["mfa_enrolled"] is True and alice["last_login_known"] is False and alice["external"] is False
    carol = run.evidence(f"{WEB}/carol", "identity.account")
    assert carol["email"] == "carol@acme.example" and carol["mfa_enrolled"] is False
    assert carol["privileged"] is False and carol["kind"] == "unknown"
    erin = run.evidence(f"{WEB}/erin", "identity.account")
    assert erin["email"] is None and erin["privileged"] is True  # admin of acme/legacy
    assert run.evidence(f"{WEB}/deploy-bot", "identity.account")["kind"] == "service"
    vic = run.evidence(f"{WEB}/vendor-vic", "identity.account")
    assert vic["external"] is True and vic["privileged"] is True and vic["privileges"] == ["admin of acme/legacy"]
    assert vic["mfa_enrolled"] is False


def test_organisation_evidence(run: GhRun) -> None:
    org = run.evidence(f"{WEB}/acme", "github.organization")
    assert org["owners"] == ["alice", "bob"] and org["members_without_2fa"] == ["carol"]
    assert org["saml"]["enabled"] is True and org["saml"]["identities"] == 2
    assert org["pending_invitation_count"] == 2 and org["two_factor_requirement_enabled"] is True
