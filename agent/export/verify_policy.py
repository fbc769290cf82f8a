"""`annexa verify`: the bundle's policy inputs against the run manifests that sealed them.

Checked, beyond every file matching manifest.json: each sealed run manifest in
policy/run-manifests.jsonl hashes to the run hash the bundle lists; the policy inputs it sealed are the
ones the bundle manifest lists for it; its rule set, and every rule pack, rule code, SoA and exceptions
version, is in the bundle with content matching the digest the runs sealed. So a rule file edited in
the bundle is named even when manifest.json and SHA256SUMS were rewritten to match it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from agent.model import content_hash

RUN_MANIFESTS = "policy/run-manifests.jsonl"
RULE_SETS = "policy/rule-sets"


def kept(name: str) -> bool:
    """Entries verify holds in memory for this check (the run manifests and the small rule-set documents)."""
    return name == RUN_MANIFESTS or name.startswith(RULE_SETS + "/")

Flag = Callable[[str, str], None]


def _hex(digest: Any) -> str:
    return str(digest or "").removeprefix("sha256:")


def check_policy(doc: dict[str, Any], actual: Mapping[str, tuple[str, int]], raw: dict[str, bytes],
                 flag: Flag) -> None:
    """Flag (file, problem) for every policy input that does not match what the runs sealed."""
    policy = doc.get("policy_inputs")
    if not isinstance(policy, dict):
        return
    versions = [v for v in policy.get("versions") or [] if isinstance(v, dict)]
    by_digest = {_hex(v.get("sha256")) for v in versions}
    for v in versions:
        name, want = str(v.get("file") or ""), _hex(v.get("sha256"))
        if not name.endswith(("/" + want + ".yaml", "/" + want + ".py")):
            flag(name or "manifest.json", f"policy version {v.get('sha256')} is listed under a file name that "
                 "is not its digest")
        elif name in actual and actual[name][0] != want:
            flag(name, f"differs from the {str(v.get('kind')).replace('_', ' ')} version {v.get('sha256')} "
                 f"({v.get('path')}) sealed by runs {v.get('first_run')}-{v.get('last_run')}")
    runs = policy.get("runs") if isinstance(policy.get("runs"), dict) else {}
    hashes = {str(r.get("id")): r.get("hash") for r in doc.get("runs") or [] if isinstance(r, dict)}
    if runs and RUN_MANIFESTS not in raw:
        if RUN_MANIFESTS not in actual:
            flag(RUN_MANIFESTS, "missing from the bundle (the runs' sealed manifests)")
        return
    sealed: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(raw.get(RUN_MANIFESTS, b"").splitlines(), start=1):
        try:
            manifest = json.loads(line)
            run_id = str(manifest["run_id"])
        except (ValueError, KeyError, TypeError):
            flag(RUN_MANIFESTS, f"line {n} is not a run manifest")
            return
        if content_hash(manifest) != hashes.get(run_id):
            flag(RUN_MANIFESTS, f"line {n}: the manifest of run {run_id} does not hash to the run's sealed hash "
                 f"{hashes.get(run_id)}")
            return
        sealed[run_id] = manifest.get("policy_inputs") or {}
    for run_id, inputs in runs.items():
        if sealed.get(run_id) != inputs:
            flag("manifest.json", f"policy inputs listed for run {run_id} differ from those its sealed manifest "
                 "records")
            continue
        rule_set = _hex(inputs.get("rule_set"))
        path = f"{RULE_SETS}/{rule_set}.json"
        if rule_set and path in actual and actual[path][0] != rule_set:
            flag(path, f"differs from the rule set {inputs.get('rule_set')} sealed by run {run_id}")
        elif rule_set and path not in actual:
            flag(path, f"missing from the bundle (the rule set sealed by run {run_id})")
        elif rule_set and path in raw:
            try:
                named = [_hex(f.get("sha256")) for f in json.loads(raw[path]).get("files", [])]
            except (ValueError, AttributeError):
                flag(path, "is not a rule-set document")
                continue
            for digest in named:
                if digest not in by_digest:
                    flag(path, f"names rule file sha256:{digest}, which the bundle does not list")
                    break
        for key in ("soa", "exceptions"):
            digest = _hex((inputs.get(key) or {}).get("sha256"))
            if digest and digest not in by_digest:
                flag("manifest.json", f"the {key} version sha256:{digest} sealed by run {run_id} is not listed")

