"""Issue 9, point 3, through the real console script: rule problems are exit 2 at load, `error` at run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.agent.cli.test_cli import annexa, one_line_error
from tests.agent.test_runner import FAILING_RULES, PYTHON_RULE
from tests.conftest import World, write_config

BAD_REGEX = FAILING_RULES.replace('assert: "regex_match(name, pattern)"', "assert: \"regex_match(name, '(')\"")


def test_rules_validate_reports_a_bad_regex_literal_with_file_and_line(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(BAD_REGEX)
    line = one_line_error(annexa("rules", "validate", str(pack), cwd=tmp_path))
    assert f"{pack}:8: assert: rule testkit.widget.name_matches_pattern: `assert`: invalid regular expression '('" \
        in line


def test_rules_validate_reports_a_module_that_exits_on_import(tmp_path: Path) -> None:
    (tmp_path / "exiting_rules.py").write_text("import sys\nsys.exit(0)\n")
    pack = tmp_path / "pack.yaml"
    pack.write_text(FAILING_RULES + PYTHON_RULE.format(name="x").replace("tests.support.bad_rules:x",
                                                                         "exiting_rules:check"))
    proc = annexa("rules", "validate", str(pack), cwd=tmp_path, env={"PYTHONPATH": f"{tmp_path}:{Path.cwd()}"})
    line = one_line_error(proc)
    assert f"{pack}:15: function:" in line and "importing exiting_rules called sys.exit(0)" in line
    (tmp_path / "exiting_rules.py").write_text("raise ImportError('broken build')\n")
    line = one_line_error(annexa("rules", "validate", str(pack), cwd=tmp_path,
                                 env={"PYTHONPATH": f"{tmp_path}:{Path.cwd()}"}))
    assert "raised ImportError: broken build" in line


def test_a_run_with_a_raising_rule_completes_with_error_findings(tmp_path: Path, world: World) -> None:
    world.add("testkit.widget", "w1", {"name": "w1", "pattern": "(", "encryption": {"enabled": True}})
    world.add("testkit.widget", "w2", {"name": "w2", "pattern": "^w", "encryption": {"enabled": True}})
    world.add("testkit.account", "u1", {"email": "a@acme.com", "active": True})
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "failing.yaml").write_text(FAILING_RULES + PYTHON_RULE.format(name="raises")
                                        + PYTHON_RULE.format(name="exits"))
    config = write_config(tmp_path, world)
    config.write_text(config.read_text().replace("rules:\n  paths: [", f"rules:\n  paths: [{packs}, "))
    run = annexa("--config", str(config), "run", "--format", "json", "--quiet")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "complete"
    findings = json.loads(annexa("--config", str(config), "findings", "--format", "json").stdout)
    status = {(f["rule"], f["resource"]["id"]): f["status"] for f in findings}
    assert status[("testkit.widget.name_matches_pattern", "w1")] == "error"
    assert status[("testkit.widget.name_matches_pattern", "w2")] == "pass"
    assert [s for (rule, _), s in status.items() if rule == "testkit.account.raises"] == ["error"]
    assert [s for (rule, _), s in status.items() if rule == "testkit.account.exits"] == ["error"]
    runs = json.loads(annexa("--config", str(config), "runs", "--format", "json").stdout)
    assert [r["status"] for r in runs] == ["complete"]


@pytest.mark.parametrize(("name", "module", "words"), [
    ("exits_on_import", "import sys\nsys.exit(0)\n", "importing {name} called sys.exit(0)"),
    ("fails_on_import", "raise ImportError('broken build')\n", "importing {name} raised ImportError: broken build"),
])
def test_a_run_with_a_rule_module_that_fails_to_import_gives_error_findings(
        tmp_path: Path, world: World, name: str, module: str, words: str) -> None:
    """`rules validate` reports the module (exit 2); a run goes on and records `error` for its rules only."""
    (tmp_path / f"{name}.py").write_text(module)
    world.add("testkit.widget", "w1", {"name": "w1", "pattern": "^w", "encryption": {"enabled": True}})
    world.add("testkit.account", "u1", {"email": "a@acme.com", "active": True})
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "failing.yaml").write_text(FAILING_RULES + PYTHON_RULE.format(name="x").replace(
        "tests.support.bad_rules:x", f"{name}:check"))
    config = write_config(tmp_path, world)
    config.write_text(config.read_text().replace("rules:\n  paths: [", f"rules:\n  paths: [{packs}, "))
    env = {"PYTHONPATH": f"{tmp_path}:{Path.cwd()}"}
    validate = annexa("--config", str(config), "rules", "validate", str(packs), env=env)
    assert validate.returncode == 2 and words.format(name=name) in one_line_error(validate)
    run = annexa("--config", str(config), "--log-level", "error", "run", "--format", "json", "--quiet", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "complete"
    findings = json.loads(annexa("--config", str(config), "findings", "--format", "json", env=env).stdout)
    status = {(f["rule"], f["resource"]["id"]): (f["status"], f["message"]) for f in findings}
    assert status[("testkit.widget.name_matches_pattern", "w1")][0] == "pass"
    [(state, message)] = [v for (rule, _), v in status.items() if rule == "testkit.account.x"]
    assert state == "error" and words.format(name=name) in message
