"""`annexa demo`: the HR roster and the People controls (leavers, orphans, stale accounts, MFA, privileged).

The demo runs once in this process (moto in-process, the roster CSV in DIR/sources/demo-hr); the
assertions read the demo's store and export bundle as a user would.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from agent.demo.runner import DemoResult, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoResult]:
    folder = tmp_path_factory.mktemp("people-demo") / "demo"
    mp = pytest.MonkeyPatch()
    for name in ("AWS_ENDPOINT_URL", "ANNEXA_CONFIG", "ANNEXA_NOW", "ANNEXA_STORE_URL"):
        mp.delenv(name, raising=False)
    try:
        yield run_demo(folder)
    finally:
        mp.undo()


def findings(demo: DemoResult, rule: str) -> dict[str, dict[str, Any]]:
    store = demo.app.store()
    try:
        return {f["resource_name"]: f for f in store.current_findings(rules=[rule])}
    finally:
        store.close()


def test_the_roster_is_in_the_demo_folder_and_config(demo: DemoResult) -> None:
    roster = demo.folder / "sources" / "demo-hr" / "roster.csv"
    assert roster.is_file() and "carol@acme.example" in roster.read_text()
    config = demo.config.read_text()
    assert "type: hr_csv" in config and "path: sources/demo-hr/roster.csv" in config
    assert "ci-bot@acme.example" in config  # a service account: never a leaver, never an orphan
    assert any("HR roster" in t for t in demo.tenants)


def test_carol_left_30_days_ago_and_still_has_her_production_iam_user(demo: DemoResult) -> None:
    leaver = findings(demo, "identity.leaver_accounts_disabled")
    carol = leaver["carol@acme.example"]
    assert carol["status"] == "fail" and "left 30 days ago" in carol["message"]
    # findings on the IAM user (source demo-aws) and on her roster record (source demo-hr)
    store = demo.app.store()
    try:
        rows = [f for f in store.current_findings(rules=["identity.leaver_accounts_disabled"])
                if f["resource_name"] == "carol@acme.example"]
    finally:
        store.close()
    seen = {(f["source"], f["status"]) for f in rows}
    # every simulated identity source where her account is still active fails, AWS and the roster always
    assert {("demo-aws", "fail"), ("demo-hr", "fail")} <= seen and {s for _, s in seen} == {"fail"}
    if any("Okta" in t for t in demo.tenants):
        assert ("demo-okta", "fail") in seen
    production = next(a.id for a in demo.world.accounts if a.key == "production")
    assert any(f["resource_id"] == f"arn:aws:iam::{production}:user/carol@acme.example" for f in rows)


def test_the_rest_of_the_cast(demo: DemoResult) -> None:
    leaver = findings(demo, "identity.leaver_accounts_disabled")
    assert leaver["heidi@acme.example"]["status"] == "pass"              # left, everything disabled
    assert "serving notice" in leaver["grace@acme.example"]["message"]   # end date in 20 days
    assert leaver["grace@acme.example"]["status"] == "pass"
    stale = findings(demo, "identity.stale_accounts")
    assert stale["ivan@acme.example"]["status"] == "fail"
    assert stale["frank@acme.example"]["status"] == "pass" and "joiner" in stale["frank@acme.example"]["message"]
    orphan = findings(demo, "identity.orphan_accounts")
    assert orphan["break-glass-admin"]["status"] == "pass"  # owned through identity.aliases
    assert orphan["payments-deployer"]["status"] == "pass"  # a listed service account
    service = findings(demo, "identity.service_account_not_privileged")
    assert service["ci-legacy"]["status"] == "fail"


def test_a_bad_roster_row_was_an_error_naming_file_and_line_then_fixed(demo: DemoResult) -> None:
    store = demo.app.store()
    try:
        history = [f for f in store.current_findings(rules=["identity.hr_record_usable"])
                   if f["resource_name"] == "judy@acme.example"]
    finally:
        store.close()
    assert [f["status"] for f in history] == ["pass"]  # HR fixed the row before run 2
    with zipfile.ZipFile(demo.bundle) as zf:  # type: ignore[arg-type]
        rows = list(csv.DictReader(io.TextIOWrapper(zf.open("controls/A.6.5/findings.csv"), "utf-8")))
    judy = [r for r in rows if r["rule"] == "identity.hr_record_usable" and r["resource_name"] == "judy@acme.example"]
    errors = [r for r in judy if r["status"] == "error"]
    assert errors and "roster.csv line 11: end_date '2025-02-30' is not a date" in errors[0]["message"]


def test_people_controls_show_with_evidence(demo: DemoResult) -> None:

    store = demo.app.store()
    try:
        counts = store.counts_by_rule()
    finally:
        store.close()
    by_control: dict[str, int] = {}
    for rule in demo.app.active_rules():
        if rule.provider == "identity":
            for control in rule.controls:
                by_control[control] = by_control.get(control, 0) + sum(counts.get(rule.id, {}).values())
    for control in ("A.5.16", "A.5.18", "A.6.5", "A.8.2", "A.8.5"):
        assert by_control.get(control, 0) > 0, control
    with zipfile.ZipFile(demo.bundle) as zf:  # type: ignore[arg-type]
        population = list(csv.DictReader(io.TextIOWrapper(zf.open("controls/A.8.2/population.csv"), "utf-8")))
        names = set(zf.namelist())
    privileged = {r["resource_name"] for r in population if "identity.privileged_access_review" in r["rules"]}
    assert {"alice@acme.example", "dave@acme.example", "break-glass-admin", "ci-legacy"} <= privileged
    assert any(n.startswith("controls/A.6.5/evidence/") for n in names)
