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
