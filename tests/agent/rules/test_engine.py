"""The rule language: where/assert, nested lists, missing fields, functions, templates, Python rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.model import Resource, Status
from agent.rules.engine import RuleSet
from agent.rules.spec import Rule

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def rule(**kw: object) -> Rule:
    base = {"id": "t.r.x", "title": "Test rule", "resource": "testkit.widget", "severity": "high",
            "controls": ["A.8.24"], "assert": "enabled", "message": "{name} failed",
            "guidance": "Some guidance text.", "remediation": "Fix it."}
    base.update(kw)
    return Rule.model_validate(base)


def widget(data: dict, **kw: object) -> Resource:
    return Resource(type="testkit.widget", id=str(kw.get("id", "w1")), name=str(kw.get("name", "w1")), data=data,
                    region=kw.get("region", "eu-west-1"))  # type: ignore[arg-type]


def evaluate(r: Rule, res: Resource):  # type: ignore[no-untyped-def]
    results = RuleSet([r], now=NOW).evaluate(res)
    return results[0][1] if results else None


def test_assert_truthy_passes_and_falsy_fails() -> None:
    r = rule()
    assert evaluate(r, widget({"enabled": True})).status is Status.PASS
    failed = evaluate(r, widget({"enabled": False}))
    assert failed.status is Status.FAIL
    assert failed.message == "w1 failed"


@pytest.mark.parametrize("value,expected", [(0, Status.PASS), ("", Status.FAIL), ([], Status.FAIL),
                                            ({}, Status.FAIL), (None, Status.FAIL), ("x", Status.PASS)])
def test_jmespath_truthiness(value: object, expected: Status) -> None:
    assert evaluate(rule(), widget({"enabled": value})).status is expected


def test_missing_field_is_a_failed_assertion_not_a_crash() -> None:
    ev = evaluate(rule(**{"assert": "config.encryption.enabled == `true`"}), widget({}))
    assert ev.status is Status.FAIL


def test_type_error_at_runtime_is_error_not_crash() -> None:
    ev = evaluate(rule(**{"assert": "length(size) > `1`"}), widget({"size": 5}))
    assert ev.status is Status.ERROR
    assert "could not be evaluated" in ev.message


def test_where_selects_applicable_resources() -> None:
    r = rule(where="kind == 'server'")
    assert evaluate(r, widget({"kind": "db", "enabled": False})) is None
    assert evaluate(r, widget({"kind": "server", "enabled": False})).status is Status.FAIL


def test_nested_lists() -> None:
    r = rule(**{"assert": "length(groups[].rules[] | [?cidr == '0.0.0.0/0' && port == `22`]) == `0`",
                "message": "{name} open ports: {groups[].rules[] | [?cidr == '0.0.0.0/0'].port}"})
    ok = widget({"groups": [{"rules": [{"cidr": "10.0.0.0/8", "port": 22}]}, {"rules": []}]})
    bad = widget({"groups": [{"rules": [{"cidr": "10.0.0.0/8", "port": 22}]},
                             {"rules": [{"cidr": "0.0.0.0/0", "port": 22}, {"cidr": "0.0.0.0/0", "port": 443}]}]})
    assert evaluate(r, ok).status is Status.PASS
    failed = evaluate(r, bad)
    assert failed.status is Status.FAIL
    assert failed.message == "w1 open ports: [22,443]"


def test_days_since_and_until_use_the_injected_clock() -> None:
    r = rule(**{"assert": "days_since(created) <= `90`", "message": "{name} is {days_since(created)} days old"})
    fresh = (NOW - timedelta(days=10)).isoformat()
    stale = (NOW - timedelta(days=120)).isoformat().replace("+00:00", "Z")
    assert evaluate(r, widget({"created": fresh})).status is Status.PASS
    failed = evaluate(r, widget({"created": stale}))
    assert failed.status is Status.FAIL and failed.message == "w1 is 120 days old"
    expiry = rule(**{"assert": "days_until(not_after) > `30`"})
    assert evaluate(expiry, widget({"not_after": 1800000000})).status is Status.PASS  # epoch seconds, 2027
    assert evaluate(expiry, widget({"not_after": (NOW + timedelta(days=5)).isoformat()})).status is Status.FAIL


def test_not_a_time_is_null_so_comparison_fails_cleanly() -> None:
    r = rule(**{"assert": "days_since(created) <= `90`"})
    assert evaluate(r, widget({"created": "N/A"})).status in (Status.FAIL, Status.ERROR)


def test_regex_and_contains_any() -> None:
    r = rule(**{"assert": "regex_match(policy, '^TLS13') && !contains_any(protocols, ['TLSv1', 'SSLv3'])"})
    assert evaluate(r, widget({"policy": "TLS13-1-2", "protocols": ["TLSv1.2"]})).status is Status.PASS
    assert evaluate(r, widget({"policy": "TLS13-1-2", "protocols": ["TLSv1"]})).status is Status.FAIL


def test_overlaps_numbers_and_ranges() -> None:
    r = rule(**{"assert": "!overlaps(open, [`22`, `3389`, [`5432`, `5433`]])"})
    assert evaluate(r, widget({"open": [[80, 80], [443, 443]]})).status is Status.PASS
    assert evaluate(r, widget({"open": [[20, 30]]})).status is Status.FAIL
    assert evaluate(r, widget({"open": [[5433, 6000]]})).status is Status.FAIL
    assert evaluate(r, widget({"open": [[0, 65535]]})).status is Status.FAIL
    assert evaluate(r, widget({"open": None})).status is Status.PASS
    assert evaluate(r, widget({"open": ["22", [True, 40]]})).status is Status.PASS  # not numbers: ignored


def test_message_template_envelope_fields_and_escapes() -> None:
    r = rule(message="{{literal}} {name} ({id}) in {region}/{account}: {missing.field}")
    assert evaluate(r, widget({"enabled": False})).message == "{literal} w1 (w1) in eu-west-1/-: -"


def test_custom_pass_message() -> None:
    r = rule(pass_message="{name} is fine")
    assert evaluate(r, widget({"enabled": True})).message == "w1 is fine"


def test_rules_are_indexed_by_type() -> None:
    rs = RuleSet([rule(), rule(id="t.r.y", resource="testkit.person")], now=NOW)
    assert [c.id for c in rs.for_type("testkit.widget")] == ["t.r.x"]
    assert rs.evaluate(Resource("other.type", "o", "o", {})) == []


def test_python_cross_source_rule() -> None:
    r = Rule.model_validate({
        "id": "t.leaver", "title": "Leavers", "kind": "python",
        "function": "tests.support.cross_rules:leaver_has_no_account",
        "resources": ["testkit.person", "testkit.account"], "severity": "high", "controls": ["A.5.18"],
        "message": "m", "guidance": "Access ends with employment.", "remediation": "Disable."})
    rs = RuleSet([r], now=NOW)
    people = [Resource("testkit.person", "p1", "alice", {"email": "alice@acme.com", "status": "terminated"},
                       source="hr"),
              Resource("testkit.person", "p2", "bob", {"email": "bob@acme.com", "status": "active"}, source="hr")]
    accounts = [Resource("testkit.account", "a1", "alice", {"email": "ALICE@acme.com", "active": True}, source="idp"),
                Resource("testkit.account", "a2", "bob", {"email": "bob@acme.com", "active": True}, source="idp")]
    results = {e.resource.id: e for e in rs.evaluate_python(rs.python[0], {"testkit.person": people,
                                                                            "testkit.account": accounts})}
    assert results["a1"].status is Status.FAIL and "has left" in results["a1"].message
    assert results["a2"].status is Status.PASS


@pytest.mark.parametrize("bad,needle", [
    ({"resource": None}, "needs `resource`"),
    ({"assert": None}, "needs `assert`"),
    ({"id": "NoDots"}, "dotted lower-case id"),
    ({"severity": "urgent"}, "severity"),
    ({"controls": []}, "controls"),
    ({"kind": "python", "assert": None, "function": "nomodule"}, "function"),
])
def test_schema_errors(bad: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        rule(**bad)


def test_unknown_if_turns_an_unprovable_failure_into_error_but_keeps_a_proven_pass() -> None:
    r = rule(**{"assert": "own || account", "unknown_if": "account_error != null",
                "unknown_message": "{name}: account setting unreadable ({account_error})"})
    assert evaluate(r, widget({"own": True, "account_error": "AccessDenied"})).status is Status.PASS
    unknown = evaluate(r, widget({"own": False, "account_error": "AccessDenied"}))
    assert unknown.status is Status.ERROR and unknown.message == "w1: account setting unreadable (AccessDenied)"
    assert evaluate(r, widget({"own": False, "account": False})).status is Status.FAIL


# --- issue 9, point 3: a rule that raises gives `error` for that rule and resource only -----------------

def test_a_bad_pattern_from_the_data_is_an_error_for_that_resource_only() -> None:
    rs = RuleSet([rule(**{"assert": "regex_match(name, pattern)"}), rule(id="t.r.ok")], now=NOW)
    bad = rs.evaluate(widget({"name": "w1", "pattern": "(", "enabled": True}))
    good = rs.evaluate(widget({"name": "w1", "pattern": "^w", "enabled": True}, id="w2"))
    assert {c.id: e.status for c, e in bad} == {"t.r.x": Status.ERROR, "t.r.ok": Status.PASS}
    assert "`assert` could not be evaluated: error: missing ), unterminated subpattern" in dict(
        (c.id, e.message) for c, e in bad)["t.r.x"]
    assert {c.id: e.status for c, e in good} == {"t.r.x": Status.PASS, "t.r.ok": Status.PASS}


def test_a_bad_pattern_in_where_or_message_does_not_escape() -> None:
    r = rule(where="regex_match(name, pattern)", message="{regex_match(name, pattern)} failed",
             **{"assert": "enabled"})
    ev = evaluate(r, widget({"name": "w1", "pattern": "[", "enabled": False}))
    assert ev.status is Status.ERROR and "`where` could not be evaluated" in ev.message
    r = rule(message="{regex_match(name, pattern)} failed", **{"assert": "enabled"})
    ev = evaluate(r, widget({"name": "w1", "pattern": "[", "enabled": False}))
    assert ev.status is Status.FAIL and ev.message == "- failed"


def test_a_custom_function_raising_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import jmespath
    from jmespath import functions

    from agent.rules import engine
    from agent.rules.functions import AnnexaFunctions

    class Broken(AnnexaFunctions):
        @functions.signature({"types": ["string", "null"]})
        def _func_lower(self, value: str | None) -> str | None:
            raise TypeError("unsupported operand")

    monkeypatch.setattr(engine, "jmespath_options", lambda now: jmespath.Options(custom_functions=Broken(now)))
    for where in (None, "lower(name) == 'w1'"):
        r = rule(where=where, **{"assert": "lower(name) == 'w1'"})
        ev = evaluate(r, widget({"name": "W1"}))
        assert ev.status is Status.ERROR and "TypeError: unsupported operand" in ev.message


@pytest.mark.parametrize("value", [1e20, -1e20, 1e300])
def test_times_out_of_range_are_not_times(value: float) -> None:
    ev = evaluate(rule(where="days_since(created) > `1`", **{"assert": "enabled"}), widget({"created": value}))
    assert ev is None


@pytest.mark.parametrize(("function", "words"), [
    ("raises", "rule raised KeyError: 'email'"),
    ("exits", "rule raised SystemExit: 0"),
    ("returns_garbage", "rule returned a dict instead of an Evaluation"),
])
def test_a_python_rule_that_fails_raises_python_rule_failed(function: str, words: str) -> None:
    from agent.rules.engine import PythonRuleFailed

    r = Rule.model_validate({
        "id": "t.bad", "title": "Bad rule", "kind": "python", "function": f"tests.support.bad_rules:{function}",
        "resources": ["testkit.account"], "severity": "high", "controls": ["A.5.18"],
        "message": "m", "guidance": "Access ends with employment.", "remediation": "Disable."})
    rs = RuleSet([r], now=NOW)
    accounts = [Resource("testkit.account", "a1", "alice", {"email": "a@x"}, source="idp")]
    with pytest.raises(PythonRuleFailed, match=words):
        rs.evaluate_python(rs.python[0], {"testkit.account": accounts})


def test_ports_in_matches_numbers_ranges_and_wildcards() -> None:
    r = rule(**{"assert": "length(ports_in(specs, `[22, 3389, 5432]`)) == `0`",
                "message": "{name} exposes {ports_in(specs, `[22, 3389, 5432]`)}"})
    assert evaluate(r, widget({"specs": ["80", "443", "8000-8080"]})).status is Status.PASS
    assert evaluate(r, widget({"specs": ["3000-4000", 22]})).message == "w1 exposes [22,3389]"
    assert evaluate(r, widget({"specs": ["all"]})).message == "w1 exposes [22,3389,5432]"
    assert evaluate(r, widget({"specs": ["*", True, "x-y", None]})).status is Status.FAIL
    assert evaluate(r, widget({"specs": [True, "x-y", "5-"]})).status is Status.PASS
    assert evaluate(r, widget({})).status is Status.PASS  # no specs open nothing


def test_list_parameters_from_yaml_are_plain_lists_for_functions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agent.rules.loader import load_rules

    pack = tmp_path / "t.yaml"
    pack.write_text("provider: t\nrules:\n  - id: t.r.ports\n    title: Ports\n    resource: testkit.widget\n"
                    "    severity: low\n    controls: [A.8.20]\n    params: {ports: [22, 3389]}\n"
                    "    assert: \"length(ports_in(specs, param('ports'))) == `0`"
                    " && !contains(param('ports'), `80`)\"\n"
                    "    message: m\n    guidance: Some guidance text.\n    remediation: Fix it.\n")
    (loaded,) = load_rules([pack], known_types={"testkit.widget"}, builtin=False)
    assert evaluate(loaded, widget({"specs": ["20-30"]})).status is Status.FAIL
    assert evaluate(loaded, widget({"specs": ["80"]})).status is Status.PASS


def test_a_python_rule_whose_module_cannot_be_imported_fails_only_when_it_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiling the rule set never raises for it (the other rules still run); running it is an error."""
    from agent.rules.engine import PythonRuleFailed

    (tmp_path / "exits_at_import.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    r = Rule.model_validate({
        "id": "t.unloadable", "title": "Unloadable rule", "kind": "python", "function": "exits_at_import:check",
        "resources": ["testkit.account"], "severity": "high", "controls": ["A.5.18"],
        "message": "m", "guidance": "Access ends with employment.", "remediation": "Disable."})
    rs = RuleSet([r], now=NOW)
    assert rs.python[0].load_error is not None
    with pytest.raises(PythonRuleFailed, match=r"t.unloadable: cannot load function .*called sys.exit\(3\)"):
        rs.evaluate_python(rs.python[0], {"testkit.account": []})
