"""Rule parameters: declared defaults, `rules.params` and per-source overrides, checked against the rules."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError
from agent.model import Resource, Status
from agent.rules.engine import Evaluation, PythonRuleContext, RuleSet
from agent.rules.params import ParamResolver, check_configured_params
from agent.rules.spec import Rule

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def rule(**kw: object) -> Rule:
    base = {"id": "t.r.reviews", "title": "Enough reviews", "resource": "testkit.widget", "severity": "high",
            "controls": ["A.8.32"], "assert": "reviews >= param('min_reviews')",
            "message": "{name} has {reviews} reviews, fewer than {param('min_reviews')}",
            "guidance": "Some guidance text.", "remediation": "Fix it.", "params": {"min_reviews": 1}}
    base.update(kw)
    return Rule.model_validate(base)


def widget(reviews: int, source: str = "src-a") -> Resource:
    return Resource(type="testkit.widget", id="w1", name="w1", data={"reviews": reviews}, source=source)


def verdict(r: Rule, res: Resource, resolver: ParamResolver | None = None) -> Evaluation:
    return RuleSet([r], now=NOW, params=resolver).evaluate(res)[0][1]


def test_default_value_is_used_and_rendered() -> None:
    assert verdict(rule(), widget(1)).status is Status.PASS
    failed = verdict(rule(), widget(0))
    assert failed.status is Status.FAIL
    assert failed.message == "w1 has 0 reviews, fewer than 1"


def test_global_then_source_override() -> None:
    resolver = ParamResolver({"min_reviews": 2}, {"src-b": {"min_reviews": 3}})
    assert verdict(rule(), widget(2, "src-a"), resolver).status is Status.PASS
    assert verdict(rule(), widget(1, "src-a"), resolver).status is Status.FAIL
    b = verdict(rule(), widget(2, "src-b"), resolver)
    assert b.status is Status.FAIL and "fewer than 3" in b.message


def test_map_parameters_merge_key_by_key() -> None:
    r = rule(params={"sla_days": {"critical": 7, "high": 30}},
             **{"assert": "age <= param('sla_days').critical && high_age <= param('sla_days').high"},
             message="late")
    resolver = ParamResolver(source_params={"src-a": {"sla_days": {"critical": 3}}})
    assert resolver.for_rule(r, "src-a")["sla_days"] == {"critical": 3, "high": 30}
    res = Resource(type="testkit.widget", id="w", name="w", data={"age": 5, "high_age": 20}, source="src-a")
    assert verdict(r, res, resolver).status is Status.FAIL
    res.source = "src-b"
    assert verdict(r, res, resolver).status is Status.PASS


def test_list_parameters_from_a_rule_file_reach_jmespath_functions(tmp_path: Path) -> None:
    """Lists read from YAML (line-tracking list subclasses) work in contains(), as plain lists do."""
    from agent.rules.loader import load_rules

    (tmp_path / "p.yaml").write_text(
        "provider: t\nrules:\n  - id: t.r.kinds\n    title: Allowed kinds\n    resource: testkit.widget\n"
        "    severity: low\n    controls: [A.8.9]\n    params: {kinds: [db, cache]}\n"
        "    assert: \"contains(param('kinds'), kind)\"\n    message: not allowed\n    guidance: Some guidance.\n"
        "    remediation: Fix it.\n")
    loaded = next(r for r in load_rules([tmp_path], builtin=False) if r.id == "t.r.kinds")
    ok = Resource(type="testkit.widget", id="w", name="w", data={"kind": "db"}, source="s")
    bad = Resource(type="testkit.widget", id="w", name="w", data={"kind": "web"}, source="s")
    assert verdict(loaded, ok).status is Status.PASS
    assert verdict(loaded, bad).status is Status.FAIL


def test_undeclared_parameter_is_an_error_finding_not_a_pass() -> None:
    r = rule(params={}, **{"assert": "reviews >= param('min_reviews') || `true`"})
    ev = verdict(r, widget(5))
    assert ev.status is Status.ERROR
    assert "min_reviews" in ev.message


def test_overrides_apply_only_to_rules_declaring_the_parameter() -> None:
    other = rule(id="t.r.other", params={"max_age": 90}, **{"assert": "`true`"})
    resolver = ParamResolver({"min_reviews": 5})
    assert resolver.for_rule(other, "x") == {"max_age": 90}


def test_python_rules_receive_params() -> None:
    seen: dict[str, object] = {}

    def fn(resources: Mapping[str, Sequence[Resource]], ctx: PythonRuleContext) -> Iterator[Evaluation]:
        seen.update(ctx.params)
        return iter(())

    r = Rule.model_validate({"id": "t.r.py", "title": "Python rule", "kind": "python",
                             "function": "tests.agent.rules.test_params:_noop", "resources": ["testkit.widget"],
                             "severity": "low", "controls": ["A.5.18"], "message": "m",
                             "guidance": "Some guidance text.", "remediation": "Fix it.",
                             "params": {"grace_days": 0}})
    rs = RuleSet([r], now=NOW, params=ParamResolver({"grace_days": 7}))
    rs.python[0].function = fn
    rs.evaluate_python(rs.python[0], {})
    assert seen == {"grace_days": 7}


def _noop(resources: object, ctx: object) -> Iterator[Evaluation]:
    return iter(())


@pytest.mark.parametrize("value", [[1], "bad-name!"])
def test_bad_declarations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError):
        rule(params={"x": {"nested": {"too": "deep"}}} if value == [1] else {value: 1})


def test_configured_parameters_are_checked_against_the_rules() -> None:
    rules = [rule()]
    check_configured_params("annexa.yaml", [("rules.params", {"min_reviews": 2})], rules)
    with pytest.raises(ConfigError, match="no rule declares the parameter 'min_reveiws'"):
        check_configured_params("annexa.yaml", [("rules.params", {"min_reveiws": 2})], rules)
    with pytest.raises(ConfigError, match="expects a number") as err:
        check_configured_params("annexa.yaml", [("sources[0].params", {"min_reviews": "two"})], rules)
    assert err.value.field == "sources[0].params.min_reviews"


def test_config_file_carries_parameters(tmp_path: Path) -> None:
    cfg = tmp_path / "annexa.yaml"
    cfg.write_text("rules:\n  params: {min_reviews: 2}\nsources:\n  - name: w\n    type: testkit\n"
                   "    world: w.json\n    params: {min_reviews: 4}\n", encoding="utf-8")
    config = load_config(cfg)
    assert config.param_resolver().for_rule(rule(), "w") == {"min_reviews": 4}
    assert config.configured_params() == [("rules.params", {"min_reviews": 2}),
                                          ("sources[0].params", {"min_reviews": 4})]


def test_rule_files_naming_an_undeclared_parameter_are_refused(tmp_path: Path) -> None:
    from agent.errors import RuleError
    from agent.rules.loader import load_rules

    pack = tmp_path / "p.yaml"
    pack.write_text("""rules:
  - id: t.r.reviews
    title: Enough reviews
    resource: testkit.widget
    severity: low
    controls: [A.8.32]
    params: {min_reviews: 1}
    assert: "reviews >= param('min_reveiws')"
    message: "{name} lacks reviews"
    guidance: Some guidance text.
    remediation: Fix it.
""", encoding="utf-8")
    with pytest.raises(RuleError, match="min_reveiws") as err:
        load_rules([pack], builtin=False)
    assert err.value.line == 8
