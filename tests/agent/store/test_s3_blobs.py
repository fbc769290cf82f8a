"""Evidence blobs in S3 (`store.evidence: s3://bucket/prefix`), against moto in-process."""

from __future__ import annotations

import zlib
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from agent.config import load_config
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, select_sources
from agent.store.store import EvidenceStore
from agent.store.verify import verify_store
from collectors.registry import known_resource_types
from tests.conftest import SUPPORT, World, write_config


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="acme-evidence", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield s3


def test_runs_store_and_verify_blobs_in_s3(s3_bucket, tmp_path: Path, world: World) -> None:  # type: ignore[no-untyped-def]
    world.add("testkit.widget", "w1", {"kind": "db", "encryption": {"enabled": True}})
    world.add("testkit.widget", "w2", {"kind": "db", "encryption": {"enabled": False}})
    cfg_path = write_config(tmp_path, world)
    cfg_path.write_text(cfg_path.read_text().replace(f"evidence: {tmp_path / 'evidence'}",
                                                     "evidence: s3://acme-evidence/annexa"))
    config = load_config(cfg_path)
    assert config.evidence_dir == "s3://acme-evidence/annexa"
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(load_rules([SUPPORT / "rules"], known_types=set(known_resource_types())))
    for _ in range(2):
        Runner(config, store, rules).run(select_sources(config, None, None))
    policy = policy_blob_keys(store)  # the rule pack and rule-set versions the runs recorded
    assert len(policy) >= 2
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket="acme-evidence")["Contents"]]
    assert policy <= set(keys)
    keys = [k for k in keys if k not in policy]
    assert len(keys) == 2 and all(k.startswith("annexa/") for k in keys), "unchanged resources add no blobs"
    assert verify_store(store).ok
    victim = keys[0]
    body = zlib.decompress(s3_bucket.get_object(Bucket="acme-evidence", Key=victim)["Body"].read())
    s3_bucket.put_object(Bucket="acme-evidence", Key=victim, Body=zlib.compress(body.replace(b"w", b"W")))
    report = verify_store(store)
    digest = "sha256:" + victim.removeprefix("annexa/").replace("/", "")
    assert report.problems == [f"evidence blob {digest} content does not match its hash"]
    s3_bucket.delete_object(Bucket="acme-evidence", Key=victim)
    assert verify_store(store).problems == [f"evidence blob {digest} is missing"]



def policy_blob_keys(store: EvidenceStore) -> set[str]:
    """S3 keys of the policy-input blobs (rule set and rule files) recorded by the store's runs."""
    from agent.policy_inputs import recorded_digests

    return {"annexa/" + d[7:9] + "/" + d[9:] for d in recorded_digests(store)}
