"""`annexa run` with an hr_csv source, as users run it (a subprocess of the real CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, World

NOW = "2026-03-15T09:00:00Z"
ROSTER = ("Work Email,Name,Status,Start,End\n"
          "alice@acme.com,Alice,Active,2020-01-06,\n"
          "carol@acme.com,Carol,Terminated,2021-03-01,2026-02-13\n"
          "dave@acme.com,Dave,Active,2022-13-01,\n")  # line 4: month 13


def annexa(config: Path, *args: str, now: str = NOW) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_PLUGINS": "tests.support.testkit", "ANNEXA_NOW": now}
    return subprocess.run([sys.executable, "-m", "agent", "--config", str(config), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=180)


def configure(tmp_path: Path, roster: str, world: World, columns: str | None = None) -> Path:
    (tmp_path / "people").mkdir(exist_ok=True)
    (tmp_path / "people" / "roster.csv").write_text(roster)
    columns = columns or "{email: Work Email, status: Status, start_date: Start, end_date: End}"
    path = tmp_path / "annexa.yaml"
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n  evidence: {tmp_path / 'evidence'}\n"
                    "identity:\n  domains: [acme.com, acme.io]\n"
                    "sources:\n"
                    "  - name: people\n    type: hr_csv\n    path: people/roster.csv\n"   # relative to this file
                    f"    columns: {columns}\n"
                    f"  - name: idp\n    type: testkit\n    world: {world.path}\n")
    return path


def okta_account(world: World, login: str, *, active: bool = True) -> str:
    url = f"https://acme.okta.com/api/v1/users/00u{login.split('@')[0]}"
    world.add("identity.account", url, {
        "provider": "okta", "tenant": "acme.okta.com", "account_id": login, "url": url, "raw_type": "okta.user",
        "login": login, "status": "ACTIVE" if active else "DEPROVISIONED", "active": active, "email": login,
        "emails": [login], "kind": "human", "created": "2021-03-01T00:00:00Z", "last_login": "2026-03-10T00:00:00Z",
        "last_login_known": True, "mfa_enrolled": True, "mfa_enforced": True, "mfa_methods": ["push"],
        "privileged": False, "privileges": [], "external": False, "display_name": None}, account="acme.okta.com")
    return url


def findings(config: Path, *args: str) -> list[dict[str, object]]:
    proc = annexa(config, "findings", "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_id(config: Path, rule: str) -> dict[str, dict[str, object]]:
    """The current findings of one rule, by resource id."""
    return {str(f["resource"]["id"]): f for f in findings(config, "--rule", rule)}  # type: ignore[index]


def test_missing_column_is_one_line_exit_2_and_nothing_written(tmp_path: Path) -> None:
    world = World(tmp_path / "idp.json")
    config = configure(tmp_path, ROSTER, world, columns="{email: Work Email, end_date: Leaving Date}")
    proc = annexa(config, "run")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(tmp_path / "people" / "roster.csv") in lines[0]
    assert "columns.end_date" in lines[0] and "'Leaving Date' is not in the header" in lines[0]
    assert not (tmp_path / "annexa.db").exists() and not (tmp_path / "evidence").exists()


def test_missing_roster_file_is_exit_2(tmp_path: Path) -> None:
    world = World(tmp_path / "idp.json")
    config = configure(tmp_path, ROSTER, world)
    (tmp_path / "people" / "roster.csv").unlink()
    proc = annexa(config, "run")
    assert proc.returncode == 2 and "roster.csv: file not found" in proc.stderr
    assert not (tmp_path / "annexa.db").exists()


def test_bad_rows_are_error_findings_and_the_rest_of_the_roster_is_used(tmp_path: Path) -> None:
    world = World(tmp_path / "idp.json")
    carol = okta_account(world, "carol@acme.io")
    dave = okta_account(world, "dave@acme.com")
    config = configure(tmp_path, ROSTER, world)
    proc = annexa(config, "run")
    assert proc.returncode == 0, proc.stderr
    uri = (tmp_path / "people" / "roster.csv").resolve().as_uri()
    got = {(f["rule"], f["resource"]["id"]): f for f in findings(config)}  # type: ignore[index]
    bad = got[("identity.hr_record_usable", f"{uri}#dave@acme.com")]
    assert bad["status"] == "error"
    assert "roster.csv line 4: start_date '2022-13-01' is not a date" in str(bad["message"])
    assert got[("identity.hr_record_usable", f"{uri}#alice@acme.com")]["status"] == "pass"
    # the bad row's person is judged `error`, the rest of the roster still works
    assert got[("identity.leaver_accounts_disabled", dave)]["status"] == "error"
    assert got[("identity.leaver_accounts_disabled", carol)]["status"] == "fail"
    assert got[("identity.orphan_accounts", dave)]["status"] == "error"


def test_annexa_now_moves_the_leaving_date_judgement(tmp_path: Path) -> None:
    world = World(tmp_path / "idp.json")
    carol = okta_account(world, "carol@acme.com")
    config = configure(tmp_path, ROSTER, world)
    assert annexa(config, "run", now="2026-02-01T00:00:00Z").returncode == 0
    before = by_id(config, "identity.leaver_accounts_disabled")
    assert before[carol]["status"] == "pass" and "serving notice until 2026-02-13" in str(before[carol]["message"])
    assert annexa(config, "run").returncode == 0
    after = by_id(config, "identity.leaver_accounts_disabled")
    assert after[carol]["status"] == "fail" and "left 30 days ago" in str(after[carol]["message"])
