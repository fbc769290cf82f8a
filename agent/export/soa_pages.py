"""The SoA of the period: which SoA versions were in force (as the runs sealed them), and what changed.

The bundle's applicability, soa.csv and soa.xlsx follow the SoA version in force at the last run of the
period, so an export of last year shows last year's SoA. Where no run of the period recorded an SoA
(a store older than policy-input recording, or no SoA configured) the SoA given at export time is used,
and the manifest says so.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from agent.catalogue import Catalogue
from agent.errors import AnnexaError
from agent.export.policy_inputs import PolicyHistory, Version
from agent.soa import SoaEntry, SoaRecord, parse_soa_record
from agent.yamlfile import load_yaml_text

PAGE = "soa-versions.html"
DIFF_FIELDS = ("applicable", "justification", "implementation", "owner", "risks")
TEXT_DIFF_CAP = 400


@dataclass
class SoaVersion:
    version: Version
    record: SoaRecord | None
    error: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)  # against the previous version
    text_diff: list[str] = field(default_factory=list)


def _parse(policy: PolicyHistory, version: Version, catalogue: Catalogue) -> tuple[SoaRecord | None, str | None,
                                                                                   str]:
    text = policy.text(version)
    if text is None:
        return None, "not readable from the store", ""
    try:
        return parse_soa_record(load_yaml_text(text, version.path), f"{version.path}@{version.short}",
                                catalogue), None, text
    except AnnexaError as exc:
        return None, str(exc), text


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(value)
    return "" if value is None else str(value)


def _changes(before: dict[str, SoaEntry], after: dict[str, SoaEntry]) -> list[dict[str, Any]]:
    out = []
    for cid, new in after.items():
        old = before.get(cid)
        for name in DIFF_FIELDS:
            a, b = (getattr(old, name) if old else None), getattr(new, name)
            if a != b:
                out.append({"control": cid, "field": name, "before": _shown(a), "after": _shown(b)})
    return out


def soa_versions(policy: PolicyHistory, catalogue: Catalogue) -> list[SoaVersion]:
    """The SoA versions the period's runs sealed, oldest first, each diffed against the one before."""
    out: list[SoaVersion] = []
    prev_text, prev_entries = None, None
    for version in policy.of_kind("soa"):
        record, error, text = _parse(policy, version, catalogue)
        item = SoaVersion(version, record, error)
        if prev_text is not None:
            item.text_diff = list(difflib.unified_diff(prev_text.splitlines(), text.splitlines(),
                                                       "previous", version.short, lineterm="", n=1))[:TEXT_DIFF_CAP]
        if prev_entries is not None and record is not None:
            item.changes = _changes(prev_entries, record.entries)
        prev_text, prev_entries = text, (record.entries if record else prev_entries)
        out.append(item)
    return out


def soa_of_period(policy: PolicyHistory, catalogue: Catalogue) -> tuple[SoaRecord, Version] | None:
    """The SoA in force at the period's last run that recorded one (None: fall back to the configured SoA)."""
    version = policy.last_version("soa")
    if version is None:
        return None
    record, _error, _text = _parse(policy, version, catalogue)
    return (record, version) if record is not None else None


def manifest_entry(chosen: tuple[SoaRecord, Version] | None, versions: list[SoaVersion]) -> dict[str, Any]:
    """The bundle manifest's ``soa``: which SoA the bundle's applicability and soa.csv follow."""
    if chosen is None:
        return {"source": "configured file at export time (no run of the period recorded an SoA)",
                "versions": len(versions)}
    record, version = chosen
    return {"source": "recorded by the period's last run", "path": version.path, "sha256": version.sha256,
            "file": version.file, **record.meta(), "versions": len(versions)}
