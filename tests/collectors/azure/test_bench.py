"""The Azure benchmark runs, counts calls against the floor, and reports no collection error."""

from __future__ import annotations

import json

import pytest

from bench.azure_bench import main


def test_bench_on_a_small_tenant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--subscriptions", "2", "--latency", "0.02", "--concurrency", "4", "--repeat", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] == 0 and report["throttled"] == 0
    assert report["calls"] > 2 * 30  # every service in each subscription, and the directory
    assert report["floor"] == pytest.approx(report["calls"] * 0.02 / 4)
    assert report["ratio_best"] == pytest.approx(report["wall_best"] / report["floor"])
    assert report["max_in_flight"] <= 8  # four per API
    assert report["by_service"]["Microsoft.Sql/servers"] == 2 * 11
