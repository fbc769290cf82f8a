"""Canonical JSON: the one byte form that hashes, evidence and rules all use."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

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
