"""Rule packs: loading and checking. Every problem names the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import InputError, RuleError
from agent.rules.loader import builtin_rule_root, load_rules
from collectors.registry import known_resource_types

GOOD = """\
provider: testkit
rules:
  - id: testkit.widget.encrypted_x
    title: Widgets are encrypted
    resource: testkit.widget
    severity: high
    controls: [A.8.24, "5.15"]
    assert: "encryption.enabled"
    message: "Widget {name} is not encrypted"
    guidance: Encryption at rest protects stored data.
    remediation: Turn on encryption.
"""


def write(tmp_path: Path, text: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(path: Path) -> list:
    return load_rules([path], builtin=False, known_types=set(known_resource_types()))


def test_good_pack_loads_and_normalises_control_ids(tmp_path: Path) -> None:
    rules = load(write(tmp_path, GOOD))
    assert [r.id for r in rules] == ["testkit.widget.encrypted_x"]
    assert rules[0].controls == ("A.8.24", "A.5.15")
    assert rules[0].provider == "testkit"


def test_2013_control_id_maps_to_2022(tmp_path: Path) -> None:
    rules = load(write(tmp_path, GOOD.replace('[A.8.24, "5.15"]', "[A.9.4.2]")))
    assert rules[0].controls == ("A.8.5",)


@pytest.mark.parametrize("old,new,line,needle", [
    ('assert: "encryption.enabled"', 'assert: "encryption.[enabled"', 8, "invalid JMESPath in `assert`"),
    ("controls: [A.8.24, \"5.15\"]", "controls: [A.8.99]", 7, "A.8.99"),
    ("resource: testkit.widget", "resource: testkit.gadget", 5, "unknown resource type 'testkit.gadget'"),
    ("severity: high", "severity: urgent", 6, "severity"),
    ("    title: Widgets are encrypted\n", "    title: Widgets are encrypted\n    colour: red\n", 5, "unknown key"),
    ("    message: \"Widget {name} is not encrypted\"", "    message: \"Widget {name is not\"", 9, "unclosed"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str, line: int, needle: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(RuleError) as info:
        load(path)
    err = info.value
    assert err.file == str(path)
    assert needle in str(err)
    assert err.line == line, str(err)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "  - id: [unclosed\n")
    with pytest.raises(InputError) as info:
        load(path)
    assert str(path) in str(info.value) and ":13" in str(info.value)


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(RuleError, match=r"duplicate rule id testkit\.widget\.encrypted_x"):
        load(tmp_path)


def test_python_rule_function_must_import(tmp_path: Path) -> None:
    text = GOOD.replace("    resource: testkit.widget\n", "    kind: python\n    function: tests.support.nope:fn\n"
                        "    resources: [testkit.widget]\n").replace('    assert: "encryption.enabled"\n', "")
    with pytest.raises(RuleError, match="cannot load function"):
        load(write(tmp_path, text))


def test_every_builtin_rule_pack_is_valid() -> None:
    """Meta-test: every shipped rule loads against the installed collectors and the catalogue."""
    rules = load_rules([builtin_rule_root()], builtin=False, known_types=set(known_resource_types()))
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for r in rules:
        assert r.id.startswith(r.provider + "."), f"{r.id} should start with its provider {r.provider}"


# --- issue 9, point 3: regexes and Python rule modules are checked when rules load ---------------------

@pytest.mark.parametrize(("old", "new", "field"), [
    ('assert: "encryption.enabled"', "assert: \"regex_match(name, '(')\"", "assert"),
    ('assert: "encryption.enabled"', "assert: \"length(tags[?regex_match(@, '[a-')]) == `0`\"", "assert"),
    ('assert: "encryption.enabled"', 'assert: "regex_match(name, `\\"*x\\"`)"', "assert"),
    ('    assert: "encryption.enabled"\n', "    where: \"regex_match(kind, '(?P<x')\"\n    assert: \"a\"\n", "where"),
    ('message: "Widget {name} is not encrypted"', "message: \"Widget {regex_match(name, '+')} bad\"", "message"),
])
def test_an_invalid_regex_literal_is_a_rule_error_with_line_and_field(tmp_path: Path, old: str, new: str,
                                                                     field: str) -> None:
    text = GOOD.replace(old, new)
    assert text != GOOD
    with pytest.raises(RuleError) as info:
        load(write(tmp_path, text))
    err = info.value
    assert err.field == field and "invalid regular expression" in err.detail
    assert err.line == next(i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith(f"{field}:"))


def test_valid_regex_literals_and_data_patterns_load(tmp_path: Path) -> None:
    text = GOOD.replace('assert: "encryption.enabled"', "assert: \"regex_match(name, '^w[0-9]+$') || "
                                                       "regex_match(name, pattern)\"")
    assert load(write(tmp_path, text))[0].assert_.startswith("regex_match")


def test_a_deeply_nested_expression_is_a_rule_error(tmp_path: Path) -> None:
    deep = "(" * 3000 + "a" + ")" * 3000
    with pytest.raises(RuleError, match="nested too deeply") as info:
        load(write(tmp_path, GOOD.replace('assert: "encryption.enabled"', f'assert: "{deep}"')))
    assert info.value.line == 8
    deep = "!" * 150 + "a"
    with pytest.raises(RuleError, match="nested more than"):
        load(write(tmp_path, GOOD.replace('assert: "encryption.enabled"', f'assert: "{deep}"')))


def test_unquoted_control_ids_in_rules_mean_the_control_written(tmp_path: Path) -> None:
    rules = load(write(tmp_path, GOOD.replace('[A.8.24, "5.15"]', "[5.10, 8.30]")))
    assert rules[0].controls == ("A.5.10", "A.8.30")


PYTHON_RULE = """\
provider: testkit
rules:
  - id: testkit.account.module_{name}
    title: A Python rule
    kind: python
    function: {module}:check
    resources: [testkit.person, testkit.account]
    severity: high
    controls: [A.5.18]
    message: "m"
    guidance: Access ends with employment.
    remediation: Disable the account.
"""


@pytest.mark.parametrize(("body", "words"), [
    ("import sys\nsys.exit(0)\n", "called sys.exit(0)"),
    ("raise SystemExit('bye')\n", "called sys.exit('bye')"),
    ("x = 1\nraise RuntimeError('no database')\n", "raised RuntimeError: no database"),
    ("import no_such_package_here\n", "no module named 'no_such_package_here'"),
    ("def check(): pass\nraise KeyboardInterrupt if False else GeneratorExit()\n", "raised GeneratorExit"),
    ("def chek(resources, ctx): return []\n", "has no attribute 'check'"),
    ("check = 5\n", "is not callable"),
    ("def check(:\n", "raised SyntaxError"),
])
def test_a_python_rule_module_that_fails_to_import_is_a_rule_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   body: str, words: str) -> None:
    name = f"rulemod_{abs(hash(body)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    pack = write(tmp_path, PYTHON_RULE.format(name=name, module=name))
    with pytest.raises(RuleError) as info:
        load(pack)
    err = info.value
    assert err.file == str(pack) and err.line == 6 and err.field == "function"
    assert f"cannot load function '{name}:check'" in err.detail and words in err.detail
    if "raised RuntimeError" in words:
        assert f"(at {tmp_path / name}.py:2)" in err.detail
