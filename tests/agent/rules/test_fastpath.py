"""The compiled fast path gives exactly the jmespath interpreter's result for every shipped rule.

Resources are generated from each rule's own expressions: every field name the rule reads, at any
depth, with values of every JSON type plus the literals the rule compares against (so comparisons
go both ways), ISO times for the date functions, lists of objects for projections and filters.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jmespath
import pytest

from agent.rules.fastpath import compile_search, is_fast
from agent.rules.functions import options, rule_params
from agent.rules.loader import load_rules
from agent.rules.spec import Rule
from agent.rules.template import MessageTemplate

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 5, tzinfo=UTC)
OPTIONS = options(NOW)
SAMPLES = 120


def shipped_rules() -> list[Rule]:
    rules = load_rules([ROOT / "rules", ROOT / "tests" / "support" / "rules"])
    return [r for r in rules if r.kind != "python"]


RULES = shipped_rules()


def expressions(rule: Rule) -> list[Any]:
    out = [jmespath.compile(e) for e in (rule.where, rule.assert_, rule.unknown_if) if e]
    for text in (rule.message, rule.pass_message, rule.unknown_message):
        if text:
            out.extend(MessageTemplate(text).expressions())
    return out


def walk(node: Any, fields: set[str], literals: list[Any]) -> None:
    if not isinstance(node, dict):
        return
    if node.get("type") == "field":
        fields.add(node["value"])
    if node.get("type") == "literal":
        literals.append(node["value"])
    for child in node.get("children") or []:
        walk(child, fields, literals)


def scalar(rng: random.Random, literals: list[Any]) -> Any:
    choices: list[Any] = [None, True, False, 0, 1, -3, 2.5, 90, 400, "", "x", "true", "Enabled", [], {},
                          (NOW - timedelta(days=rng.randint(0, 500))).isoformat(),
                          (NOW + timedelta(days=rng.randint(0, 90))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          int((NOW - timedelta(days=rng.randint(0, 200))).timestamp() * 1000), "N/A",
                          "10.0.0.0/8", "0.0.0.0/0", "*", "22", "1000-2000", 22, 3389]
    if literals and rng.random() < 0.5:
        value = rng.choice(literals)
        if isinstance(value, list) and value and rng.random() < 0.5:
            return rng.choice(value)
        return value
    return rng.choice(choices)


def document(rng: random.Random, fields: list[str], literals: list[Any], depth: int = 0) -> Any:
    roll = rng.random()
    if depth >= 4 or roll < 0.3:
        return scalar(rng, literals)
    if roll < 0.45:
        return [document(rng, fields, literals, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = rng.sample(fields, k=min(len(fields), rng.randint(1, 6))) if fields else []
    return {k: document(rng, fields, literals, depth + 1) for k in keys}


def outcome(search: Any, data: Any) -> tuple[str, Any]:
    try:
        return "value", search(data)
    except Exception as exc:  # the same error, raised the same way
        return "error", (type(exc).__name__, str(exc))


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_fast_path_equals_interpreter(rule: Rule) -> None:
    rng = random.Random(rule.id)
    exprs = expressions(rule)
    fields: set[str] = set()
    literals: list[Any] = []
    for e in exprs:
        walk(e.parsed, fields, literals)
    names = sorted(fields)
    resources = [document(rng, names, literals) for _ in range(SAMPLES)]
    resources += [{n: document(rng, names, literals, 1) for n in names} for _ in range(SAMPLES)]
    with rule_params(rule.params):
        for parsed in exprs:
            fast = compile_search(parsed, OPTIONS)
            for data in resources:
                expected = outcome(lambda d, p=parsed: p.search(d, options=OPTIONS), data)
                got = outcome(fast, data)
                assert got == expected, f"{rule.id}: {parsed.expression!r} on {data!r}"
                if expected[0] == "value":
                    assert type(got[1]) is type(expected[1])


def test_nearly_every_shipped_expression_takes_the_fast_path() -> None:
    exprs = [e for r in RULES for e in expressions(r)]
    fast = [e for e in exprs if is_fast(compile_search(e, OPTIONS))]
    assert len(exprs) > 300
    assert len(fast) / len(exprs) > 0.95, [e.expression for e in exprs if e not in fast]


def test_unsupported_nodes_fall_back_to_the_interpreter() -> None:
    parsed = jmespath.compile("sort_by(items, &age)[0].name")
    search = compile_search(parsed, OPTIONS)
    assert not is_fast(search)
    data = {"items": [{"age": 3, "name": "c"}, {"age": 1, "name": "a"}]}
    assert search(data) == "a"


@pytest.mark.parametrize("expression, data, expected", [
    ("!a", {"a": 0}, False),  # 0 is true in JMESPath
    ("a == `1`", {"a": True}, False),  # booleans are not numbers
    ("a < b", {"a": "a", "b": "b"}, True),
    ("a < b", {"a": None, "b": 1}, None),
    ("a || b", {"a": [], "b": "x"}, "x"),
    ("a && b", {"a": {}, "b": "x"}, {}),
    ("a[?p == `22`].c", {"a": [{"p": 22, "c": 1}, {"p": 80, "c": 2}, "s"]}, [1]),
    ("a[*].b[]", {"a": [{"b": [1, 2]}, {"b": 3}, {}]}, [1, 2, 3]),
    ("a.*.b", {"a": {"x": {"b": 1}, "y": 2}}, [1]),
    ("{x: a, y: b}", {"a": 1}, {"x": 1, "y": None}),
    ("[a, b][1]", {"a": 1, "b": 2}, 2),
    ("a[1:]", {"a": [1, 2, 3]}, [2, 3]),
    ("length(a) > `1` | @", {"a": "abc"}, True),
])
def test_semantics_edge_cases(expression: str, data: Any, expected: Any) -> None:
    parsed = jmespath.compile(expression)
    search = compile_search(parsed, OPTIONS)
    assert is_fast(search)
    assert search(data) == expected == parsed.search(data, options=OPTIONS)
