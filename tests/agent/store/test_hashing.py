"""The fast canonical spelling of row hashes and hints is byte-identical to canonical_json's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.model import canonical_json, content_hash
from agent.store.hashing import (
    FINDING_CONTENT,
    OPEN_COLUMNS,
    RESOURCE_CONTENT,
    _value,
    canonical_text,
    finding_row_hash,
    hints,
    resource_row_hash,
)

VALUES: list[Any] = [
    None, True, False, 0, -1, 2**70, 1.5, -0.0, 1e300, 3.0, float("1e-7"),
    "", "plain", "quote \" backslash \\ slash /", "tab\tnew\nline\r", "\x00\x1f\x7f", "émoji 🔐 中文 \u2028\u2029",
    [], ["a", "é"], ["x", 1, None], [["nested"]], {"b": 1, "a": [None, 2.5, {"z": "ü"}]}, {}, {"k": None},
]


def old_hash(row: dict[str, Any], cols: tuple[str, ...]) -> str:
    return content_hash([_value(row, c) for c in cols])


def old_hints(row: dict[str, Any], cols: tuple[str, ...]) -> str:
    return "".join(hashlib.sha256(canonical_json(_value(row, c))).hexdigest()[:4] for c in cols)


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:30] for v in VALUES])
def test_canonical_text_matches_canonical_json(value: Any) -> None:
    assert canonical_text(value).encode() == canonical_json(value)


def finding_row(i: int, value: Any) -> dict[str, Any]:
    return {"key": f"{i:064x}", "source": "src é", "rule_id": "r.1", "resource_id": f"arn:x/{i} 🔐",
            "resource_type": "t", "resource_name": value if isinstance(value, str) else "n", "account": None,
            "region": "eu-west-1", "status": "pass", "severity": "high", "controls": ["A.5.15", "A.8.2"],
            "title": "Tïtle", "message": value, "evidence": None if i % 2 else "sha256:ab", "exception": value,
            "first_seen": datetime(2026, 12, 5, 8, 0, i % 60, 123456, tzinfo=UTC), "first_run": i}


@pytest.mark.parametrize("i", range(len(VALUES)))
def test_row_hashes_and_hints_are_unchanged(i: int) -> None:
    row = finding_row(i, VALUES[i])
    assert finding_row_hash(row) == old_hash(row, FINDING_CONTENT)
    assert hints(row, FINDING_CONTENT + OPEN_COLUMNS) == old_hints(row, FINDING_CONTENT + OPEN_COLUMNS)
    res = {"key": row["key"], "source": "s", "type": "aws.s3.bucket", "resource_id": VALUES[i] if
           isinstance(VALUES[i], str) else "id", "name": "ñame", "account": "123", "region": None,
           "evidence": "sha256:cd", "first_seen": row["first_seen"], "first_run": 3}
    assert resource_row_hash(res) == old_hash(res, RESOURCE_CONTENT)
    assert hints(res, RESOURCE_CONTENT + OPEN_COLUMNS) == old_hints(res, RESOURCE_CONTENT + OPEN_COLUMNS)


def test_a_changed_column_changes_the_hash() -> None:
    row = finding_row(1, "a")
    assert finding_row_hash({**row, "message": "b"}) != finding_row_hash(row)
