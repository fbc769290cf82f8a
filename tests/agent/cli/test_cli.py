"""The CLI through the installed console script, in a subprocess, as users run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SUPPORT, World, write_config

ANNEXA = shutil.which("annexa") or "annexa"


def annexa(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
           module: bool = False) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit", **(env or {})}
    cmd = [sys.executable, "-m", "agent", *args] if module else [ANNEXA, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or ROOT, env=full_env, timeout=120)


@pytest.fixture
def configured(tmp_path: Path, world: World) -> Path:
    world.add("testkit.widget", "w1", {"kind": "server", "encryption": {"enabled": True},
                                       "rules": [{"cidr": "0.0.0.0/0", "port": 22}]}, region="eu-west-1")
    world.add("testkit.widget", "w2", {"kind": "db", "encryption": {"enabled": False}}, region="eu-west-1")
    return write_config(tmp_path, world)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_run_then_findings_json_matches_the_contract(configured: Path) -> None:
    run = annexa("--config", str(configured), "run", "--format", "json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["status"] == "complete" and summary["hash"].startswith("sha256:")
    proc = annexa("--config", str(configured), "findings", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    findings = json.loads(proc.stdout)
    enc = {f["resource"]["id"]: f for f in findings if f["rule"] == "testkit.widget.encrypted"}
    assert enc["w2"]["status"] == "fail" and enc["w1"]["status"] == "pass"
    f = enc["w2"]
    assert set(f) >= {"rule", "title", "status", "severity", "controls", "source", "resource", "message", "evidence",
                      "first_seen", "last_seen"}
    assert f["resource"] == {"id": "w2", "type": "testkit.widget", "name": "w2", "account": None,
                             "region": "eu-west-1"}
    assert f["controls"] == ["A.8.24"] and f["evidence"].startswith("sha256:") and f["last_seen"].endswith("Z")


def test_findings_filters_and_csv(configured: Path) -> None:
    annexa("--config", str(configured), "run", "--quiet")
    proc = annexa("--config", str(configured), "findings", "--control", "8.20", "--format", "json")
    rules = {f["rule"] for f in json.loads(proc.stdout)}
    assert rules == {"testkit.widget.no_public_ports"}
    proc = annexa("--config", str(configured), "findings", "--status", "fail", "--format", "csv")
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("rule,title,status") and all(",fail," in line for line in lines[1:])
    proc = annexa("--config", str(configured), "findings", "--control", "A.10.1.1", "--format", "json")
    assert "ISO 27001:2013" in proc.stderr and "A.8.24" in proc.stderr
    assert {f["rule"] for f in json.loads(proc.stdout)} == {"testkit.widget.encrypted"}


def test_controls_json_has_contract_shape_and_live_status(configured: Path) -> None:
    annexa("--config", str(configured), "run", "--quiet")
    proc = annexa("--config", str(configured), "controls", "--format", "json")
    controls = {c["id"]: c for c in json.loads(proc.stdout)}
    assert len(controls) == 93
    c = controls["A.8.24"]
    assert set(c) >= {"id", "title", "theme", "attributes", "iso27001_2013", "guidance", "applicable", "status",
                      "rules", "passing", "failing", "errors", "manual_evidence"}
    assert c["status"] == "failing" and c["failing"] == 1 and c["passing"] == 1
    assert controls["A.5.1"]["status"] == "unknown"
    proc = annexa("--config", str(configured), "controls", "--theme", "people", "--format", "json")
    assert [c["id"] for c in json.loads(proc.stdout)] == [f"A.6.{i}" for i in range(1, 9)]


def test_python_module_is_the_same_cli(configured: Path) -> None:
    a = annexa("--config", str(configured), "rules", "list", "--format", "json")
    b = annexa("--config", str(configured), "rules", "list", "--format", "json", module=True)
    assert a.returncode == b.returncode == 0 and json.loads(a.stdout) == json.loads(b.stdout)
    ids = {r["id"] for r in json.loads(a.stdout)}
    assert "testkit.widget.encrypted" in ids
    assert set(json.loads(a.stdout)[0]) == {"id", "title", "provider", "resource", "severity", "controls"}


def test_config_env_var_and_verify_store(configured: Path, tmp_path: Path) -> None:
    annexa("--config", str(configured), "run", "--quiet")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = annexa("verify", "--store", cwd=elsewhere, env={"ANNEXA_CONFIG": str(configured)})
    assert proc.returncode == 0 and "store OK: 1 runs chained" in proc.stdout


def test_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "annexa.yaml"
    cfg.write_text("sources:\n  - name: x\n    type: nope\n")
    line = one_line_error(annexa("--config", str(cfg), "run"))
    assert f"{cfg}:3: sources[0].type: unknown source type 'nope'" in line


def test_bad_rule_file_is_one_line_exit_2(tmp_path: Path, world: World) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    bad = (SUPPORT / "rules" / "testkit.yaml").read_text().replace("testkit.widget.encrypted", "testkit.widget.x2")
    (rules / "bad.yaml").write_text(bad.replace('assert: "encryption.enabled == `true`"', 'assert: "encryption.[["'))
    line = one_line_error(annexa("--config", str(write_config(tmp_path, world)), "rules", "validate", str(rules)))
    assert f"{rules / 'bad.yaml'}:9: assert:" in line and "invalid JMESPath" in line


def test_unknown_control_id_is_one_line_exit_2(configured: Path) -> None:
    line = one_line_error(annexa("--config", str(configured), "controls", "show", "A.9.99"))
    assert "unknown control id 'A.9.99'" in line


def test_bad_jmespath_in_configured_rules_stops_run(tmp_path: Path, world: World) -> None:
    rules = tmp_path / "more"
    rules.mkdir()
    (rules / "x.yaml").write_text(
        "provider: testkit\nrules:\n  - id: testkit.widget.y\n    title: Something\n    resource: testkit.widget\n"
        "    severity: low\n    controls: [A.8.9]\n    assert: \"a ==\"\n    message: m\n"
        "    guidance: Some guidance.\n    remediation: Fix it.\n")
    cfg = write_config(tmp_path, world, extra="")
    cfg.write_text(cfg.read_text().replace(f"paths: [{SUPPORT / 'rules'}]", f"paths: [{SUPPORT / 'rules'}, {rules}]"))
    line = one_line_error(annexa("--config", str(cfg), "run"))
    assert f"{rules / 'x.yaml'}:8: assert:" in line


def test_partial_run_exit_code_3(configured: Path, world: World) -> None:
    world.fail = [{"type": "testkit.widget", "message": "AccessDenied: nope", "region": "eu-west-1"}]
    world.save()
    proc = annexa("--config", str(configured), "run", "--quiet")
    assert proc.returncode == 3
    assert "collection error: kit testkit.widget eu-west-1: AccessDenied: nope" in proc.stderr


def test_fail_on_gate_exit_1(configured: Path) -> None:
    assert annexa("--config", str(configured), "run", "--quiet", "--fail-on", "fail").returncode == 1


def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    proc = annexa("init", "--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "annexa.yaml").exists()
    assert annexa("--config", str(tmp_path / "annexa.yaml"), "rules", "list").returncode == 0
    assert one_line_error(annexa("init", "--dir", str(tmp_path))).endswith("use --force to overwrite it")


def test_db_upgrade_is_idempotent(configured: Path) -> None:
    first = annexa("--config", str(configured), "db", "upgrade")
    assert first.returncode == 0 and "upgraded (empty) ->" in first.stdout
    second = annexa("--config", str(configured), "db", "upgrade")
    assert second.returncode == 0 and "already at" in second.stdout


def test_json_output_is_only_json_even_with_logging(configured: Path) -> None:
    proc = annexa("--config", str(configured), "--log-level", "debug", "run", "--format", "json")
    json.loads(proc.stdout)
    log_lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "source finished" for entry in log_lines)


def test_ctrl_c_leaves_a_consistent_store_and_an_incomplete_run(configured: Path, world: World) -> None:
    import signal
    import time

    for i in range(200):
        world.add("testkit.widget", f"slow{i}", {"kind": "db", "encryption": {"enabled": True}})
    world.sleep = 0.02
    world.save()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit"}
    proc = subprocess.Popen([ANNEXA, "--config", str(configured), "--log-level", "info", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    db = configured.parent / "annexa.db"
    while time.monotonic() < deadline and not db.exists():
        time.sleep(0.1)
    time.sleep(1.5)  # some resources are stored, most are not
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    runs = json.loads(annexa("--config", str(configured), "runs", "--format", "json").stdout)
    assert runs[0]["status"] == "incomplete"
    assert annexa("--config", str(configured), "verify", "--store").returncode == 0
    world.sleep = 0
    world.save()
    assert annexa("--config", str(configured), "run", "--quiet").returncode == 0
    verify = annexa("--config", str(configured), "verify", "--store")
    assert verify.returncode == 0 and "2 runs chained" in verify.stdout


def test_controls_show_attribute_filter_and_coverage(configured: Path) -> None:
    annexa("--config", str(configured), "run", "--quiet")
    show = json.loads(annexa("--config", str(configured), "controls", "show", "8.24", "--format", "json").stdout)
    assert show["id"] == "A.8.24" and show["title"] == "Use of cryptography"
    assert "testkit.widget.encrypted" in show["rule_ids"] and show["failing"] == 1
    assert set(show["guidance_detail"]) == {"purpose", "implementation", "evidence", "automation"}
    legacy = annexa("--config", str(configured), "controls", "show", "A.9.4.2", "--format", "json")
    assert json.loads(legacy.stdout)["id"] == "A.8.5" and "2013" in legacy.stderr
    text = annexa("--config", str(configured), "controls", "show", "A.8.24")
    assert text.returncode == 0 and "Use of cryptography" in text.stdout and "Purpose" in text.stdout
    detect = json.loads(annexa("--config", str(configured), "controls", "--attribute",
                               "cybersecurity_concepts=Detect", "--format", "json").stdout)
    assert detect and all("Detect" in c["attributes"]["cybersecurity_concepts"] for c in detect)
    bad = annexa("--config", str(configured), "controls", "--attribute", "colour=Blue")
    assert bad.returncode == 2 and "colour" in bad.stderr
    coverage = json.loads(annexa("--config", str(configured), "controls", "--coverage", "--format", "json").stdout)
    assert sum(coverage["summary"].values()) == 93
    assert set(coverage["no_evidence_path"]) <= {c["id"] for c in coverage["controls"]}


def test_config_option_after_the_subcommand_and_empty_shard(configured: Path) -> None:
    proc = annexa("run", "--quiet", "--config", str(configured), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "complete"
    empty = annexa("run", f"--config={configured}", "--shard", "1/2", "--format", "json")
    assert empty.returncode == 0 and json.loads(empty.stdout)["status"] == "empty-shard"
    bad = annexa("run", "--config", str(configured), "--shard", "2/2")
    assert bad.returncode == 2 and "K/N" in bad.stderr


def test_run_skips_a_source_another_process_is_collecting(configured: Path) -> None:
    from filelock import FileLock

    assert annexa("--config", str(configured), "run", "--quiet").returncode == 0  # creates the store
    with FileLock(f"{configured.parent / 'annexa.db'}.kit.lock"):  # what a daemon or another pod holds
        busy = annexa("--config", str(configured), "run", "--format", "json")
    assert busy.returncode == 0, busy.stderr
    assert json.loads(busy.stdout)["status"] == "busy"
    assert "source kit is being collected by another process: skipped" in busy.stderr
    runs = json.loads(annexa("--config", str(configured), "runs", "--format", "json").stdout)
    assert len(runs) == 1, "a skipped source starts no run"


def test_verify_store_with_an_anchor(configured: Path) -> None:
    run = json.loads(annexa("--config", str(configured), "run", "--format", "json").stdout)
    ok = annexa("--config", str(configured), "verify", "--store", "--anchor", run["hash"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = "sha256:" + "0" * 64
    bad = annexa("--config", str(configured), "verify", "--store", "--anchor", missing)
    assert bad.returncode == 1 and f"anchor {missing} is not in the chain" in bad.stdout
    assert annexa("--config", str(configured), "verify", "--anchor", missing).returncode == 2


def test_an_export_bundle_anchors_the_store_chain(configured: Path, tmp_path: Path) -> None:
    annexa("--config", str(configured), "run", "--quiet")
    bundle = tmp_path / "audit.zip"
    exported = annexa("--config", str(configured), "export", "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr
    annexa("--config", str(configured), "run", "--quiet")  # the chain grows after the export
    ok = annexa("--config", str(configured), "verify", "--store", "--anchor", str(bundle))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    not_a_bundle = tmp_path / "x.zip"
    not_a_bundle.write_text("nope")
    assert one_line_error(annexa("--config", str(configured), "verify", "--store", "--anchor",
                                 str(not_a_bundle))).count("--anchor") >= 1


def test_read_commands_do_not_create_a_store(tmp_path: Path) -> None:
    controls = annexa("controls", "--format", "json", cwd=tmp_path)
    assert controls.returncode == 0 and {c["status"] for c in json.loads(controls.stdout)} == {"unknown"}
    findings = annexa("findings", "--format", "json", cwd=tmp_path)
    assert findings.returncode == 0 and json.loads(findings.stdout) == []
    assert "annexa run" in findings.stderr
    assert list(tmp_path.iterdir()) == []
