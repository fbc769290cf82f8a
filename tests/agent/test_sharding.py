"""`--shard K/N` inside a source: the partition of work units is total, disjoint and process-independent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.sharding import Shard, unit_shard
from collectors.aws import AwsCollector, global_types

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = [f"{i:012d}" for i in range(1, 41)]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
UNITS = [(a, r) for a in ACCOUNTS for r in [None, *REGIONS]]


def test_every_unit_in_exactly_one_shard_for_any_n() -> None:
    for n in range(1, 9):
        shards = [Shard(k, n) for k in range(n)]
        for account, region in UNITS:
            owners = [s.index for s in shards if s.owns_unit("aws-org", account, region)]
            assert owners == [unit_shard("aws-org", account, region, n)]
        if n > 1:  # 240 units: hashing spreads them (no shard idle, none with more than twice its share)
            sizes = [sum(s.owns_unit("aws-org", a, r) for a, r in UNITS) for s in shards]
            assert min(sizes) > 0 and max(sizes) < 2 * len(UNITS) / n, sizes


def test_partition_is_the_same_in_another_process() -> None:
    here = {f"{a}|{r}": unit_shard("aws-org", a, r, 4) for a, r in UNITS}
    code = ("import json, sys; from agent.sharding import unit_shard; units = json.loads(sys.stdin.read()); "
            "print(json.dumps({f'{a}|{r}': unit_shard('aws-org', a, r, 4) for a, r in units}))")
    for seed in ("1", "4242"):  # Python's own str hash differs per process: the partition must not
        done = subprocess.run([sys.executable, "-c", code], input=json.dumps(UNITS), capture_output=True,
                              text=True, env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
                              timeout=60, check=True)
        assert json.loads(done.stdout) == here


def test_source_name_spreads_units_differently() -> None:
    a = [unit_shard("aws-a", acct, r, 4) for acct, r in UNITS]
    b = [unit_shard("aws-b", acct, r, 4) for acct, r in UNITS]
    assert a != b


def test_aws_units_global_services_belong_to_the_account() -> None:
    assert {"aws.account", "aws.iam.user", "aws.s3.bucket", "identity.account"} <= global_types()
    assert "aws.kms.key" not in global_types()
    # an S3 bucket carries its Region but is listed once per account: the account's global unit
    assert AwsCollector.shard_unit("aws.s3.bucket", "111111111111", "eu-west-1") == ("111111111111", None)
    assert AwsCollector.shard_unit("aws.kms.key", "111111111111", "eu-west-1") == ("111111111111", "eu-west-1")
    # an account-wide error on a regional type (the role could not be assumed): the account's unit
    assert AwsCollector.shard_unit("aws.kms.key", "111111111111", None) == ("111111111111", None)


def test_shard_lock_names_differ_per_shard_and_hold_no_slash() -> None:
    names = {Shard(k, 4).lock_name("aws-org") for k in range(4)}
    assert len(names) == 4 and not any("/" in n for n in names) and "aws-org" not in names


def test_partitioned_source_runs_in_every_shard_others_are_dealt_whole(tmp_path: Path) -> None:
    from agent.config import load_config
    from agent.runner import select_sources

    cfg = tmp_path / "annexa.yaml"
    roster = tmp_path / "people.csv"
    roster.write_text("email,name,status\na@example.com,A,active\n")
    cfg.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\nsources:\n"
                   "  - name: org\n    type: aws\n"
                   f"  - name: hr1\n    type: hr_csv\n    path: {roster}\n"
                   f"  - name: hr2\n    type: hr_csv\n    path: {roster}\n")
    config = load_config(cfg)
    chosen = [{s.name for s in select_sources(config, None, (k, 2))} for k in range(2)]
    assert all("org" in c for c in chosen)
    assert {n for c in chosen for n in c if n != "org"} == {"hr1", "hr2"}
    assert not (chosen[0] - {"org"}) & (chosen[1] - {"org"})


def test_a_split_source_is_covered_only_as_recently_as_its_least_recent_shard() -> None:
    from agent.sharding import combine_coverage

    rows = [("org", "aws", "0/3", 10, "t10"), ("org", "aws", "1/3", 12, "t12"), ("org", "aws", "2/3", 7, "t7"),
            ("org", "aws", "0/2", 3, "t3"),  # an older split: not part of the current one
            ("hr", "hr_csv", "1/3", 11, "t11"), ("hr", "hr_csv", "0/3", 2, "t2"),  # dealt out whole: newest
            ("solo", "aws", None, 5, "t5")]
    assert combine_coverage(rows) == {"org": (7, "t7"), "hr": (11, "t11"), "solo": (5, "t5")}
    # an unsharded run newer than shard 2's covers shard 2's part too
    assert combine_coverage([*rows, ("org", "aws", None, 9, "t9")])["org"] == (9, "t9")


def test_per_resource_units_have_exactly_one_owner() -> None:
    """GitHub repositories are units of their own (keyed by URL): the owner check sees the resource id."""
    from agent.runner import _owner
    from collectors.gcp import GcpCollector
    from collectors.github import GitHubCollector

    urls = [f"https://github.com/acme/repo-{i}" for i in range(200)]
    for n in (1, 3, 4):
        owners = [_owner(GitHubCollector, Shard(k, n), "gh") for k in range(n)]
        for url in urls:
            assert sum(o("github.repository", "acme", None, url) for o in owners) == 1
        # the organisation's records all belong to one shard, whatever their id
        org = {k for k, o in enumerate(owners) for rid in ("https://github.com/alice", "https://github.com/acme")
               if o("github.member" if "alice" in rid else "github.organization", "acme", None, rid)}
        assert len(org) == 1
        if n > 1:
            used = {k for url in urls for k, o in enumerate(owners) if o("github.repository", "acme", None, url)}
            assert len(used) == n  # 200 repositories: every shard gets some
        gcp = [_owner(GcpCollector, Shard(k, n), "g") for k in range(n)]
        for account in ("organizations/1", "folders/2", None, "proj-a", "proj-b"):
            assert sum(o("gcp.iam.policy", account, None, "x") for o in gcp) == 1
