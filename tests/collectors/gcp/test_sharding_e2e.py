"""`annexa run --shard K/N` splits one GCP organisation's projects between N concurrent processes.

The acme organisation (a folder, two projects) plus a dozen team projects on the GCP fake, with
paged project search, a log sink in one project exporting to a bucket in another (the cross-type
rule a shard can only judge with the other projects' sinks as context) and a 403 on one project's
Compute Engine API. Four `annexa run --shard k/4` processes run at once on one PostgreSQL store;
an unsharded run goes to another: the current findings must be equal, each shard seals its own run,
and the store verifies. Then the projects change and the shards run as 3: still equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.fakeapi import gcp as fake_gcp
from agent.fakeapi.gcp_world import GcpWorld
from agent.sharding import unit_shard
from collectors.gcp import GcpCollector
from tests.collectors.gcp.acme import bucket_id, build
from tests.collectors.gcp.conftest import TOKEN, TOKEN_ENV, new_world
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

TEAMS = [f"team-{i:02d}" for i in range(12)]
DENIED = "team-04"


def _world() -> GcpWorld:
    world = new_world()
    build(world)
    folder = world.add_folder("300", "teams")
    for i, pid in enumerate(TEAMS):
        project = world.add_project(pid, str(3000 + i), parent=folder.name)
        world.add_bucket(project, f"{pid}-data", versioning={"enabled": i % 2 == 0})
        world.add_network(project, "vpc")
    # team-02 exports its logs to a bucket of team-07 (locked, long retention): the pass needs both projects,
    # which belong to different shards for N=4 and N=3
    world.add_bucket(world.project("team-07"), "central-logs",  # type: ignore[arg-type]
                     retentionPolicy={"retentionPeriod": str(400 * 86400), "isLocked": True,
                                      "effectiveTime": "2024-01-15T09:30:00.000Z"})
    world.project("team-02").sinks.append(  # type: ignore[union-attr]
        world.sink("to-central", "storage.googleapis.com/central-logs", parent_number="3002"))
    world.project(DENIED).denied["^/compute/"] = "compute.firewalls.list"  # type: ignore[union-attr]
    world.page_limit = 5  # project search and listings come in several pages
    return world


def _source(url: str) -> str:
    return (f"  - name: gcp-org\n    type: gcp\n    endpoint: {url}\n    token_env: {TOKEN_ENV}\n"
            "    organization: '100000000001'\n"
            "    services: [project, iam, storage, compute, logging, orgpolicy, audit]\n"
            "    max_concurrency: 8\n")


def test_four_concurrent_shards_equal_one_unsharded_run(tmp_path: Path, postgres: Any) -> None:
    world = _world()
    fake = fake_gcp.start(world)
    env = {TOKEN_ENV: TOKEN}
    try:
        single = write_config(tmp_path / "single", postgres.fresh_database(), _source(fake.url))
        sharded = write_config(tmp_path / "sharded", postgres.fresh_database(), _source(fake.url))
        run_once(single, env)
        outputs = run_shards(sharded, 4, env)
        expected = current(single)
        assert current(sharded) == expected  # same findings, none twice, none missing
        # the same evidence, byte for byte (but the audit-log summaries, which name the window read up to now)
        same = [evidence(c) for c in (sharded, single)]
        assert _without_audit(same[0]) == _without_audit(same[1])
        assert sorted(k[1] for k in same[0] if k[0] == "gcp.logging.audit_activity") == \
            sorted(k[1] for k in same[1] if k[0] == "gcp.logging.audit_activity")
        accounts = {a for (_, _, a, _, _) in expected}
        assert {*TEAMS, "acme-prod", "acme-dev", "organizations/100000000001", "folders/300"} <= accounts
        # the cross-project export is judged: the bucket in team-07 passes on team-02's sink
        assert all(unit_shard("gcp-org", "team-02", None, n) != unit_shard("gcp-org", "team-07", None, n)
                   for n in (3, 4))
        sinks_rule = {k for k in expected if k[0] == "gcp.logging.sink_bucket_retention_locked"}
        assert ("gcp.logging.sink_bucket_retention_locked", bucket_id("central-logs"), "team-07", "eu",
                "pass") in sinks_rule, sinks_rule
        # the 403 is scoped to team-04's Compute Engine findings
        errors = {(rule, a) for (rule, _, a, _, s) in expected if s == "error" and rule.startswith("gcp.compute.")}
        assert errors and {a for _, a in errors} == {DENIED}
        assert any(s == "pass" and a == "team-05" and rule.startswith("gcp.compute.")
                   for (rule, _, a, _, s) in expected)
        runs = sealed_runs(sharded)
        assert sorted(r["shard"] for r in runs) == ["0/4", "1/4", "2/4", "3/4"]
        assert all(r["seq"] is not None and r["hash"] and r["status"] in ("complete", "partial") for r in runs)
        assert sorted(o["run_id"] for o in outputs) == sorted(r["id"] for r in runs)
        assert sum(1 for o in outputs if o["sources"][0]["resources"]) >= 3  # the projects were shared out
        # only the shard owning team-04 says the source was partial
        partial = [o for o in outputs if o["status"] == "partial"]
        assert len(partial) == 1, [o["status"] for o in outputs]
        verify(sharded)

        # The projects change; the shards now run as 3 and still leave exactly the unsharded findings.
        team2 = world.project("team-02")
        team2.buckets.clear()  # type: ignore[union-attr]
        world.add_bucket(world.project("team-09"), "team-09-new", versioning={"enabled": False})  # type: ignore[arg-type]
        assert_reshard_matches(single, sharded, env, expected)
    finally:
        fake.stop()


def _without_audit(found: Any) -> dict[Any, int]:
    return {k: v for k, v in found.items() if k[0] != "gcp.logging.audit_activity"}


def test_units_are_projects_and_one_above_them() -> None:
    unit = GcpCollector.shard_unit
    assert unit("gcp.storage.bucket", "team-01", None) == ("team-01", None)
    assert unit("gcp.compute.instance", "team-01", "europe-west1-b") == ("team-01", None)
    assert unit("gcp.iam.policy", "organizations/1", None) == (None, None)
    assert unit("gcp.folder", "folders/300", None) == (None, None)
    assert unit("gcp.iam.policy", None, None) == (None, None)  # a whole-source error: the organisation's unit
