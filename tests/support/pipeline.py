"""Run one configured source for real: its collector alone (resources, errors, cursor), or the whole
pipeline (collector, shipped rule packs, store) with findings to assert by rule and resource id."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.config import load_config
from agent.model import CollectionError, Resource
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, default_http_factory, select_sources
from agent.store.store import EvidenceStore
from collectors.base import CollectorContext, Cursor, Progress
from collectors.registry import get_collector, known_resource_types


def write_config(folder: Path, source_yaml: str, extra: str = "") -> Path:
    """annexa.yaml with a SQLite store in `folder` and one source (an unindented `- name: ...` item)."""
    folder.mkdir(parents=True, exist_ok=True)
    body = "\n".join("  " + line if line.strip() else line for line in source_yaml.strip("\n").splitlines())
    path = folder / "annexa.yaml"
    path.write_text(f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
                    f"sources:\n{body}\n{extra}")
    return path


@dataclass
class Collected:
    resources: list[Resource]
    errors: list[CollectionError]
    cursor: dict[str, Any]

    def of(self, rtype: str) -> dict[str, Resource]:
        return {r.id: r for r in self.resources if r.type == rtype}

    def error_text(self, rtype: str) -> str:
        return " | ".join(e.message for e in self.errors if e.resource_type == rtype)


def collect(config_path: Path, source: str, saved_cursor: dict[str, Any] | None = None) -> Collected:
    """The collector of `source` alone, with the runner's own HTTP client factory."""
    config = load_config(config_path)
    src = config.source(source)
    cls = get_collector(src.type)
    saved = dict(saved_cursor or {})
    cursor = Cursor(lambda key: saved.get(key))
    ctx = CollectorContext(source=src, options=cls.Options.model_validate(src.options()),
                           logger=logging.getLogger(f"annexa.collector.{source}"), progress=Progress(),
                           cursor=cursor, http_factory=default_http_factory(src))
    resources = list(cls(ctx).collect())
    return Collected(resources, ctx.errors, {**saved, **cursor.pending})


@functools.cache
def shipped_rules() -> tuple[Any, ...]:
    return tuple(load_rules(known_types=set(known_resource_types())))


@dataclass
class PipelineRun:
    result: Any
    store: EvidenceStore
    findings: list[dict[str, Any]]

    def status(self, rule: str, resource_id: str) -> str:
        matches = [f["status"] for f in self.findings if f["rule_id"] == rule and f["resource_id"] == resource_id]
        assert matches, f"no finding for {rule} on {resource_id}; have: " + ", ".join(
            sorted({f["resource_id"] for f in self.findings if f["rule_id"] == rule}))
        assert len(matches) == 1, matches
        return matches[0]

    def message(self, rule: str, resource_id: str) -> str:
        return next(f["message"] for f in self.findings if f["rule_id"] == rule and f["resource_id"] == resource_id)

    def by_rule(self, rule: str) -> dict[str, str]:
        return {f["resource_id"]: f["status"] for f in self.findings if f["rule_id"] == rule}

    @property
    def errors(self) -> list[Any]:
        return [e for s in self.result.sources.values() for e in s.errors]


def run_pipeline(config_path: Path, now: datetime | None = None) -> PipelineRun:
    """One `annexa run` pass (in process) with the shipped rule packs; the current findings after it."""
    config = load_config(config_path)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(shipped_rules(), now=now, params=config.param_resolver())
    result = Runner(config, store, rules).run(select_sources(config, None, None))
    return PipelineRun(result, store, list(store.current_findings()))


def stored_evidence(folder: Path) -> bytes:
    """Every evidence blob under `folder` (packed or loose, decompressed), with every other file's bytes."""
    from tests.support.evidence import everything_stored

    return everything_stored(folder)
