"""Expected gaps where users and auditors read them: `annexa findings` and the auditor bundle.

A store built by real runs of the test collector; ANNEXA_NOW (the injectable clock) moves the runs from
before a declared gap's expiry to after it. While the gap is active the unreadable scope is
`not_applicable` with the gap's reason, approver and expiry; once it expires the same scope is `error`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.agent.test_health import GUARDDUTY_LIKE, WIDGET, run, states, write
from tests.agent.test_health import metrics as scrape

ANNEXA = shutil.which("annexa") or "annexa"
ROOT = Path(__file__).resolve().parents[2]  # the test collector's plugin module is imported from here
GAP = ("expected_gaps:\n  - source: aws-like\n    resource_type: testkit.person\n    region: eu-west-3\n"
       "    reason: GuardDuty is not used in eu-west-3\n    approved_by: ciso@example.com\n"
       "    expires: 2027-03-31\n")
RULES = f"rules:\n  paths: [{Path(__file__).resolve().parents[1] / 'support' / 'rules'}]\n"
SCOPE = "annexa:collection/aws-like/-/eu-west-3/testkit.person"
RULE = "testkit.account.leaver_removed"  # reads testkit.person and testkit.account; controls A.5.18, A.6.5


def annexa(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([ANNEXA, "--config", str(config), *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    return proc


def findings(config: Path, *args: str) -> list[dict[str, Any]]:
    return json.loads(annexa(config, "findings", "--format", "json", *args).stdout)


def collection_errors(config: Path, out: Path) -> tuple[list[dict[str, str]], str]:
    annexa(config, "export", "--out", str(out), "--control", "A.5.18", "--force")
    with zipfile.ZipFile(out) as bundle:
        rows = list(csv.DictReader(io.StringIO(bundle.read("controls/A.5.18/collection-errors.csv").decode())))
        page = bundle.read("controls/A.5.18/index.html").decode()
    return rows, page


def test_expected_gap_is_not_applicable_with_its_reason_until_it_expires(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path, {"aws-like": {"resources": [WIDGET], "fail": [GUARDDUTY_LIKE]}}, GAP + RULES)

    monkeypatch.setenv("ANNEXA_NOW", "2027-03-30T12:00:00Z")  # the day before expiry: the gap holds
    run(config)
    m = scrape(config)
    assert states(m) == {"aws-like": "ok"}
    # The leaver rule's controls have only the gapped scope: no evidence was read, so no freshness.
    fresh = {la["control"] for la, _ in m["annexa_control_evidence_timestamp_seconds"]}
    assert "A.5.18" not in fresh and "A.8.24" in fresh
    assert ({"status": "not_applicable", "severity": "high", "source": "aws-like"}, 1.0) in m["annexa_findings"]
    gapped = findings(config, "--status", "not_applicable")
    assert [(f["rule"], f["resource"]["id"]) for f in gapped] == [(RULE, SCOPE)]
    message = gapped[0]["message"]
    for shown in ("GuardDuty is not used in eu-west-3", "approved by ciso@example.com", "expires 2027-03-31",
                  "OptInRequired"):
        assert shown in message
    assert findings(config, "--status", "error") == []
    table = annexa(config, "findings", "--source", "aws-like").stdout
    assert "not_applicable" in table and "approved by ciso@example.com" in table
    # A cross-type rule is not evaluated on a partial population (no pass for the leaver rule).
    assert [f for f in findings(config, "--rule", RULE) if f["status"] != "not_applicable"] == []

    rows, page = collection_errors(config, tmp_path / "before.zip")
    assert [(r["scope"], r["status_at_period_end"]) for r in rows] == [(SCOPE, "not_applicable")]
    assert "approved by ciso@example.com" in rows[0]["message"] and "expires 2027-03-31" in rows[0]["message"]
    assert rows[0]["days_error"] == "0.0"
    assert "Expected gaps (1 not applicable interval(s))" in page
    assert "GuardDuty is not used in eu-west-3" in page

    monkeypatch.setenv("ANNEXA_NOW", "2027-03-31T00:00:00Z")  # expired: the same scope is an error again
    run(config)
    assert states(scrape(config)) == {"aws-like": "degraded"}
    assert findings(config, "--status", "not_applicable") == []
    errors = findings(config, "--status", "error")
    assert [(f["rule"], f["resource"]["id"]) for f in errors] == [(RULE, SCOPE)]
    assert "expected gap" not in errors[0]["message"] and "OptInRequired" in errors[0]["message"]

    rows, page = collection_errors(config, tmp_path / "after.zip")
    assert [(r["scope"], r["status_at_period_end"]) for r in rows] == [(SCOPE, "error")]
    assert "Expected gaps (1 not applicable interval(s))" in page  # the earlier interval stays on record


def test_a_gap_for_another_account_leaves_the_error(tmp_path: Path) -> None:
    gap = ("expected_gaps:\n  - {source: aws-like, resource_type: testkit.person, account: '111111111111',"
           " reason: not used there, approved_by: ciso, expires: 2999-01-01}\n")
    config = write(tmp_path, {"aws-like": {"resources": [WIDGET], "fail": [
        {**GUARDDUTY_LIKE, "account": "222222222222"}]}}, gap + RULES)
    run(config)
    assert findings(config, "--status", "not_applicable") == []
    assert [f["resource"]["account"] for f in findings(config, "--status", "error")] == ["222222222222"]
