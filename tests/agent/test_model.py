"""Canonical JSON: the one byte form that hashes, evidence and rules all use."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from agent.model import canonical_json, content_hash


def test_times_become_utc_iso_strings_that_rules_can_read() -> None:
    cet = timezone(timedelta(hours=1))
    doc = json.loads(canonical_json({"a": datetime(2026, 1, 2, 13, 0, tzinfo=cet), "b": datetime(2026, 1, 2),
                                     "c": date(2026, 1, 3)}))
    assert doc == {"a": "2026-01-02T12:00:00Z", "b": "2026-01-02T00:00:00Z", "c": "2026-01-03"}


def test_other_types_and_stability() -> None:
    doc = json.loads(canonical_json({"s": {"b", "a"}, "d": Decimal("3"), "f": Decimal("1.5"), "x": b"\x00"}))
    assert doc == {"s": ["a", "b"], "d": 3, "f": 1.5, "x": "AA=="}
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert content_hash({"b": 1, "a": 2}) == content_hash({"a": 2, "b": 1})


HOSTILE = {
    "floats": [0.1, 1e16, -0.0, 1e-7, 2.5e300, float("inf"), float("-inf"), float("nan")],
    "ints": [2**64 + 1, -(2**100), 0, True, False],
    "text": ["é", "\u2028", "\x00\x1f\x7f", "\"\\/", "\ud800", "😀", "日本"],
    "keys": {"é": 1, "B": 2, "a": 3, "\U0001f600": 4, "\ud800": 5, "10": 6, "9": 7},
    "nested": {"z": [{"y": {"x": [[], {}, None]}}], "when": datetime(2026, 1, 2, 3, 4, 5), "set": {3, 1}},
    "odd": [Decimal("1.10"), b"\xff", (1, 2), frozenset({"b", "a"})],
}


def test_canonical_bytes_are_those_of_json_dumps_with_the_canonical_options() -> None:
    """The shared encoder must give, for every value, the bytes the stored hashes were taken over."""
    from agent.model import _json_default, canonical_json_text

    def reference(value: object) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=_json_default).encode("utf-8", "surrogatepass")

    for value in [HOSTILE, *HOSTILE.values(), "plain", 7, None, 1.5, [], {}]:
        text = canonical_json_text(value)
        assert text.encode("utf-8", "surrogatepass") == reference(value)
        if "\ud800" not in text:
            assert canonical_json(value) == reference(value)
    assert canonical_json({"b": 1.0, "a": 2**70}) == b'{"a":1180591620717411303424,"b":1.0}'


def test_a_failed_encoding_leaves_no_trace_in_the_next() -> None:
    """The encoder is shared: an error half-way (a cycle) must not affect the following calls."""
    loop: list[object] = []
    loop.append(loop)
    for _ in range(2):
        with pytest.raises(ValueError, match="Circular"):
            canonical_json({"a": [1, {"b": loop}]})
        assert canonical_json({"a": [1, {"b": []}]}) == b'{"a":[1,{"b":[]}]}'
