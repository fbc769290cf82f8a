"""`annexa run --shard K/N` splits one GitHub organisation's repositories between N concurrent processes.

Acme's organisation (a passing and a failing repository for every rule, outside collaborators,
alerts, the audit log) plus 120 team repositories, so the repository listing spans pages, and a
403 on one repository's webhooks. Four `annexa run --shard k/4` processes run at once on one
PostgreSQL store; an unsharded run goes to another: the current findings must be equal (the
organisation's people, whose reach is read from every repository, included), each shard seals its
own run, and the store verifies. Then the organisation changes and the shards run as 3: still equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.fakeapi.errors import github_error
from agent.fakeapi.github import GitHubOrg
from agent.sharding import unit_shard
from collectors.github import GitHubCollector
from tests.collectors.github.conftest import TOKEN_ENV, acme, repo_url, served
from tests.support.sharded import (
    assert_reshard_matches,
    current,
    evidence,
    run_once,
    run_shards,
    sealed_runs,
    verify,
    write_config,
)

DENIED = "team-017"


def _org() -> GitHubOrg:
    org = acme()
    for i in range(120):
        org.repo(f"team-{i:03d}", protection=None if i % 3 else {"required_approving_review_count": 2})
    org.outside_collaborator("late-vendor", {"team-119": "admin"})  # reach read from the listing's last page
    return org


def _source(url: str) -> str:
    return (f"  - name: gh\n    type: github\n    org: acme\n    endpoint: {url}\n    token_env: {TOKEN_ENV}\n"
            "    max_concurrency: 4\n    requests_per_minute: 0\n")


def test_four_concurrent_shards_equal_one_unsharded_run(tmp_path: Path, postgres: Any) -> None:
    org = _org()
    env = {TOKEN_ENV: org.token}
    with served(org) as fake:
        fake.fail(rf"^/repos/acme/{DENIED}/hooks$", github_error(403, "Resource not accessible by integration",
                                                                 "https://docs.github.com/rest"), times=10**6)
        single = write_config(tmp_path / "single", postgres.fresh_database(), _source(fake.url))
        sharded = write_config(tmp_path / "sharded", postgres.fresh_database(), _source(fake.url))
        run_once(single, env)
        outputs = run_shards(sharded, 4, env)
        expected = current(single)
        assert current(sharded) == expected
        assert evidence(sharded) == evidence(single)  # the same evidence, byte for byte
        repos = {r for (_, r, _, _, _) in expected if r.startswith(repo_url("acme", "team-"))}
        assert len(repos) == 120
        # the 403 is scoped to that repository's webhook rule
        errors = {(rule, r) for (rule, r, _, _, s) in expected if s == "error" and r.startswith(repo_url("acme", ""))
                  and "team-" in r}
        assert errors and {r for _, r in errors} == {repo_url("acme", DENIED)}, errors
        # the outside collaborator's reach (a repository another shard owns) is judged by the organisation's shard
        vendor = {k for k in expected if k[1] == "https://github.com/late-vendor"}
        assert vendor, sorted({k[1] for k in expected if "github.com/" in k[1] and "/acme" not in k[1]})
        assert unit_shard("gh", "acme", None, 4) != unit_shard("gh", "acme", repo_url("acme", "team-119"), 4)
        runs = sealed_runs(sharded)
        assert sorted(r["shard"] for r in runs) == ["0/4", "1/4", "2/4", "3/4"]
        assert all(r["seq"] is not None and r["hash"] and r["status"] in ("complete", "partial") for r in runs)
        assert sorted(o["run_id"] for o in outputs) == sorted(r["id"] for r in runs)
        assert all(o["sources"][0]["resources"] > 10 for o in outputs)  # every shard had repositories
        verify(sharded)

        # The organisation changes; the shards now run as 3 and still leave exactly the unsharded findings.
        del org.repos["team-005"]
        org.repo("team-new", protection=None)
        org.repos["team-010"].collaborators["erin"] = "admin"
        assert_reshard_matches(single, sharded, env, expected)


def test_units_are_repositories_and_the_organisation() -> None:
    unit = GitHubCollector.shard_unit
    url = repo_url("acme", "api")
    assert unit("github.repository", "acme", None, url) == ("acme", url)
    assert unit("github.repository", "acme", url, "annexa:collection/gh/acme/x/github.repository") == ("acme", url)
    assert unit("github.repository", "acme", None, "annexa:collection/gh/acme/-/github.repository") == ("acme", None)
    assert unit("github.member", "acme", None, "https://github.com/alice") == ("acme", None)


def test_a_failed_repository_listing_leaves_every_shard_errors_not_gone_repositories(tmp_path: Path,
                                                                                     postgres: Any) -> None:
    """The listing is the organisation unit's call, but every shard's repositories depend on it: a shard
    that does not own the organisation must not take their absence for deletion."""
    org = acme()
    for i in range(12):
        org.repo(f"team-{i:03d}", protection=None)
    env = {TOKEN_ENV: org.token}
    with served(org) as fake:
        single = write_config(tmp_path / "single", postgres.fresh_database(), _source(fake.url))
        sharded = write_config(tmp_path / "sharded", postgres.fresh_database(), _source(fake.url))
        run_once(single, env)
        run_shards(sharded, 4, env)
        assert current(sharded) == current(single)
        fake.fail(r"^/orgs/acme/repos$", github_error(403, "Resource not accessible by integration",
                                                      "https://docs.github.com/rest"), times=10**6)
        run_once(single, env)
        run_shards(sharded, 4, env)
        after = current(single)
        team = {k for k in after if "/acme/team-" in k[1]}
        assert team and all(k[4] == "error" for k in team)  # unsharded: not re-evaluated, not gone
        assert current(sharded) == after
        verify(sharded)
