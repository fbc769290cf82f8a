"""The runner: parallel sources, Python rules across sources, failures never abort, interruption."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.config import load_config
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import RunInterrupted, Runner, RunObserver, select_sources
from agent.store.store import EvidenceStore
from agent.store.verify import verify_store
from collectors.registry import known_resource_types
from tests.conftest import ROOT, SUPPORT, World


def two_source_config(tmp_path: Path, hr: World, idp: World, extra: str = "") -> Path:
    path = tmp_path / "annexa.yaml"
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\n"
                    f"rules:\n  paths: [{SUPPORT / 'rules'}]\n"
                    f"sources:\n  - name: hr\n    type: testkit\n    world: {hr.path}\n"
                    f"  - name: idp\n    type: testkit\n    world: {idp.path}\n{extra}")
    return path


@pytest.fixture
def hr_idp(tmp_path: Path) -> tuple[World, World]:
    hr = World(tmp_path / "hr.json")
    hr.add("testkit.person", "p1", {"email": "alice@acme.com", "status": "terminated"}, name="alice")
    hr.add("testkit.person", "p2", {"email": "bob@acme.com", "status": "active"}, name="bob")
    idp = World(tmp_path / "idp.json")
    idp.add("testkit.account", "u1", {"email": "Alice@ACME.com", "active": True}, name="alice")
    idp.add("testkit.account", "u2", {"email": "bob@acme.com", "active": True}, name="bob")
    return hr, idp


def make_runner(path: Path, **kw):  # type: ignore[no-untyped-def]
    config = load_config(path)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(load_rules([SUPPORT / "rules"], known_types=set(known_resource_types())))
    return config, store, Runner(config, store, rules, **kw)


def test_cross_source_python_rule_attributes_findings_to_the_resource_source(tmp_path: Path, hr_idp) -> None:
    config, store, runner = make_runner(two_source_config(tmp_path, *hr_idp))
    result = runner.run(select_sources(config, None, None))
    assert result.status == "complete"
    found = {(f["rule_id"], f["resource_id"]): (f["status"], f["source"]) for f in store.current_findings()}
    assert found[("testkit.account.leaver_removed", "u1")] == ("fail", "idp")
    assert found[("testkit.account.leaver_removed", "u2")] == ("pass", "idp")


def test_python_rule_not_run_when_an_input_source_is_not_in_the_run(tmp_path: Path, hr_idp) -> None:
    config, store, runner = make_runner(two_source_config(tmp_path, *hr_idp))
    runner.run(select_sources(config, ["idp"], None))
    # "idp" alone emits both types (same collector type), so the rule runs but sees no leavers
    found = {f["resource_id"]: f["status"] for f in store.current_findings()
             if f["rule_id"] == "testkit.account.leaver_removed"}
    assert found == {"u1": "pass", "u2": "pass"}


def test_collector_crash_gives_error_findings_and_partial_run(tmp_path: Path, hr_idp) -> None:
    hr, idp = hr_idp
    hr.crash = True
    hr.save()
    config, store, runner = make_runner(two_source_config(tmp_path, hr, idp))
    result = runner.run(select_sources(config, None, None))
    assert result.status == "partial" and result.exit_code() == 3
    assert result.sources["idp"].status == "complete"
    assert result.sources["hr"].status == "partial"
    statuses = {(f["rule_id"], f["source"]): f["status"] for f in store.current_findings()}
    # the cross-source rule cannot be trusted without HR data: error, never pass
    assert statuses[("testkit.account.leaver_removed", "hr")] == "error"
    assert not any(f["status"] == "pass" and f["rule_id"] == "testkit.account.leaver_removed"
                   for f in store.current_findings())
    assert verify_store(store).ok


def test_fail_on_gate(tmp_path: Path, hr_idp) -> None:
    config, _, runner = make_runner(two_source_config(tmp_path, *hr_idp))
    result = runner.run(select_sources(config, None, None))
    assert result.exit_code() == 0 and result.exit_code("fail") == 1


def test_shards_partition_the_sources(tmp_path: Path, hr_idp) -> None:
    config = load_config(two_source_config(tmp_path, *hr_idp))
    shard0 = {s.name for s in select_sources(config, None, (0, 2))}
    shard1 = {s.name for s in select_sources(config, None, (1, 2))}
    assert shard0 | shard1 == {"hr", "idp"} and not shard0 & shard1


class StopAfter(RunObserver):
    def __init__(self, event: threading.Event, after: int):
        self.event, self.after = event, after

    def resource(self, name: str, count: int) -> None:
        if count >= self.after:
            self.event.set()


def test_interrupted_run_is_marked_incomplete_and_store_stays_consistent(tmp_path: Path, hr_idp) -> None:
    hr, idp = hr_idp
    for i in range(30):
        idp.add("testkit.account", f"x{i}", {"email": f"x{i}@acme.com", "active": True})
    idp.sleep = 0.01
    idp.save()
    stop = threading.Event()
    config, store, runner = make_runner(two_source_config(tmp_path, hr, idp), stop_event=stop,
                                        observer=StopAfter(stop, 5))
    with pytest.raises(RunInterrupted):
        runner.run(select_sources(config, None, None))
    assert store.runs()[0]["status"] == "incomplete"
    assert store.cursor_value("idp", "seen") is None, "an interrupted source must not move its cursor"
    assert verify_store(store).ok
    # the next run completes normally on top of the interrupted one, and the chain still verifies
    _, store2, runner2 = make_runner(two_source_config(tmp_path, hr, idp))
    result = runner2.run(select_sources(config, None, None))
    assert result.status == "complete"
    report = verify_store(store2)
    assert report.ok and report.runs == 2


MEMORY_PROBE = """
import json, sys, tracemalloc
from pathlib import Path
import tests.support.testkit  # noqa: F401
from tests.agent.test_runner import make_runner
from agent.runner import select_sources
folder = Path(sys.argv[1])
config, _, runner = make_runner(folder / "annexa.yaml")
tracemalloc.start()
result = runner.run(select_sources(config, None, None))
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "resources": result.sources["kit"].resources}))
"""


def test_memory_stays_bounded_with_many_resources(tmp_path: Path) -> None:
    """Streaming: the pipeline's peak memory for 4,000 resources is about that for 1,000.

    Each run is measured in a fresh interpreter, so threads left by other tests cannot add noise.
    """
    peaks = []
    for n in (1000, 4000):
        folder = tmp_path / str(n)
        folder.mkdir()
        (folder / "w.json").write_text(json.dumps({"generate": n}))
        (folder / "annexa.yaml").write_text(
            f"store:\n  url: sqlite:///{folder / 'a.db'}\n  evidence: {folder / 'ev'}\n"
            f"rules:\n  paths: [{SUPPORT / 'rules'}]\nsources:\n  - name: kit\n    type: testkit\n"
            f"    world: {folder / 'w.json'}\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit"}
        proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(folder)], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        probe = json.loads(proc.stdout.strip().splitlines()[-1])
        assert probe["resources"] == n
        peaks.append(probe["peak"])
    # By design the recorder keeps the 16-byte key of every interval it saw this run (to close the unseen
    # ones without rewriting the seen ones): about 0.3 KB per resource with its findings, measured with
    # tracemalloc. Holding every resource or finding would add well over 1 KB per extra resource (3,000 more).
    assert peaks[1] - peaks[0] < 2_000_000, f"peaks {peaks}"


FAILING_RULES = """\
provider: testkit
rules:
  - id: testkit.widget.name_matches_pattern
    title: Widget names follow their declared pattern
    resource: testkit.widget
    severity: low
    controls: [A.5.9]
    assert: "regex_match(name, pattern)"
    message: "Widget {name} does not match {pattern}"
    guidance: Consistent names make the inventory readable.
    remediation: Rename the widget.
"""
PYTHON_RULE = """\
  - id: testkit.account.{name}
    title: A Python rule with a bug
    kind: python
    function: tests.support.bad_rules:{name}
    resources: [testkit.account]
    severity: high
    controls: [A.5.18]
    message: "m"
    guidance: Access ends with employment.
    remediation: Disable the account.
"""


def test_a_rule_that_raises_gives_error_findings_for_that_rule_only(tmp_path: Path, hr_idp) -> None:
    """Issue 9, point 3: a raising rule aborted the whole run (exit 70) and left it `running`."""
    hr, idp = hr_idp
    idp.add("testkit.widget", "w1", {"name": "w1", "pattern": "(", "encryption": {"enabled": True}})
    idp.add("testkit.widget", "w2", {"name": "w2", "pattern": "^w", "encryption": {"enabled": False}})
    pack = tmp_path / "failing" / "rules.yaml"
    pack.parent.mkdir()
    pack.write_text(FAILING_RULES + "".join(PYTHON_RULE.format(name=n) for n in ("raises", "exits", "returns_garbage")))
    config = load_config(two_source_config(tmp_path, hr, idp))
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(load_rules([SUPPORT / "rules", pack.parent], known_types=set(known_resource_types())))
    result = Runner(config, store, rules).run(select_sources(config, None, None))
    assert result.status == "complete" and store.runs()[0]["status"] == "complete"
    found = {(f["rule_id"], f["resource_id"], f["source"]): f for f in store.current_findings()}
    pattern = {k[1]: v["status"] for k, v in found.items() if k[0] == "testkit.widget.name_matches_pattern"}
    assert pattern == {"w1": "error", "w2": "pass"}
    for name in ("raises", "exits", "returns_garbage"):
        errors = [f for k, f in found.items() if k[0] == f"testkit.account.{name}"]
        assert {f["source"] for f in errors} == {"hr", "idp"} and {f["status"] for f in errors} == {"error"}
    # the other rules still judged every resource
    assert found[("testkit.widget.encrypted", "w2", "idp")]["status"] == "fail"
    assert found[("testkit.account.leaver_removed", "u1", "idp")]["status"] == "fail"
    assert verify_store(store).ok
