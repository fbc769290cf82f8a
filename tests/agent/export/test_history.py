"""Period queries: which intervals cover which runs; the same export on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.export.history import INFINITY, Period, RunIndex, run_status, worst
from agent.export.verify import check_bundle
from agent.store.schema import findings
from tests.agent.export.conftest import export, make_history

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def index(points: list[int], source_runs: dict[str, list[int]]) -> RunIndex:
    runs = [{"id": i, "started_at": T0 + timedelta(days=i)} for i in points]
    started = {i: T0 + timedelta(days=i) for ids in source_runs.values() for i in ids}
    return RunIndex(period=Period(T0, T0 + timedelta(days=100)), in_period=runs, source_runs=source_runs,
                    started=started, head=None)


def row(first: int, last: int, open_: bool, source: str = "a") -> dict:
    return {"source": source, "first_run": first, "last_run": last, "open": open_,
            "first_seen": T0 + timedelta(days=first, hours=1), "last_seen": T0 + timedelta(days=last, hours=1)}


def test_an_interval_covers_runs_until_the_next_run_of_its_own_source() -> None:
    # source a ran in 1, 3, 5; source b in 2, 4. An interval of a seen in 1..3 (closed) lasts until run 5.
    idx = index([1, 2, 3, 4, 5], {"a": [1, 3, 5], "b": [2, 4]})
    closed = row(1, 3, False)
    assert idx.end_run(closed) == 5
    assert idx.covered_points(closed) == (0, 4)  # runs 1, 2, 3, 4
    assert not idx.covers_last(closed)
    current = row(5, 5, True)
    assert idx.end_run(current) == INFINITY and idx.covers_last(current)
    assert idx.covered_points(current) == (4, 5)
    start, end = idx.effective_span(closed, horizon=T0 + timedelta(days=100))
    assert (start, end) == (T0 + timedelta(days=1, hours=1), T0 + timedelta(days=5))  # until run 5 began


def test_state_in_force_at_the_start_of_the_period_is_selected() -> None:
    idx = index([4, 5], {"a": [1, 3, 5], "b": [2, 4]})
    assert idx.source_run_before("a", 4) == 3 and idx.source_run_before("b", 4) == 2
    assert idx.source_run_before("a", 1) is None
    clause = str(idx.interval_filter(findings).compile(compile_kwargs={"literal_binds": True}))
    assert "findings.last_run >= 3" in clause and "findings.last_run >= 2" in clause


def test_status_helpers() -> None:
    assert worst(["pass", "excepted", "fail"]) == "fail" and worst([]) is None
    assert run_status({"pass": 3, "error": 1}) == "unknown"
    assert run_status({"excepted": 1}) == "passing" and run_status({}) == "none"


@pytest.mark.postgres
def test_the_same_export_works_on_postgresql(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    history = make_history(tmp_path / "pg", postgres.fresh_database(), runs=3)
    out = tmp_path / "pg.zip"
    result = export(history, out, controls=["A.8.24", "A.5.1"])
    assert result.runs == 3 and result.manual_files == 2
    assert check_bundle(out).ok
    with zipfile.ZipFile(out) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("controls/A.8.24/findings.csv").decode())))
        soa = {r["id"]: r for r in csv.DictReader(io.StringIO(zf.read("soa.csv").decode()))}
    plain = [(r["status"], r["first_run"], r["open"]) for r in rows if r["resource_id"] == "w-plain"]
    first = int(plain[0][1])
    assert plain == [("fail", str(first), "no"), ("pass", str(first + 1), "no"), ("fail", str(first + 2), "yes")]
    assert soa["A.8.24"]["status"] == "failing" and soa["A.8.22"]["status"] == "not_applicable"
