"""Verdict reuse: an unchanged resource judged by an unchanged, clock-free rule keeps its previous verdict,
and the findings are exactly those of a run that evaluates everything again."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.model import Finding, Status
from agent.reuse import reads_clock
from agent.rules.engine import CompiledRule, RuleSet
from agent.rules.loader import load_rules
from agent.rules.params import ParamResolver
from agent.rules.spec import Rule
from agent.runner import Runner, RunResult, select_sources
from agent.runtypes import RunInterrupted
from agent.store.store import EvidenceStore
from agent.store.verify import verify_store
from tests.conftest import SUPPORT, World, write_config

# Per run of the world below: w1 (server) -> encrypted + no_public_ports reusable; w2 (db) -> encrypted
# reusable, no_public_ports does not apply (a reusable "no finding"); key_recent reads the clock: never.
ALL_REUSED = 4


class Kit:
    def __init__(self, folder: Path, world: World, url: str | None = None):
        folder.mkdir(exist_ok=True)
        self.config = load_config(write_config(folder, world, url))
        self.store = EvidenceStore.open(self.config.store_url, self.config.evidence_dir)
        self.rules: list[Rule] = load_rules([SUPPORT / "rules"])

    def run(self, *, reuse: bool = True, rules: list[Rule] | None = None, hook: Any = None,
            params: ParamResolver | None = None, shard: str | None = None, stop: bool = False) -> RunResult:
        event = threading.Event()
        if stop:
            event.set()
        runner = Runner(self.config, self.store, RuleSet(rules or self.rules, params=params), finding_hook=hook,
                        reuse_verdicts=reuse, stop_event=event)
        return runner.run(select_sources(self.config, None, None), shard=shard)

    def findings(self) -> list[tuple[Any, ...]]:
        cols = ("rule_id", "resource_id", "status", "message", "evidence", "exception", "first_run", "row_hash")
        return sorted(tuple(f.get(c) for c in cols) for f in self.store.current_findings())


@pytest.fixture
def kit(tmp_path: Path, world: World, store_url: str) -> Kit:
    world.add("testkit.widget", "w1", {"kind": "server", "encryption": {"enabled": True}, "rules": [],
                                       "key_created": "2026-11-01T00:00:00Z"})
    world.add("testkit.widget", "w2", {"kind": "db", "encryption": {"enabled": False}})
    return Kit(tmp_path / "a", world, store_url)


def reused(result: RunResult) -> int:
    return int(result.manifest["reused_verdicts"])


def test_unchanged_resources_reuse_verdicts_and_findings_match_a_full_evaluation(
        kit: Kit, world: World, tmp_path: Path) -> None:
    plain = Kit(tmp_path / "b", world)
    assert reused(kit.run()) == 0  # nothing to reuse in the first run
    plain.run(reuse=False)
    second = kit.run()
    assert reused(second) == ALL_REUSED
    assert second.totals() == plain.run(reuse=False).totals()
    world.add("testkit.widget", "w3", {"kind": "server", "encryption": {"enabled": False},
                                       "rules": [{"cidr": "0.0.0.0/0", "port": 22}]})
    third = kit.run()
    assert reused(third) == ALL_REUSED, "the new resource is evaluated, the others reuse"
    plain.run(reuse=False)
    strip = [f[:6] for f in kit.findings()]
    assert strip == [f[:6] for f in plain.findings()]
    assert [f[6] for f in kit.findings()] == [f[6] for f in plain.findings()], "same intervals, same runs"
    assert verify_store(kit.store).ok


def test_a_changed_resource_is_evaluated_again(kit: Kit, world: World) -> None:
    kit.run()
    world.add("testkit.widget", "w2", {"kind": "db", "encryption": {"enabled": True}})
    result = kit.run()
    assert reused(result) == 2  # w1's two rules only
    status = {(f[0], f[1]): f[2] for f in kit.findings()}
    assert status[("testkit.widget.encrypted", "w2")] == "pass"
    world.add("testkit.widget", "w1", {"kind": "server", "encryption": {"enabled": True}, "rules": []},
              name="renamed")
    assert reused(kit.run()) == 2  # a new name is a change too (w2 reuses again)


def test_a_changed_rule_or_parameter_is_evaluated_again(kit: Kit) -> None:
    kit.run()
    changed = [r.model_copy(update={"message": "Widget {name} is plain"}) if r.id == "testkit.widget.encrypted"
               else r for r in kit.rules]
    result = kit.run(rules=changed)
    assert reused(result) == 2  # no_public_ports only
    assert {f[3] for f in kit.findings() if f[0] == "testkit.widget.encrypted" and f[2] == "fail"} == \
        {"Widget w2 is plain"}
    with_param = [r.model_copy(update={"params": {"level": 1}}) if r.id == "testkit.widget.no_public_ports"
                  else r for r in changed]
    assert reused(kit.run(rules=with_param)) == 2  # encrypted reuses again; the new param is a change
    assert reused(kit.run(rules=with_param)) == ALL_REUSED
    assert reused(kit.run(rules=with_param, params=ParamResolver({"level": 2}))) == 2, "a new parameter value"


def test_no_reuse_while_an_exception_applies(kit: Kit) -> None:
    def except_w2(finding: Finding) -> Finding:
        if finding.resource_id == "w2" and finding.status == Status.FAIL:
            finding.status, finding.exception = Status.EXCEPTED, "EX-1"
            finding.message += " (excepted)"
        return finding

    kit.run()
    assert reused(kit.run(hook=except_w2)) == ALL_REUSED - 1
    assert reused(kit.run(hook=except_w2)) == ALL_REUSED - 1, "an excepted finding is always judged afresh"
    status = {(f[0], f[1]): (f[2], f[5]) for f in kit.findings()}
    assert status[("testkit.widget.encrypted", "w2")] == ("excepted", "EX-1")
    assert reused(kit.run()) == ALL_REUSED - 1, "the exception expired: judged afresh, fail again"
    assert {(f[0], f[1]): f[2] for f in kit.findings()}[("testkit.widget.encrypted", "w2")] == "fail"


def test_no_reuse_after_a_sharded_partial_or_interrupted_run(kit: Kit, world: World) -> None:
    kit.run()
    assert reused(kit.run(shard="0/1")) == 0, "a sharded run never reuses"
    assert reused(kit.run()) == 0, "nor after a sharded run"
    assert reused(kit.run()) == ALL_REUSED
    world.fail = [{"type": "testkit.widget", "message": "AccessDenied", "region": "elsewhere"}]
    world.save()
    assert kit.run().status == "partial"
    world.fail = []
    world.save()
    assert reused(kit.run()) == 0, "not after a partial run"
    with pytest.raises(RunInterrupted):
        kit.run(stop=True)
    assert reused(kit.run()) == 0, "not after an incomplete (interrupted) run"
    assert reused(kit.run()) == ALL_REUSED
    assert verify_store(kit.store).ok


def test_rules_reading_the_clock_are_never_reused(kit: Kit) -> None:
    compiled = {r.id: CompiledRule(r, None) for r in kit.rules if r.kind == "jmespath"}  # type: ignore[arg-type]
    assert reads_clock(compiled["testkit.widget.key_recent"])
    assert not reads_clock(compiled["testkit.widget.encrypted"])
    kit.run()
    kit.run()
    rows = {f[:2]: f for f in kit.findings()}
    assert rows[("testkit.widget.key_recent", "w1")][2] == "pass"
    assert reused(kit.run()) == ALL_REUSED  # w1's key_recent is evaluated in every run
