"""Risk acceptances: matching, expiry, validation, and their effect on a real run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import InputError
from agent.exceptions import (
    RiskException,
    apply_exceptions,
    finding_hook,
    finding_hook_from_config,
    load_exceptions,
    parse_exceptions_text,
)
from agent.model import Finding, Status
from tests.conftest import World, write_config

RULES = ["aws.s3.bucket_public_access_blocked", "aws.s3.bucket_encrypted", "aws.iam.root_mfa",
         "testkit.widget.encrypted"]
BEFORE = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
AFTER = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)

ENTRY = """\
  - id: {id}
    rule: "{rule}"
{resource}    justification: Legacy bucket being migrated in Q3
    owner: alice@acme.com
    approved_by: ciso@acme.com
    expires: {expires}
"""


def doc(*entries: str) -> str:
    return "exceptions:\n" + "".join(entries)


def entry(rule: str = "aws.s3.*", resource: str | None = None, id: str = "EX-001",
          expires: str = "2026-12-31") -> str:
    res = f'    resource: "{resource}"\n' if resource is not None else ""
    return ENTRY.format(id=id, rule=rule, resource=res, expires=expires)


def one(text: str) -> RiskException:
    [ex] = parse_exceptions_text(text, "exceptions.yaml", RULES)
    return ex


def finding(rule: str = "aws.s3.bucket_encrypted", resource: str = "arn:aws:s3:::legacy-logs",
            status: Status = Status.FAIL) -> Finding:
    return Finding(rule=rule, status=status, source="aws-main", severity="high", controls=("A.8.24",),
                   resource={"id": resource, "type": "aws.s3.bucket", "name": resource.rsplit(":", 1)[-1]},
                   message="Bucket is not encrypted")


@pytest.mark.parametrize(("pattern", "matching", "other"), [
    ("arn:aws:s3:::legacy-logs", "arn:aws:s3:::legacy-logs", "arn:aws:s3:::legacy-logs-2"),
    ("arn:aws:s3:::legacy-*", "arn:aws:s3:::legacy-archive", "arn:aws:s3:::prod-legacy-archive"),
    ("arn:aws:s3:::legacy-?", "arn:aws:s3:::legacy-a", "arn:aws:s3:::legacy-ab"),
    ("/arn:aws:s3:::legacy-[0-9]+/", "arn:aws:s3:::legacy-2019", "arn:aws:s3:::legacy-2019-copy"),
    ("/.*-(tmp|scratch)/", "arn:aws:s3:::build-tmp", "arn:aws:s3:::tmp-build"),
])
def test_resource_patterns_match_the_whole_id(pattern: str, matching: str, other: str) -> None:
    ex = one(doc(entry(resource=pattern)))
    assert ex.matches_resource(matching)
    assert not ex.matches_resource(other)


def test_rule_globs_and_missing_resource_cover_all_resources() -> None:
    ex = one(doc(entry(rule="aws.s3.*")))
    assert ex.resource is None
    assert ex.covers(finding(resource="arn:aws:s3:::anything"))
    assert ex.covers(finding(rule="aws.s3.bucket_public_access_blocked"))
    assert not ex.covers(finding(rule="aws.iam.root_mfa"))
    exact = one(doc(entry(rule="aws.s3.bucket_encrypted")))
    assert not exact.covers(finding(rule="aws.s3.bucket_public_access_blocked"))


def test_fail_becomes_excepted_with_id_and_message() -> None:
    ex = one(doc(entry(resource="arn:aws:s3:::legacy-*")))
    f = apply_exceptions(finding(), [ex], BEFORE)
    assert f.status == Status.EXCEPTED and f.exception == "EX-001"
    assert f.message == ("Bucket is not encrypted (excepted: EX-001 until 2026-12-31, "
                         "approved by ciso@acme.com)")
    untouched = apply_exceptions(finding(resource="arn:aws:s3:::prod"), [ex], BEFORE)
    assert untouched.status == Status.FAIL and untouched.exception is None


@pytest.mark.parametrize("status", [Status.PASS, Status.ERROR])
def test_pass_and_error_findings_are_never_excepted(status: Status) -> None:
    ex = one(doc(entry()))
    f = apply_exceptions(finding(status=status), [ex], BEFORE)
    assert f.status == status and f.exception is None and "excepted" not in f.message


def test_a_date_expiry_lasts_through_that_day_utc() -> None:
    ex = one(doc(entry(expires="2026-12-31")))
    assert ex.expires == AFTER
    assert apply_exceptions(finding(), [ex], BEFORE).status == Status.EXCEPTED
    assert apply_exceptions(finding(), [ex], AFTER).status == Status.FAIL
    assert finding_hook([ex], now=AFTER) is None
    hook = finding_hook([ex], now=BEFORE)
    assert hook is not None and hook(finding()).status == Status.EXCEPTED


def test_a_timestamp_expiry_is_exact() -> None:
    ex = one(doc(entry(expires="2026-06-30T12:00:00Z")))
    assert ex.active(datetime(2026, 6, 30, 11, 59, 59, tzinfo=UTC))
    assert not ex.active(datetime(2026, 6, 30, 12, 0, tzinfo=UTC))
    assert ex.as_dict(datetime(2026, 6, 30, 12, 0, tzinfo=UTC))["state"] == "expired"


def test_first_active_acceptance_in_file_order_wins() -> None:
    items = parse_exceptions_text(doc(entry(id="EX-OLD", expires="2020-01-01"), entry(id="EX-A"),
                                      entry(id="EX-B")), "exceptions.yaml", RULES)
    assert apply_exceptions(finding(), items, BEFORE).exception == "EX-A"


def test_default_id_is_stable() -> None:
    text = doc(entry(id="", resource="arn:aws:s3:::legacy-*").replace("  - id: \n", "  -\n"))
    first, second = one(text), one(text.replace("Q3", "Q4"))
    assert first.id.startswith("EX-") and len(first.id) == 11
    assert first.id == second.id
    assert one(doc(entry(id="", resource="x").replace("  - id: \n", "  -\n"))).id != first.id


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (doc(entry().replace("    owner: alice@acme.com\n", "")), 2, "exceptions[0].owner", "required"),
    (doc(entry().replace("    approved_by: ciso@acme.com\n", "")), 2, "exceptions[0].approved_by", "required"),
    (doc(entry().replace("    expires: 2026-12-31\n", "")), 2, "exceptions[0].expires", "required"),
    (doc(entry(), entry(id="EX-2").replace("    justification: Legacy bucket being migrated in Q3\n", "")),
     8, "exceptions[1].justification", "required"),
    (doc(entry(rule="aws.s4.*")), 3, "exceptions[0].rule", "matches no known rule"),
    (doc(entry(resource="/legacy-(/")), 4, "exceptions[0].resource", "invalid regular expression"),
    (doc(entry(expires="next year")), 7, "exceptions[0].expires", "must be a date"),
    (doc(entry().replace("    owner:", "    approver: x\n    owner:")), 5, "exceptions[0].approver", "unknown key"),
    (doc(entry(), entry()), 8, "exceptions[1].id", "duplicate id"),
    ("exceptions:\n  - just a string\n", 2, "exceptions[0]", "must be a mapping"),
    ("exceptions: {rule: x}\n", 1, "exceptions", "must be a list"),
    ("acceptances: []\n", 1, "acceptances", "unknown key"),
])
def test_mistakes_name_file_line_and_field(text: str, line: int, field: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse_exceptions_text(text, "exceptions.yaml", RULES)
    err = info.value
    assert (err.file, err.line, err.field) == ("exceptions.yaml", line, field), str(err)
    assert words in err.detail
    assert str(err).startswith(f"exceptions.yaml:{line}: {field}: ")


def test_without_known_rules_any_rule_pattern_is_accepted() -> None:
    [ex] = parse_exceptions_text(doc(entry(rule="custom.*")), "exceptions.yaml", None)
    assert ex.rule == "custom.*"


def test_empty_files_hold_no_acceptances(tmp_path: Path) -> None:
    path = tmp_path / "exceptions.yaml"
    path.write_text("# none yet\n")
    assert load_exceptions(path, RULES) == []
    path.write_text("exceptions: []\n")
    assert load_exceptions(path, RULES) == []


# -- end to end through the runner, on SQLite and PostgreSQL --------------------------------------------

def _run(cfg: Path, monkeypatch: pytest.MonkeyPatch, now: str) -> list[dict]:
    from agent.cli.app import App
    from agent.cli.cmd_findings import finding_document
    from agent.cli.cmd_run import execute_run

    monkeypatch.setenv("ANNEXA_NOW", now)
    app = App(str(cfg))
    store = app.store()
    try:
        execute_run(app, quiet=True, store=store)
        return [finding_document(r) for r in store.current_findings()]
    finally:
        store.close()


def test_runs_apply_acceptances_until_they_expire(tmp_path: Path, world: World, store_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    world.add("testkit.widget", "w-legacy-1", {"encryption": {"enabled": False}})
    world.add("testkit.widget", "w-new", {"encryption": {"enabled": False}})
    world.add("testkit.widget", "w-ok", {"encryption": {"enabled": True}})
    world.fail.append({"type": "testkit.widget", "message": "AccessDenied", "region": "r9"})
    world.save()
    (tmp_path / "exceptions.yaml").write_text(doc(
        entry(id="EX-LEGACY", rule="testkit.widget.*", resource="w-legacy-*"),
        entry(id="EX-SCOPE", rule="testkit.widget.encrypted", resource="/annexa:collection/.*/"),
        entry(id="EX-OK", rule="testkit.widget.encrypted", resource="w-ok")))
    cfg = write_config(tmp_path, world, store_url, extra="exceptions: exceptions.yaml\n")
    assert finding_hook_from_config(load_config(cfg), rules=RULES, now=BEFORE) is not None

    docs = {(d["rule"], d["resource"]["id"]): d for d in _run(cfg, monkeypatch, "2026-12-31T10:00:00Z")}
    legacy = docs[("testkit.widget.encrypted", "w-legacy-1")]
    assert legacy["status"] == "excepted" and legacy["exception"] == "EX-LEGACY"
    assert "(excepted: EX-LEGACY until 2026-12-31, approved by ciso@acme.com)" in legacy["message"]
    assert docs[("testkit.widget.encrypted", "w-new")]["status"] == "fail"
    assert docs[("testkit.widget.encrypted", "w-ok")]["status"] == "pass"
    errors = [d for d in docs.values() if d["status"] == "error"]
    assert errors and all(d["exception"] is None for d in errors)

    docs = {(d["rule"], d["resource"]["id"]): d for d in _run(cfg, monkeypatch, "2027-01-01T00:00:00Z")}
    legacy = docs[("testkit.widget.encrypted", "w-legacy-1")]
    assert legacy["status"] == "fail" and legacy["exception"] is None and "excepted" not in legacy["message"]


# --- issue 9, point 6: dates out of range were exit 70 ----------------------------------------------

@pytest.mark.parametrize(("expires", "words"), [
    ("9999-12-31", "9999-12-31 is out of range"),
    ("'9999-12-31'", "9999-12-31 is out of range"),
    ("'9999-12-31T23:59:59-05:00'", "is out of range"),
    ("'0001-01-01T00:00:00+05:00'", "is out of range"),
    ("2026-02-30", "invalid date '2026-02-30'"),
    ("'2026-02-30'", "must be a date"),
    ("99999999999999999999999", "out of range"),
    ("5.10", "must be a date"),
])
def test_expiry_out_of_range_is_an_input_error(expires: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        one(doc(entry(expires=expires)))
    assert words in info.value.detail and info.value.line is not None


def test_the_last_representable_day_before_9999_12_31_is_fine() -> None:
    assert one(doc(entry(expires="9999-12-30"))).expires == datetime(9999, 12, 31, tzinfo=UTC)


def test_text_fields_keep_numbers_as_written() -> None:
    text = doc(entry()).replace("owner: alice@acme.com", "owner: 5.10")
    assert one(text).owner == "5.10"
