"""The policy inputs of the period in the bundle: rule pack, rule code, SoA and exceptions versions.

Every run since policy inputs are recorded seals, in its manifest, the digest of its rule set (which
names each rule pack file and Python rule module by digest, and for each rule id the file defining it)
and of its SoA and exceptions files (agent.policy_inputs). The bundle gets:

- ``policy/<kind>/<hex>.<ext>``: each distinct version used by a run of the period, named by its SHA-256;
- ``policy/rule-sets/<hex>.json``: the rule-set documents those runs sealed;
- ``policy/run-manifests.jsonl``: the sealed manifests of the period's runs (one canonical JSON per line),
  so `annexa verify` can recompute each run's hash and follow it to the files above;
- ``policy/versions.csv``: every version with the runs and dates it was in force.

A finding interval links to the rule version that produced it through the run that opened it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from agent.export.cells import InertCsvWriter
from agent.export.timefmt import ts_text
from agent.export.verify_policy import RULE_SETS, RUN_MANIFESTS
from agent.export.zipout import BundleWriter
from agent.model import canonical_json
from agent.policy_inputs import load_rule_set
from agent.store.schema import runs
from agent.store.timeutil import as_utc

log = logging.getLogger("annexa.export")

FOLDERS = {"rule_pack": ("rules", "yaml"), "rule_code": ("code", "py"), "soa": ("soa", "yaml"),
           "exceptions": ("exceptions", "yaml")}
VERSIONS_CSV = "policy/versions.csv"
VERSION_COLUMNS = ("kind", "path", "sha256", "file", "first_run", "last_run", "runs", "first_used", "last_used")


def bundle_path(kind: str, digest: str) -> str:
    folder, ext = FOLDERS[kind]
    return f"policy/{folder}/{digest.removeprefix('sha256:')}.{ext}"


@dataclass
class Version:
    """One version of one policy file, with the runs of the period that used it."""

    kind: str
    path: str
    sha256: str
    runs: list[int] = field(default_factory=list)
    first_at: Any = None
    last_at: Any = None
    missing: str | None = None  # why it could not be copied into the bundle

    @property
    def file(self) -> str:
        return bundle_path(self.kind, self.sha256)

    @property
    def short(self) -> str:
        return self.sha256.removeprefix("sha256:")[:12]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256, "file": self.file,
                "first_run": self.runs[0] if self.runs else None, "last_run": self.runs[-1] if self.runs else None,
                "runs": len(self.runs), "first_used": ts_text(self.first_at), "last_used": ts_text(self.last_at)}


class PolicyHistory:
    """The policy inputs recorded by the runs of a period, and per finding the rule version that produced it."""

    def __init__(self, store: Any, in_period: Iterable[dict[str, Any]]):
        self.store = store
        self.runs = [r for r in in_period if r.get("manifest")]
        self._inputs: dict[int, dict[str, Any] | None] = {}
        self._sets: dict[str, dict[str, Any] | None] = {}
        self.versions: dict[tuple[str, str, str], Version] = {}
        self.unrecorded: list[int] = []
        self.counts: dict[tuple[str, str, str], int] = {}  # (control, rule, file digest) -> finding intervals
        self._known: set[str] = set()
        for run in self.runs:
            inputs = run["manifest"].get("policy_inputs")
            self._inputs[run["id"]] = inputs
            if not inputs:
                self.unrecorded.append(run["id"])
                continue
            at = as_utc(run["started_at"])
            rule_set = self.rule_set(inputs.get("rule_set"))
            for f in (rule_set or {}).get("files", []):
                self._use(f["kind"], f["path"], f["sha256"], run["id"], at)
            for kind in ("soa", "exceptions"):
                entry = inputs.get(kind) or {}
                if entry.get("sha256"):
                    self._use(kind, entry["path"], entry["sha256"], run["id"], at)

    def _use(self, kind: str, path: str, digest: str, run_id: int, at: Any) -> None:
        v = self.versions.setdefault((kind, path, digest), Version(kind, path, digest))
        self._known.add(digest)
        v.runs.append(run_id)
        v.first_at = v.first_at or at
        v.last_at = at

    # -- look-ups ----------------------------------------------------------------------------
    def rule_set(self, digest: str | None) -> dict[str, Any] | None:
        if not digest:
            return None
        if digest not in self._sets:
            try:
                self._sets[digest] = load_rule_set(self.store.blobs, digest)
            except Exception as exc:  # a missing blob is reported on the page, not fatal
                log.warning("rule set %s cannot be read: %s", digest, exc)
                self._sets[digest] = None
        return self._sets[digest]

    def inputs_of(self, run_id: int) -> dict[str, Any] | None:
        """The policy inputs a run sealed (runs before the period are read on demand)."""
        if run_id not in self._inputs:
            with self.store.engine.connect() as conn:
                manifest = conn.execute(select(runs.c.manifest).where(runs.c.id == run_id)).scalar()
            self._inputs[run_id] = (manifest or {}).get("policy_inputs")
        return self._inputs[run_id]

    def rule_version(self, run_id: int | None, rule_id: str) -> str | None:
        """Digest of the rule pack file that defined ``rule_id`` in run ``run_id`` (None if not recorded)."""
        if run_id is None:
            return None
        inputs = self.inputs_of(int(run_id))
        rule_set = self.rule_set((inputs or {}).get("rule_set"))
        entry = (rule_set or {}).get("rules", {}).get(rule_id)
        if not entry:
            return None
        digest = entry["file"]
        if digest not in self._known:  # opened by a run before the period: its rule version goes in too
            path = next((f["path"] for f in rule_set["files"] if f["sha256"] == digest), "")  # type: ignore[index]
            self.versions[("rule_pack", path, digest)] = Version("rule_pack", path, digest, [int(run_id)])
            self._known.add(digest)
        return digest

    def counter(self, control_id: str) -> Callable[[int | None, str], str]:
        """For findings.csv: (first_run, rule) -> rule version digest, counting findings per version."""
        def lookup(run_id: int | None, rule_id: str) -> str:
            digest = self.rule_version(run_id, rule_id)
            if digest:
                key = (control_id, rule_id, digest)
                self.counts[key] = self.counts.get(key, 0) + 1
            return digest or ""
        return lookup

    def rule_versions(self, rule_id: str) -> list[dict[str, Any]]:
        """The versions of a rule in force during the period, oldest first: file, runs, dates."""
        out: dict[str, dict[str, Any]] = {}
        for run in self.runs:
            digest = self.rule_version(run["id"], rule_id)
            if not digest:
                continue
            entry = out.setdefault(digest, {"sha256": digest, "file": bundle_path("rule_pack", digest),
                                            "short": digest.removeprefix("sha256:")[:12], "first_run": run["id"],
                                            "first_at": run["started_at"], "path": self._path_of(digest)})
            entry["last_run"], entry["last_at"] = run["id"], run["started_at"]
        return list(out.values())

    def _path_of(self, digest: str) -> str:
        return next((v.path for (k, _, d), v in self.versions.items() if d == digest and k == "rule_pack"), "")

    def of_kind(self, kind: str) -> list[Version]:
        return sorted((v for v in self.versions.values() if v.kind == kind), key=lambda v: (v.runs[0], v.path))

    def text(self, version: Version) -> str | None:
        try:
            return self.store.blobs.get_bytes(version.sha256).decode("utf-8", "replace")
        except Exception:
            return None

    def last_version(self, kind: str) -> Version | None:
        """The version of the SoA (or exceptions file) in force at the last run of the period."""
        for run in reversed(self.runs):
            entry = ((self._inputs.get(run["id"]) or {}).get(kind) or {})
            if entry.get("sha256"):
                return self.versions.get((kind, entry["path"], entry["sha256"]))
        return None

    # -- writing -----------------------------------------------------------------------------
    def write(self, writer: BundleWriter) -> list[dict[str, str]]:
        """Copy every version, rule-set document and sealed run manifest; return what could not be read."""
        missing: list[dict[str, str]] = []
        for v in sorted(self.versions.values(), key=lambda v: v.file):
            try:
                raw = self.store.blobs.get_bytes(v.sha256)
            except Exception as exc:
                v.missing = type(exc).__name__
                missing.append({"control": "policy", "digest": v.sha256, "error": v.missing})
                continue
            entry = writer.write_bytes(v.file, raw)
            if "sha256:" + entry.sha256 != v.sha256:
                v.missing = f"content hash is sha256:{entry.sha256}"
                missing.append({"control": "policy", "digest": v.sha256, "error": v.missing})
        for digest, doc in sorted(self._sets.items()):
            if doc is not None:
                writer.write_bytes(f"{RULE_SETS}/{digest.removeprefix('sha256:')}.json", canonical_json(doc))
        if self.runs:
            writer.write_bytes(RUN_MANIFESTS, b"".join(canonical_json(r["manifest"]) + b"\n" for r in self.runs))
        with writer.open_text(VERSIONS_CSV) as fh:
            out = InertCsvWriter(fh)
            out.writerow(VERSION_COLUMNS)
            for v in sorted(self.versions.values(), key=lambda v: (v.kind, v.path, v.runs[0])):
                d = v.as_dict()
                out.writerow([str(d[c]) if d[c] is not None else "" for c in VERSION_COLUMNS])
        return missing

    def manifest_entry(self) -> dict[str, Any]:
        """The bundle manifest's ``policy_inputs``: each version, and each run's sealed references."""
        return {
            "versions": [v.as_dict() for v in sorted(self.versions.values(), key=lambda v: v.file)],
            "runs": {str(r["id"]): r["manifest"].get("policy_inputs") for r in self.runs
                     if r["manifest"].get("policy_inputs")},
            "unrecorded_runs": self.unrecorded,
            "run_manifests": RUN_MANIFESTS if self.runs else None,
        }
