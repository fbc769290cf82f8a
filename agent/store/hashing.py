"""Keys, row hashes and Merkle leaves: the exact byte strings that tamper-evidence rests on."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from agent.model import content_hash
from agent.store.timeutil import ts_text


def key_of(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def resource_row_hash(row: Mapping[str, Any]) -> str:
    return content_hash([row["key"], row["source"], row["type"], row["resource_id"], row["name"],
                         row["account"], row["region"], row["evidence"], ts_text(row["first_seen"]),
                         row["first_run"]])


def finding_row_hash(row: Mapping[str, Any]) -> str:
    return content_hash([row["key"], row["source"], row["rule_id"], row["resource_id"], row["status"],
                         ts_text(row["first_seen"]), row["first_run"]])


def manual_row_hash(row: Mapping[str, Any]) -> str:
    return content_hash([row["control"], row["filename"], row["blob"], row["size"], row["uploaded_by"],
                         ts_text(row["uploaded_at"]), ts_text(row["valid_until"])])


def resource_leaf(key: str, evidence: str, first_run: int, row_hash: str) -> bytes:
    return f"r|{key}|{evidence}|{first_run}|{row_hash}".encode()


def finding_leaf(key: str, status: str, first_run: int, row_hash: str) -> bytes:
    return f"f|{key}|{status}|{first_run}|{row_hash}".encode()
