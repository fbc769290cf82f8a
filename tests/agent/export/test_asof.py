"""`annexa findings --as-of` and `annexa controls --as-of`: the state at an instant, from the intervals."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from agent.asof import findings_at, source_runs_at
from agent.cli.app import App
from tests.agent.export.sampling_store import HOSTILE, NOW, T0, SamplingStore, build
from tests.agent.export.test_cli import annexa, main, one_line_error

ENC = "testkit.widget.encrypted"
PORTS = "testkit.widget.no_public_ports"


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> SamplingStore:
    return build(tmp_path_factory.mktemp("sampling"))


def _state(sampled: SamplingStore, at: str) -> dict[tuple[str, str], str]:
    proc = annexa("--config", str(sampled.config), "findings", "--as-of", at, "--format", "json",
                  env={"ANNEXA_NOW": NOW.isoformat()})
    assert proc.returncode == 0, proc.stderr
    return {(f["rule"], f["resource"]["id"]): f["status"] for f in json.loads(proc.stdout)}


def test_findings_as_of_chosen_instants(sampled: SamplingStore) -> None:
    before = _state(sampled, "2025-12-31")
    assert before == {}  # nothing had been collected yet

    day5 = _state(sampled, (T0 + timedelta(days=5)).isoformat())
    assert day5[(ENC, "w-fix")] == "fail" and day5[(ENC, "w-late")] == "fail"
    assert day5[(ENC, "w-ok")] == "pass" and day5[(PORTS, "w-srv")] == "fail"
    assert not any(r.startswith("annexa:") for _, r in day5)

    day15 = _state(sampled, "2026-01-15")  # a date: the end of that day
    assert day15[(ENC, "w-fix")] == "pass" and day15[(ENC, "w-late")] == "fail"
    errors = {k for k, v in day15.items() if v == "error"}
    assert (ENC, "annexa:collection/kit/-/r9/testkit.widget") in errors

    day30 = _state(sampled, "2026-01-31T00:00:00Z")
    assert not any(v == "error" for v in day30.values())  # run 3 cleared the collection error
    assert day30[(ENC, "w-late")] == "fail"

    after = _state(sampled, "2026-02-20T00:00:00+02:00")
    assert after[(ENC, "w-late")] == "pass" and after[(PORTS, "w-srv")] == "fail"
    # the present state agrees with the latest as-of state
    now = annexa("--config", str(sampled.config), "findings", "--format", "json")
    assert {(f["rule"], f["resource"]["id"]): f["status"] for f in json.loads(now.stdout)} == after


def test_as_of_on_the_run_boundary(sampled: SamplingStore) -> None:
    app = App(str(sampled.config))
    store = app.store()
    try:
        second = sampled.run_times[1]
        assert source_runs_at(store, second - timedelta(seconds=1)) == {"kit": 1}
        assert source_runs_at(store, second + timedelta(minutes=1)) == {"kit": 2}
        rows = list(findings_at(store, second + timedelta(minutes=1), rules=[ENC], status="fail"))
        assert [r["resource_id"] for r in rows] == ["w-late"]
        assert rows[0]["resource_name"] == "w-late"
        assert list(findings_at(store, second, source="elsewhere")) == []
    finally:
        store.close()


def test_findings_as_of_csv_stays_inert(sampled: SamplingStore) -> None:
    proc = annexa("--config", str(sampled.config), "findings", "--as-of", "2026-01-05", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert "'" + HOSTILE.replace('"', '""') in proc.stdout


def test_controls_as_of(sampled: SamplingStore) -> None:
    def status(at: str) -> dict[str, dict[str, object]]:
        proc = annexa("--config", str(sampled.config), "controls", "--as-of", at, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        return {c["id"]: c for c in json.loads(proc.stdout)}

    day5, day50 = status("2026-01-05"), status("2026-02-20")
    assert day5["A.8.24"]["status"] == "failing" and day5["A.8.24"]["failing"] == 2
    assert day50["A.8.24"]["status"] == "passing" and day50["A.8.24"]["failing"] == 0
    assert day50["A.8.20"]["status"] == "failing"
    assert day5["A.7.4"]["status"] == "not_applicable"
    assert status("2025-06-01")["A.8.24"]["status"] == "unknown"


@pytest.mark.parametrize("command", ["findings", "controls"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "", "9999-12-31T23:00:00-05:00"])
def test_bad_as_of_is_one_line_exit_2(sampled: SamplingStore, command: str, value: str, tmp_path: Path) -> None:
    line = one_line_error(main("--config", str(sampled.config), command, "--as-of", value))
    assert "--as-of" in line


@pytest.mark.parametrize("command", ["findings", "controls"])
def test_an_instant_after_now_is_refused_but_todays_date_is_not(sampled: SamplingStore, command: str) -> None:
    env = {"ANNEXA_NOW": NOW.isoformat()}
    later = annexa("--config", str(sampled.config), command, "--as-of", (NOW + timedelta(hours=1)).isoformat(),
                   env=env)
    assert later.returncode == 2 and "is in the future" in later.stderr and len(later.stderr.splitlines()) == 1
    today = annexa("--config", str(sampled.config), command, "--as-of", NOW.date().isoformat(), env=env)
    assert today.returncode == 0, today.stderr
