"""`annexa runs` shows each source's outcome (ok, degraded, failed) per run, in every format."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.agent.test_health import GUARDDUTY_LIKE, WIDGET, run, write

ROOT = Path(__file__).resolve().parents[3]
ANNEXA = shutil.which("annexa") or "annexa"


def annexa(config: Path, *args: str) -> str:
    proc = subprocess.run([ANNEXA, "--config", str(config), "runs", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_runs_show_each_sources_outcome(tmp_path: Path) -> None:
    broken = {"type": "testkit.widget", "message": "connection refused"}
    worlds = {
        "good": {"resources": [WIDGET]},
        "some": {"resources": [WIDGET], "fail": [{"type": "testkit.person", "message": "AccessDenied"}]},
        "none": {"resources": [], "fail": [broken]},
        "gapped": {"resources": [WIDGET], "fail": [GUARDDUTY_LIKE]},
    }
    gap = ("expected_gaps:\n  - {source: gapped, resource_type: testkit.person, region: eu-west-3,"
           " reason: not used there, approved_by: ciso, expires: 2999-01-01}\n")
    config = write(tmp_path, worlds, gap)
    run(config)
    (tmp_path / "none.json").write_text(json.dumps({"resources": [WIDGET]}))  # the outage is over
    run(config)

    latest, first = json.loads(annexa(config, "--format", "json"))
    assert first["outcomes"] == {"gapped": "ok", "good": "ok", "none": "failed", "some": "degraded"}
    assert latest["outcomes"] == {"gapped": "ok", "good": "ok", "none": "ok", "some": "degraded"}
    assert first["errors"] == 2 and first["expected_gaps"] == 1  # the gap's record is not an error
    assert latest["errors"] == 1 and latest["expected_gaps"] == 1

    table = annexa(config)
    assert "none: failed" in table and "some: degraded" in table and "none: ok" in table

    rows = list(csv.DictReader(io.StringIO(annexa(config, "--format", "csv"))))
    assert rows[1]["outcomes"] == "good: ok, some: degraded, none: failed, gapped: ok"  # in config order
