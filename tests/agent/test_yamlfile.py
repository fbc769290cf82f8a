"""The bounded YAML loader every input file goes through: limits, typed keys, clear errors."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from agent.errors import InputError
from agent.yamlfile import load_yaml_file, load_yaml_text, read_input_file
from agent.yamlsafe import MAX_ALIAS_NODES, MAX_DEPTH, TextFloat, scalar_text
from tests.support.hostile import ALIAS_BOMB


def error_of(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_yaml_text(text, "in.yaml")
    assert "\n" not in str(info.value)
    return info.value


def test_alias_bomb_fails_fast_in_little_memory() -> None:
    assert len(ALIAS_BOMB) < 500
    tracemalloc.start()
    started = time.perf_counter()
    try:
        err = error_of(ALIAS_BOMB)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "alias" in err.detail and err.line is not None and err.line <= 9
    assert elapsed < 0.5, elapsed
    assert peak < 5 * 1024 * 1024, peak
    assert len(str(err)) < 200


def test_aliases_within_the_budget_still_work() -> None:
    doc = load_yaml_text("base: &b {region: eu-west-1, tags: [a, b]}\none: *b\ntwo: {<<: *b, region: us-east-1}\n",
                         "in.yaml")
    assert doc["one"] == {"region": "eu-west-1", "tags": ["a", "b"]}
    assert doc["two"] == {"region": "us-east-1", "tags": ["a", "b"]}


def test_alias_expansion_is_counted_per_node() -> None:
    wide = "a: &a [" + ", ".join(["x"] * 999) + "]\n"  # 1,000 nodes per alias
    uses = MAX_ALIAS_NODES // 1000
    ok = wide + "b: [" + ", ".join(["*a"] * (uses - 1)) + "]\n"
    assert len(load_yaml_text(ok, "in.yaml")["b"]) == uses - 1
    assert "alias" in error_of(wide + "b: [" + ", ".join(["*a"] * (uses + 1)) + "]\n").detail


@pytest.mark.parametrize("text", [
    "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "a: " + "{x: " * 5000 + "1" + "}" * 5000 + "\n",
    "".join("  " * i + f"k{i}:\n" for i in range(500)) + "  " * 500 + "v\n",
    "".join("  " * i + "-\n" for i in range(500)),
], ids=["flow-lists", "flow-maps", "block-maps", "block-lists"])
def test_deep_nesting_is_an_input_error_not_a_recursion_error(text: str) -> None:
    err = error_of(text)
    assert f"deeper than {MAX_DEPTH}" in err.detail


def test_nesting_through_aliases_counts_the_expanded_depth() -> None:
    half = MAX_DEPTH // 2 + 2
    text = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
    assert "deeper than" in error_of(text).detail


def test_nesting_up_to_the_limit_is_accepted() -> None:
    depth = MAX_DEPTH - 1
    doc = load_yaml_text("a: " + "[" * depth + "1" + "]" * depth + "\n", "in.yaml")
    doc = doc["a"]
    for _ in range(depth):
        doc = doc[0]
    assert doc == 1
    assert "deeper than" in error_of("a: " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n").detail


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "? {a: 1}\n: 1\n", "{[a]: 1}\n", "x:\n  ? [1]\n  : 2\n"])
def test_complex_keys_are_refused(text: str) -> None:
    assert "key must be plain text" in error_of(text).detail


def test_keys_are_always_the_text_as_written() -> None:
    doc = load_yaml_text("5.10: a\n5.1: b\non: c\nyes: d\n1: e\n01: f\n~: g\nnull: h\n2026-01-01: i\n"
                         "'q': j\n1e3: k\n", "in.yaml")
    assert list(doc) == ["5.10", "5.1", "on", "yes", "1", "01", "~", "null", "2026-01-01", "q", "1e3"]
    assert all(type(k) is str for k in doc)


def test_a_quoted_and_unquoted_key_are_the_same_key() -> None:
    assert "duplicate key '5.10'" in error_of("5.10: a\n'5.10': b\n").detail


def test_floats_remember_their_text() -> None:
    doc = load_yaml_text("a: 5.10\nb: [8.30, 1.0]\nc: .inf\n", "in.yaml")
    assert isinstance(doc["a"], TextFloat) and doc["a"] == 5.1 and doc["a"].source_text == "5.10"
    assert [scalar_text(v) for v in doc["b"]] == ["8.30", "1.0"]
    assert scalar_text(doc["c"]) == ".inf"
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(doc["a"])).source_text == "5.10"
    assert copy.deepcopy(doc)["a"].source_text == "5.10"


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "1" * 20, "1" * 20, "0x" + "f" * 30, "9223372036854775808",
                                    "1" + ":59" * 2000])
def test_huge_integers_are_refused_with_the_line(number: str) -> None:
    err = error_of(f"a: 1\nb: {number}\n")
    assert err.line == 2 and "out of range" in err.detail and "quote it" in err.detail


def test_integers_up_to_64_bits_are_kept() -> None:
    doc = load_yaml_text("a: 9223372036854775807\nb: -9223372036854775808\nc: '99999999999999999999'\n", "in.yaml")
    assert doc == {"a": 2**63 - 1, "b": -(2**63), "c": "99999999999999999999"}


@pytest.mark.parametrize("text,needle", [
    ("a: 2026-02-30\n", "invalid date"),
    ("a: 0000-01-01\n", "invalid date"),
    ("a: !!timestamp nonsense\n", "not a date"),
    ("a: !!int abc\n", "cannot read value"),
    ("a: !!float abc\n", "cannot read value"),
    ("a: !!bool maybe\n", "cannot read value"),
    ("a: !!map x\n", "expected a mapping"),
    ("a: !!seq x\n", "expected a list"),
    ("a: !!binary aGVsbG8=\n", "could not determine a constructor"),
    ("a: !!set {x}\n", "could not determine a constructor"),
    ("a: !!python/object:os.system x\n", "could not determine a constructor"),
    ("a: !custom x\n", "could not determine a constructor"),
    ("a: *nowhere\n", "undefined alias"),
    ("a: &x 1\nb: &x 2\n", "defined twice"),
    ("a: &a [*a]\n", "contains it"),
    ("a: &a {b: *a}\n", "contains it"),
    ("a: &a {<<: *a}\n", "contains it"),
    ("a: [1, 2\n", "invalid YAML"),
    ("a: \x01\n", "not allowed"),
    ("a: b\n---\nc: d\n", "invalid YAML"),
])
def test_malformed_values_are_input_errors_with_a_line(text: str, needle: str) -> None:
    err = error_of(text)
    assert needle in err.detail and err.line is not None


def test_timestamps_in_range_are_dates() -> None:
    doc = load_yaml_text("a: 2026-12-31\nb: 2026-12-31T18:00:00Z\n", "in.yaml")
    assert doc["a"] == dt.date(2026, 12, 31) and doc["b"].year == 2026


def test_device_fifo_and_directory_are_refused_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    done: list[str] = []

    def attempt() -> None:
        for target in ("/dev/zero", str(fifo), str(tmp_path)):
            with pytest.raises(InputError) as info:
                load_yaml_file(target)
            done.append(info.value.detail)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert done[0].startswith("is not a regular file") and done[1].startswith("is not a regular file")
    assert done[2].startswith("is a directory")


def test_size_is_capped(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * 2000 + b"\n")
    with pytest.raises(InputError, match="at most 1000 bytes"):
        read_input_file(big, max_bytes=1000)
    assert len(read_input_file(big, max_bytes=5000)) == 2004


def test_non_utf8_and_odd_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: \xff\xfe\n")
    with pytest.raises(InputError) as info:
        load_yaml_file(bad)
    err = info.value
    assert err.line == 2 and "not UTF-8" in err.detail
    with pytest.raises(InputError, match="NUL byte"):
        load_yaml_file(str(tmp_path / "a\0b.yaml"))
    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff.yaml")
    with pytest.raises(InputError) as info:
        load_yaml_file(name)
    err = info.value
    assert err.file is not None and err.file.endswith("\\xff.yaml") and err.detail == "file not found"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "bom.yaml"
    f.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_yaml_file(f) == {"a": 1}
