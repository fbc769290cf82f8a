"""The records that flow through a run: resources in, findings out."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    EXCEPTED = "excepted"
    # A resource type declared unreadable by an active expected gap (config `expected_gaps`): neither
    # pass nor error, and it carries the gap's reason, approver and expiry in its message.
    NOT_APPLICABLE = "not_applicable"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


SEVERITY_ORDER = {s.value: i for i, s in enumerate(Severity)}


def _json_default(value: Any) -> Any:
    """How values that JSON has no type for are written: times as UTC ISO 8601 with `Z`."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


# What json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)
# builds on every call; it holds no state between calls (each encode has its own cycle markers).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def canonical_json_text(value: Any) -> str:
    """The canonical JSON of `value` as text (`canonical_json` is its UTF-8 encoding)."""
    return _CANONICAL.encode(value)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8. Hashes are taken over these."""
    return _CANONICAL.encode(value).encode()


def json_data(value: Any) -> Any:
    """`value` as plain JSON data (dicts, lists, strings, numbers): what rules judge and evidence stores."""
    return json.loads(canonical_json(value))


def content_hash(value: Any) -> str:
    """`sha256:<hex>` of the canonical JSON of `value`."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


@dataclass(slots=True)
class Resource:
    """One collected object: its canonical id and the provider's raw configuration as JSON."""

    type: str
    id: str
    name: str
    data: dict[str, Any]
    account: str | None = None
    region: str | None = None
    source: str = ""

    def envelope(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "name": self.name, "account": self.account,
                "region": self.region}

    def evidence_document(self) -> dict[str, Any]:
        """What is stored as the evidence snapshot: the envelope plus the raw configuration."""
        return {"resource": self.envelope(), "source": self.source, "data": self.data}


@dataclass(frozen=True, slots=True)
class CollectionError:
    """A resource type (in a scope such as one account/region) that could not be collected."""

    source: str
    resource_type: str
    message: str
    account: str | None = None
    region: str | None = None
    reason: str | None = None  # reason class (agent.health.REASONS)
    # An active expected gap covering it: {reason, approved_by, expires}; it is then not an error.
    expected: dict[str, Any] | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The record kept in the store's run_sources.errors (and so in the sealed run manifest)."""
        out: dict[str, Any] = {"resource_type": self.resource_type, "message": self.message,
                               "account": self.account, "region": self.region, "reason": self.reason}
        if self.expected is not None:
            out["status"] = "not_applicable"
            out["expected_gap"] = dict(self.expected)
        return out

    @property
    def scope_id(self) -> str:
        parts = [self.source, self.account or "-", self.region or "-", self.resource_type]
        return "annexa:collection/" + "/".join(parts)


@dataclass(slots=True)
class Finding:
    """The result of one rule on one resource in one run."""

    rule: str
    status: Status
    source: str
    resource: dict[str, Any]
    message: str
    severity: str
    controls: tuple[str, ...]
    title: str = ""
    evidence: str | None = None
    exception: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return str(self.resource["id"])
