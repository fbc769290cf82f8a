"""GCP tests run the real collector, the real shared HTTP client and the real rule engine against the
GCP fake (`agent.fakeapi.gcp`) on loopback; Resource Manager goes through google-cloud-resource-manager."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.fakeapi import FakeApi
from agent.fakeapi import gcp as fake_gcp
from agent.fakeapi.gcp_world import GcpWorld
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, select_sources
from agent.store.store import EvidenceStore
from collectors.registry import known_resource_types

TOKEN = "ya29.test-static-token"
TOKEN_ENV = "ANNEXA_TEST_GCP_TOKEN"


def new_world(**kw: Any) -> GcpWorld:
    world = GcpWorld(**kw)
    world.tokens.add(TOKEN)
    return world


@pytest.fixture
def world() -> GcpWorld:
    return new_world()


@pytest.fixture
def fake(world: GcpWorld) -> Iterator[FakeApi]:
    api = fake_gcp.start(world)
    yield api
    api.stop()


@dataclass
class GcpRun:
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

    def evidence(self, rule: str, resource_id: str) -> dict[str, Any]:
        """The stored evidence (raw API JSON plus derived keys) a finding rests on."""
        digest = next(f["evidence"] for f in self.findings if f["rule_id"] == rule and f["resource_id"] == resource_id)
        return json.loads(self.store.blobs.get_bytes(digest))["data"]


@functools.cache
def builtin_rules() -> tuple[Any, ...]:
    return tuple(load_rules(known_types=set(known_resource_types())))


def write_config(tmp_path: Path, fake_url: str, options: str = "", extra: str = "", *,
                 token_env: str | None = TOKEN_ENV) -> Path:
    path = tmp_path / "annexa.yaml"
    token = f"    token_env: {token_env}\n" if token_env else ""
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n  evidence: {tmp_path / 'evidence'}\n"
                    f"{extra}sources:\n  - name: gcp-main\n    type: gcp\n    endpoint: {fake_url}\n{token}{options}")
    return path


def run_gcp(tmp_path: Path, fake: FakeApi, monkeypatch: pytest.MonkeyPatch, options: str = "", extra: str = "",
            now: Any = None, token_env: str | None = TOKEN_ENV) -> GcpRun:
    """The real pipeline (collector -> rules -> store) with the shipped rules; the current findings."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = load_config(write_config(tmp_path, fake.url, options, extra, token_env=token_env))
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(builtin_rules(), now=now, params=config.param_resolver())
    result = Runner(config, store, rules).run(select_sources(config, None, None))
    return GcpRun(result, store, list(store.current_findings()))


@dataclass
class Collected:
    resources: list[Any]
    errors: list[Any]
    cursor: dict[str, Any]

    def ids(self, type_: str) -> set[str]:
        return {r.id for r in self.resources if r.type == type_}

    def one(self, type_: str, resource_id: str) -> Any:
        found = [r for r in self.resources if r.type == type_ and r.id == resource_id]
        assert len(found) == 1, (resource_id, sorted(self.ids(type_)))
        return found[0]


def collect(fake: FakeApi, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any] | None = None, *,
            token_env: str | None = TOKEN_ENV, endpoint: str | None = "", cursor: dict[str, Any] | None = None,
            rate_limit: float | None = None, max_concurrency: int = 8) -> Collected:
    """The collector alone (no store), with the runner's own HTTP client factory."""
    from agent.config import SourceConfig
    from agent.runner import default_http_factory
    from collectors.base import CollectorContext, Cursor, Progress
    from collectors.gcp import GcpCollector

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    source = SourceConfig(name="gcp-main", type="gcp", endpoint=fake.url if endpoint == "" else endpoint,
                          token_env=token_env, rate_limit=rate_limit, max_concurrency=max_concurrency,
                          **(options or {}))
    saved = dict(cursor or {})
    ctx = CollectorContext(source=source, options=GcpCollector.Options.model_validate(source.options()),
                           logger=logging.getLogger("test.gcp"), progress=Progress(),
                           cursor=Cursor(lambda key: saved.get(key)), http_factory=default_http_factory(source))
    resources = list(GcpCollector(ctx).collect())
    return Collected(resources, list(ctx.errors), {**saved, **ctx.cursor.pending})
