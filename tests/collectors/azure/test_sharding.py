"""`--shard K/N` inside an Azure source: subscriptions (and the tenant) split between shards.

The acme tenant (three subscriptions and Entra ID) on the local fake: the shards, one after the
other on one store, must leave exactly the findings of one unsharded run; after re-running with a
different N nothing is closed or doubled, and the store verifies.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from agent.config import load_config
from agent.rules.engine import RuleSet
from agent.runner import Runner, select_sources
from agent.store.store import EvidenceStore
from agent.store.verify import verify_store
from tests.collectors.azure.conftest import builtin_rules, source_yaml


def _store(folder: Path, fake: Any) -> tuple[Any, EvidenceStore]:
    folder.mkdir()
    cfg = folder / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
                   f"sources:\n{source_yaml(fake)}")
    config = load_config(cfg)
    return config, EvidenceStore.open(config.store_url, config.evidence_dir)


def _run(config: Any, store: EvidenceStore, shard: tuple[int, int] | None) -> Any:
    sources = select_sources(config, None, shard)
    return Runner(config, store, RuleSet(builtin_rules())).run(sources, f"{shard[0]}/{shard[1]}" if shard else None)


def _current(store: EvidenceStore) -> Counter[tuple[Any, ...]]:
    return Counter((f["rule_id"], f["resource_id"], f["account"], f["status"]) for f in store.current_findings())


def test_shards_of_a_tenant_equal_one_unsharded_run(acme_world: Any, tmp_path: Path) -> None:
    fake, _, _ = acme_world
    config, single = _store(tmp_path / "single", fake)
    _run(config, single, None)
    expected = _current(single)
    assert len({a for (_, _, a, _) in expected}) >= 4  # three subscriptions and the tenant

    config, sharded = _store(tmp_path / "sharded", fake)
    results = [_run(config, sharded, (k, 3)) for k in range(3)]
    assert _current(sharded) == expected
    assert sorted(r.manifest["shard"] for r in results) == ["0/3", "1/3", "2/3"]
    assert sum(1 for r in results if r.sources["az"].resources) >= 2  # the work was shared

    for k in range(2):  # N changes: every unit has one new owner, nothing closes or doubles
        _run(config, sharded, (k, 2))
    assert _current(sharded) == expected
    report = verify_store(sharded)
    assert report.ok, report.problems[:5]
