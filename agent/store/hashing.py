"""Keys, row hashes and Merkle leaves: the exact byte strings that tamper-evidence rests on.

Every column a report, metric or export shows is in one of these hashes (docs/evidence-store.md):

* `row_hash` of an interval: its content columns, written once when the interval opens. It does not
  depend on when the interval opened, so an unchanged finding or snapshot hashes the same in every
  run: comparing it with the stored one is how a run knows nothing changed.
* the *open leaf* ties the row hash to its key, `first_run` and `first_seen`; the Merkle root of the
  open leaves of a run and source goes into that run's sealed manifest.
* `close_hash`, written when the interval closes, covers its final state (`last_run`, `last_seen`,
  `closed_run`); its leaf goes into the closing run's manifest.
* `hints` hold two bytes of hash per column. They prove nothing (they are not in any root); they let
  `verify` say *which* column of a row no longer matches its hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

from agent.model import canonical_json, content_hash
from agent.store.timeutil import ts_text


def key_of(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


RESOURCE_CONTENT = ("key", "source", "type", "resource_id", "name", "account", "region", "evidence")
FINDING_CONTENT = ("key", "source", "rule_id", "resource_id", "resource_type", "resource_name", "account",
                   "region", "status", "severity", "controls", "title", "message", "evidence", "exception")
OPEN_COLUMNS = ("first_seen", "first_run")
MANUAL_CONTENT = ("control", "filename", "blob", "size", "media_type", "note", "uploaded_by", "uploaded_at",
                  "valid_until")
MANUAL_REMOVAL = ("removed_at", "removed_by", "removal_reason")


def _value(row: Mapping[str, Any], col: str) -> Any:
    value = row[col]
    if col in ("first_seen", "last_seen", "uploaded_at", "valid_until", "removed_at"):
        return ts_text(value)
    if col == "controls":
        return list(value or [])
    return value


def canonical_text(value: Any) -> str:
    """`canonical_json(value)` as text, without a json.dumps for the common column values.

    Strings, None, booleans, integers and lists of strings are spelled here exactly as
    json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) spells them (the same C
    string encoder); anything else (floats, dicts, nested lists) goes through canonical_json.
    """
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is list and all(type(v) is str for v in value):
        return "[" + ",".join(map(encode_basestring, value)) + "]"
    return canonical_json(value).decode()


def _hash(row: Mapping[str, Any], cols: Sequence[str]) -> str:
    """`content_hash` of the list of the columns' values, byte for byte."""
    text = "[" + ",".join([canonical_text(_value(row, c)) for c in cols]) + "]"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def resource_row_hash(row: Mapping[str, Any]) -> str:
    return _hash(row, RESOURCE_CONTENT)


def finding_row_hash(row: Mapping[str, Any]) -> str:
    return _hash(row, FINDING_CONTENT)


def manual_row_hash(row: Mapping[str, Any]) -> str:
    return _hash(row, MANUAL_CONTENT)


def manual_removal_hash(row: Mapping[str, Any]) -> str:
    return content_hash([row["row_hash"], *[_value(row, c) for c in MANUAL_REMOVAL]])


# Columns whose values repeat from row to row (a run's clock, the rule's texts, the place): their
# hints are kept, bounded; keys, ids, messages and evidence digests are hashed each time.
_REPEATING = frozenset({"source", "type", "rule_id", "resource_type", "account", "region", "status", "severity",
                        "controls", "title", "exception", "first_seen", "first_run"})
_HINTS: dict[str, str] = {}
_HINTS_MAX = 4096


def _hint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:4]


def _repeating_hint(text: str) -> str:
    hint = _HINTS.get(text)
    if hint is None:
        hint = _hint(text)
        if len(_HINTS) >= _HINTS_MAX:
            _HINTS.clear()
        _HINTS[text] = hint
    return hint


def hints(row: Mapping[str, Any], cols: Sequence[str]) -> str:
    """Two bytes of SHA-256 per column, hex: enough to name the changed column, too little to prove."""
    return "".join([(_repeating_hint if c in _REPEATING else _hint)(canonical_text(_value(row, c)))
                     for c in cols])


def changed_columns(row: Mapping[str, Any], cols: Sequence[str]) -> list[str]:
    """The columns whose value no longer matches the row's stored hints ([] when hints are absent)."""
    stored = row.get("hints") or ""
    if len(stored) != 4 * len(cols):
        return []
    fresh = hints(row, cols)
    return [c for i, c in enumerate(cols) if fresh[4 * i:4 * i + 4] != stored[4 * i:4 * i + 4]]


def open_leaf(kind: str, row: Mapping[str, Any]) -> bytes:
    """`kind` is r (resource snapshot) or f (finding)."""
    return f"o{kind}|{row['key']}|{row['first_run']}|{ts_text(row['first_seen'])}|{row['row_hash']}".encode()


def close_hash(row: Mapping[str, Any]) -> str:
    return content_hash([row["row_hash"], row["key"], row["first_run"], row["last_run"], ts_text(row["last_seen"]),
                         row["closed_run"]])


def close_leaf(kind: str, row: Mapping[str, Any]) -> bytes:
    return f"c{kind}|{row['key']}|{row['first_run']}|{row['close_hash']}".encode()
