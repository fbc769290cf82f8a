"""Verdict reuse: an unchanged resource judged by an unchanged rule keeps the previous run's verdict.

A declarative rule's verdict depends only on the resource's evidence document (data, id, name,
account, region, source), the rule's definition, its parameters for the source, and the code that
evaluates it (Annexa's and jmespath's versions) — unless it reads the clock (`now`, `days_since`,
`days_until`). So when, since the immediately previous run of the same source,

* that previous run is sealed `complete`, unsharded (and this run is unsharded too),
* the resource's evidence digest, name, account and region are the same,
* the rule's definition digest is the one sealed in the previous run's manifest (`rule_digests`),
* the rule reads no clock, and no risk exception is (or was) applied to the finding,

the previous verdict is taken instead of evaluating the rule again (a verdict of "does not apply"
included). The finding is then byte-for-byte the one a fresh evaluation gives, so its interval
stays open and nothing is written. docs/evidence-store.md explains this for auditors.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jmespath
from sqlalchemy import Text, bindparam, cast, select

from agent import __version__
from agent.model import Finding, Resource, Status, canonical_json
from agent.rules.engine import CompiledRule, RuleSet
from agent.rules.template import MessageTemplate
from agent.store.hashing import key_of
from agent.store.schema import findings, resource_states, run_sources, runs

BATCH = 500  # resources per prior-verdict lookup: memory stays flat however large the source
CLOCK_FUNCTIONS = frozenset({"now", "days_since", "days_until"})
_STATUS = {s.value: s for s in Status}
_CHUNK = 500  # keys per IN (...) query (well under the oldest SQLite limit of 999 variables)


def reads_clock(compiled: CompiledRule) -> bool:
    """True when any expression or message of the rule calls a clock function."""
    rule = compiled.rule
    return _reads_clock((rule.where, rule.assert_, rule.unknown_if), (rule.message, rule.pass_message,
                                                                      rule.unknown_message))


@functools.lru_cache(maxsize=4096)
def _reads_clock(expressions: tuple[str | None, ...], messages: tuple[str | None, ...]) -> bool:
    trees = [jmespath.compile(e).parsed for e in expressions if e]
    for text in messages:
        if text:
            trees.extend(e.parsed for e in MessageTemplate(text).expressions())
    stack: list[Any] = trees
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get("type") == "function_expression" and node.get("value") in CLOCK_FUNCTIONS:
            return True
        stack.extend(node.get("children") or [])
    return False


def rule_digest(compiled: CompiledRule, params: dict[str, Any]) -> str:
    """What a declarative rule's verdict depends on besides the resource: its definition, parameters
    (as the source sees them) and the versions of the code evaluating it."""
    body = {"rule": compiled.rule.model_dump(mode="json", by_alias=True), "params": params,
            "annexa": __version__, "jmespath": jmespath.__version__}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def source_rule_digests(rules: RuleSet, source: str, resource_types: Iterable[str]) -> dict[str, str]:
    """Digests of the source's reusable rules (declarative, clock-free), by rule id."""
    out: dict[str, str] = {}
    for rtype in resource_types:
        for compiled in rules.for_type(rtype):
            if not reads_clock(compiled):
                out[compiled.id] = rule_digest(compiled, rules.params.for_rule(compiled.rule, source))
    return out


def previous_run(conn: Any, source: str, run_id: int) -> tuple[int, dict[str, Any]] | None:
    """The immediately previous run of `source`, if it can lend verdicts: sealed complete and unsharded.

    Returns (run id, manifest). Any other previous run (running, partial, incomplete, sharded) lends none.
    """
    row = conn.execute(
        select(runs.c.id, runs.c.seq, runs.c.status, runs.c.shard, runs.c.manifest, run_sources.c.status)
        .join(runs, runs.c.id == run_sources.c.run_id)
        .where(run_sources.c.source == source, run_sources.c.run_id < run_id)
        .order_by(run_sources.c.run_id.desc()).limit(1)).first()
    if row is None or row[1] is None or row[2] != "complete" or row[3] is not None or row[5] != "complete":
        return None
    return int(row[0]), row[4] or {}


class PriorFinding(NamedTuple):
    """The shown columns of an open finding interval (all its row hash covers besides its key), and
    its key. A tuple: a batch builds thousands of them straight from the query's rows."""

    key: str  # the interval's key (what the lookup found it by; not compared)
    status: str
    message: str
    evidence: str | None
    exception: str | None
    resource_type: str
    resource_name: str
    account: str | None
    region: str | None
    severity: str
    title: str
    controls: str  # the stored JSON text: compared as text, never decoded (a mismatch only costs speed)

    def same_as(self, f: Finding) -> bool:
        """True when recording `f` would reopen nothing: every column equals the open interval's."""
        res = f.resource
        return (self.status, self.message, self.evidence, self.exception, self.resource_type,
                self.resource_name, self.account, self.region, self.severity, self.title, self.controls) == (
            f.status.value, f.message, f.evidence, f.exception, res.get("type") or "",
            res.get("name") or f.resource_id, res.get("account"), res.get("region"), f.severity, f.title,
            controls_text(f.controls))


@functools.lru_cache(maxsize=1024)
def _controls_text(controls: tuple[str, ...]) -> str:
    return json.dumps(list(controls))


def controls_text(controls: Any) -> str:
    """`json.dumps(list(controls))`, remembered per tuple of controls (a rule's are the same every time)."""
    if type(controls) is tuple:
        return _controls_text(controls)
    return json.dumps(list(controls))


@dataclass
class Prior:
    """What the previous run recorded for one batch: unchanged resources and their open findings."""

    # (type, id) of resources whose evidence, name and location are the same -> their interval key
    unchanged: dict[tuple[str, str], str]
    findings: dict[tuple[str, str], PriorFinding]  # (rule id, resource id) -> its open interval


_KEYS = bindparam("keys", expanding=True)
_BEFORE = bindparam("before")
_RS = resource_states.c
_FC = findings.c
# Built once: SQLAlchemy then reuses the compiled form, and the keys are bound as one expanding list.
_OPEN_RESOURCES = select(_RS.key, _RS.evidence, _RS.name, _RS.account, _RS.region).where(
    _RS.open.is_(True), _RS.first_run < _BEFORE, _RS.key.in_(_KEYS))
_OPEN_FINDINGS = select(
    _FC.key, _FC.status, _FC.message, _FC.evidence, _FC.exception, _FC.resource_type, _FC.resource_name,
    _FC.account, _FC.region, _FC.severity, _FC.title, cast(_FC.controls, Text)).where(
    _FC.open.is_(True), _FC.first_run < _BEFORE, _FC.key.in_(_KEYS))


def prior_verdicts(conn: Any, source: str, before_run: int, batch: list[tuple[Resource, str]],
                   rule_ids: dict[str, list[str]]) -> Prior:
    """Look up, for a batch of (resource, evidence digest), the open intervals the previous run left.

    `rule_ids`: resource type -> ids of its reusable rules. Only intervals opened no later than the
    previous run count (they were seen by it: a complete run closes what it does not see).
    """
    if conn.dialect.name == "postgresql":
        # The lookups probe an index at random keys. With the default random_page_cost (4, a spinning
        # disk's) PostgreSQL scanned the whole findings table for each batch of 500 keys on a store of
        # 10,000 resources (13,334 findings): 2-3x the time of the index probes. SSD figure, this
        # transaction only.
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
    wanted = {key_of(source, r.type, r.id): (r, digest) for r, digest in batch}
    unchanged: dict[tuple[str, str], str] = {}
    by_key: dict[str, tuple[str, str]] = {}
    keys = list(wanted)
    for i in range(0, len(keys), _CHUNK):
        for key, evidence, name, account, region in conn.execute(
                _OPEN_RESOURCES, {"before": before_run, "keys": keys[i:i + _CHUNK]}).all():
            resource, digest = wanted[key]
            if (evidence, name, account, region) == (digest, resource.name, resource.account, resource.region):
                unchanged[(resource.type, resource.id)] = key
                for rule_id in rule_ids.get(resource.type, ()):
                    by_key[key_of(source, rule_id, resource.id)] = (rule_id, resource.id)
    finding_keys = list(by_key)
    found: dict[tuple[str, str], PriorFinding] = {}
    for i in range(0, len(finding_keys), _CHUNK):
        for row in conn.execute(_OPEN_FINDINGS, {"before": before_run,
                                                 "keys": finding_keys[i:i + _CHUNK]}).all():
            found[by_key[row[0]]] = PriorFinding._make(row)
    return Prior(unchanged, found)


def load_digests(store: Any, manifest: dict[str, Any], source: str) -> dict[str, str]:
    """The rule digests the previous run sealed for `source` ({} when it sealed none)."""
    ref = next((e.get("blob") for e in manifest.get("rule_digests") or [] if e.get("source") == source), None)
    if not ref:
        return {}
    try:
        return dict(json.loads(store.blobs.get_bytes(ref)))
    except (OSError, ValueError):
        return {}


class SourceReuse:
    """One source's verdict reuse within a run: which rules may lend verdicts, and how many did."""

    def __init__(self, store: Any, run_id: int, source: str, rules: RuleSet, resource_types: Iterable[str], *,
                 enabled: bool):
        self.store = store
        self.run_id = run_id
        self.source = source
        self.rules = rules
        self.digests = source_rule_digests(rules, source, resource_types)  # sealed for the next run
        self.count = 0
        self.reusable: dict[str, list[str]] = {}  # resource type -> ids of rules whose digest is unchanged
        if not enabled:
            return
        with store.engine.connect() as conn:
            previous = previous_run(conn, source, run_id)
        if previous is None:
            return
        before = load_digests(store, previous[1], source)
        for rtype in resource_types:
            ids = [c.id for c in rules.for_type(rtype) if c.id in self.digests
                   and before.get(c.id) == self.digests[c.id]]
            if ids:
                self.reusable[rtype] = ids

    def seal_digests(self) -> str:
        """Store this run's rule digests for the source; the blob's digest goes into the manifest."""
        return str(self.store.blobs.put_json(self.digests))

    def lookup(self, batch: list[tuple[Resource, str]]) -> Prior | None:
        if not self.reusable or not any(r.type in self.reusable for r, _ in batch):
            return None
        with self.store.engine.connect() as conn:
            return prior_verdicts(conn, self.source, self.run_id, batch, self.reusable)

    def take(self, compiled: CompiledRule, resource: Resource, digest: str, prior: Prior,
             hook: Any) -> tuple[bool, Finding | None, str | None]:
        """(reused, finding, seen key).

        reused: the previous verdict stands (finding None: the rule did not apply); seen key: the key of
        the open interval when the finding equals it column for column, so recording it only notes that
        it was seen (None: record it as usual).
        """
        if compiled.id not in self.reusable.get(resource.type, ()):
            return False, None, None
        if (resource.type, resource.id) not in prior.unchanged:
            return False, None, None
        old = prior.findings.get((compiled.id, resource.id))
        if old is None:  # a complete previous run recorded nothing: the rule did not apply
            self.count += 1
            return True, None, None
        if old.exception is not None or old.evidence != digest:
            return False, None, None
        rule = compiled.rule
        status = _STATUS.get(old.status) or Status(old.status)
        finding = hook(Finding(rule=rule.id, status=status, source=resource.source,
                               resource=resource.envelope(), message=old.message, severity=rule.severity.value,
                               controls=rule.controls, title=rule.title, evidence=digest))
        if finding.exception is not None:  # a risk exception applies now: judge afresh
            return False, None, None
        self.count += 1
        return True, finding, old.key if old.same_as(finding) else None
