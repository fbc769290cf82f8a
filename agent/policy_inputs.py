"""The policy inputs a run is judged against: rule packs, Python rule code, the SoA and the exceptions file.

At the start of each run their bytes are hashed and each distinct version is kept in the evidence blob
store (content-addressed, exactly like evidence snapshots). The run's sealed manifest then carries::

    "policy_inputs": {
      "kind": "annexa.policy-inputs/v1",
      "rule_set": "sha256:…",        # digest of the rule-set document below (also a blob)
      "rule_files": 53,              # how many rule pack / rule code files it lists
      "soa": {"path": "soa.yaml", "sha256": "sha256:…"} | null,
      "exceptions": {"path": "exceptions.yaml", "sha256": "sha256:…"} | null
    }

The rule-set document (canonical JSON) lists every rule pack file and Python rule module with its
digest, and for every rule id the digest of the file that defines it (and of its code for a Python
rule). The manifest holds only the rule set's digest, which covers all of them, so a run's manifest
stays small however many rule files are installed. A finding interval links to the rule version that
produced it through the run that opened it (``first_run``): that run's rule set names the file digest.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.model import canonical_json
from agent.store.blobs import digest_of

log = logging.getLogger("annexa.policy")

KIND = "annexa.policy-inputs/v1"
RULE_SET_KIND = "annexa.rule-set/v1"


@dataclass(frozen=True)
class InputFile:
    kind: str  # rule_pack | rule_code | soa | exceptions
    path: str  # rules/aws/s3.yaml for built-in packs, else relative to the config folder (or external/<dir>/<file>)
    sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "sha256": self.sha256}


def display_path(path: Path, base: Path | None) -> str:
    """A stable name for a policy file: built-in packs as rules/<provider>/<file>, others relative to base."""
    from agent.rules.loader import builtin_rule_root

    resolved = Path(path).resolve()
    root = builtin_rule_root().resolve()
    if resolved.is_relative_to(root):
        return "rules/" + resolved.relative_to(root).as_posix()
    if base is not None and resolved.is_relative_to(Path(base).resolve()):
        return resolved.relative_to(Path(base).resolve()).as_posix()
    return "external/" + "/".join(resolved.parts[-2:])  # no local folder layout in bundles


def code_path(function: str | None) -> Path | None:
    """The source file of a Python rule's module (`package.module:callable`), if it has one."""
    module = (function or "").partition(":")[0]
    if not module:
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec else None
    return Path(origin) if origin and origin.endswith(".py") else None


class _Keeper:
    """Reads each file once, stores its bytes as a blob, remembers its digest."""

    def __init__(self, blobs: Any, base: Path | None):
        self.blobs = blobs
        self.base = base
        self.files: dict[str, InputFile] = {}
        self._shown: dict[Path, str] = {}  # many rules share a pack file: resolve its name once

    def keep(self, kind: str, path: Path) -> InputFile:
        shown = self._shown.get(path)
        if shown is None:
            shown = self._shown[path] = display_path(path, self.base)
        if shown not in self.files:
            raw = Path(path).read_bytes()
            digest = self.blobs.put_bytes(raw) if self.blobs is not None else digest_of(raw)
            self.files[shown] = InputFile(kind, shown, digest)
        return self.files[shown]


def rule_set_document(rules: Iterable[Any], keeper: _Keeper) -> dict[str, Any]:
    """The rule-set document for these rules (Rule objects, or compiled rules with `.rule`)."""
    by_rule: dict[str, dict[str, str]] = {}
    for item in rules:
        rule = getattr(item, "rule", item)
        if not rule.file:
            continue
        entry = {"file": keeper.keep("rule_pack", Path(rule.file)).sha256}
        if rule.kind == "python":
            code = code_path(rule.function)
            if code is not None and code.is_file():
                entry["code"] = keeper.keep("rule_code", code).sha256
        by_rule[rule.id] = entry
    files = sorted((f.as_dict() for f in keeper.files.values() if f.kind in ("rule_pack", "rule_code")),
                   key=lambda f: f["path"])
    return {"kind": RULE_SET_KIND, "files": files, "rules": dict(sorted(by_rule.items()))}


def capture(blobs: Any, rules: Iterable[Any], *, soa_path: Path | None, exceptions_path: Path | None,
            base: Path | None = None) -> dict[str, Any]:
    """Hash and keep the policy inputs now in force; return the manifest's ``policy_inputs`` entry.

    ``blobs`` is the store's blob store (None only computes digests). A configured SoA or exceptions
    file that does not exist is recorded as ``{"path": ..., "sha256": null}``: the run applied none.
    """
    keeper = _Keeper(blobs, base)
    doc = rule_set_document(rules, keeper)
    raw = canonical_json(doc)
    rule_set = blobs.put_bytes(raw) if blobs is not None else digest_of(raw)

    def single(kind: str, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        if not Path(path).is_file():
            return {"path": display_path(path, base), "sha256": None}
        return {"path": (f := keeper.keep(kind, Path(path))).path, "sha256": f.sha256}

    return {"kind": KIND, "rule_set": rule_set, "rule_files": len(doc["files"]),
            "soa": single("soa", soa_path), "exceptions": single("exceptions", exceptions_path)}


def capture_for_run(store: Any, config: Any, rule_set: Any) -> dict[str, Any] | None:
    """The runner's hook: capture from the run's config and compiled rules. Never fails the run.

    A policy file that cannot be read is logged and recorded as absent (``None``); the collection
    itself goes on, since an unreadable SoA does not change what the cloud APIs return.
    """
    try:
        return capture(store.blobs, getattr(rule_set, "rules", rule_set), soa_path=config.soa_path,
                       exceptions_path=config.exceptions_path, base=config.base_dir)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # a full disk stops the run (sealed incomplete, one clear line), not just this record
        log.warning("could not record the run's policy inputs: %s", exc)
        return None


def load_rule_set(blobs: Any, digest: str) -> dict[str, Any]:
    """The rule-set document stored under ``digest``."""
    return json.loads(blobs.get_bytes(digest))


def recorded_digests(store: Any) -> set[str]:
    """Every policy-input blob digest the store's sealed runs recorded (rule sets, rule files, SoA, exceptions,
    and the per-source rule digests that verdict reuse compares, agent.reuse)."""
    from sqlalchemy import select

    from agent.store.schema import runs

    out: set[str] = set()
    sets: set[str] = set()
    with store.engine.connect() as conn:
        for manifest in conn.execute(select(runs.c.manifest).where(runs.c.manifest.is_not(None))).scalars():
            inputs = (manifest or {}).get("policy_inputs") or {}
            out.update(e["blob"] for e in (manifest or {}).get("rule_digests") or [] if e.get("blob"))
            if inputs.get("rule_set"):
                sets.add(inputs["rule_set"])
            for key in ("soa", "exceptions"):
                if (inputs.get(key) or {}).get("sha256"):
                    out.add(inputs[key]["sha256"])
    for digest in sets:
        out.add(digest)
        out.update(f["sha256"] for f in load_rule_set(store.blobs, digest)["files"])
    return out
