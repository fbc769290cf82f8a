"""Repositories listed on later pages are collected even when earlier pages' jobs finish first.

Regression: the collector counted outstanding repository jobs and treated "none left" as "all
done". When every job of page 1 finished before page 2 arrived, the count touched zero, the
organisation-level step ran and the worker pool shut down, so the jobs of later pages could no
longer be scheduled and their repositories were silently missing from the run.
"""

from __future__ import annotations

from pathlib import Path

from agent.fakeapi.github import GitHubOrg
from tests.collectors.github.conftest import TOKEN_ENV, WEB, run_sources, served, source_yaml


def _org() -> GitHubOrg:
    org = GitHubOrg("paged")
    org.member("owner", "admin")
    org.member("vendor")
    for i in range(230):  # three listing pages of 100
        org.repo(f"keep-{i:03d}" if i in (5, 150, 220) else f"skip-{i:03d}")
    org.outside_collaborator("ext", {"keep-220": "push"})
    return org


def test_repositories_of_later_pages_survive_fast_early_jobs(tmp_path: Path) -> None:
    org = _org()
    with served(org) as fake:
        fake.slow(r"^/orgs/paged/repos$", 1.5, query={"page": "2"})  # page 1's one job is long done by then
        fake.slow(r"^/orgs/paged/repos$", 1.5, query={"page": "3"})
        run = run_sources(tmp_path, source_yaml("gh", org, fake, "    repositories: ['keep-*']\n"),
                          env={TOKEN_ENV: org.token})
        pages = {c.query.get("page", ["1"])[0] for c in fake.calls("GET", r"^/orgs/paged/repos$")}
    assert pages == {"1", "2", "3"}
    assert not run.errors, run.errors
    repos = {r["resource_id"] for r in _resources(run, "github.repository")}
    assert repos == {f"{WEB}/paged/keep-{i:03d}" for i in (5, 150, 220)}
    # the outside collaborator's reach comes from the page-3 repository's collaborators
    outside = run.evidence(f"{WEB}/ext", "github.outside_collaborator")
    assert [r["repository"] for r in outside["repositories"]] == ["paged/keep-220"], outside


def _resources(run, rtype: str) -> list[dict]:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    with run.store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(
            "select resource_id from resource_states where type = :t and open = :o"), {"t": rtype, "o": True})]
