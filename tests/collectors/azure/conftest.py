"""Azure tests run the real collector, the real HTTP client and the real rule engine against the
Azure fake (`agent.fakeapi.azure`) on loopback, authenticated with a static token from `token_env`."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.fakeapi import FakeApi
from agent.fakeapi.azure import AzureTenant, acme, serve
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, select_sources
from agent.store.store import EvidenceStore
from collectors.registry import known_resource_types

TOKEN = "test-token-not-a-secret"


@functools.cache
def builtin_rules() -> tuple[Any, ...]:
    return tuple(load_rules(known_types=set(known_resource_types())))


@dataclass
class AzureRun:
    result: Any
    store: EvidenceStore
    findings: list[dict[str, Any]]

    def status(self, rule: str, resource_id: str) -> str:
        """The finding's status; ARM ids compare without regard to case, as Azure does."""
        matches = [f["status"] for f in self.findings
                   if f["rule_id"] == rule and f["resource_id"].lower() == resource_id.lower()]
        assert matches, f"no finding for {rule} on {resource_id}; have: " + ", ".join(
            sorted({f["resource_id"] for f in self.findings if f["rule_id"] == rule}))
        assert len(matches) == 1, matches
        return matches[0]

    def message(self, rule: str, resource_id: str) -> str:
        return next(f["message"] for f in self.findings
                    if f["rule_id"] == rule and f["resource_id"].lower() == resource_id.lower())

    def by_rule(self, rule: str) -> dict[str, str]:
        return {f["resource_id"]: f["status"] for f in self.findings if f["rule_id"] == rule}

    @property
    def errors(self) -> list[Any]:
        return [e for s in self.result.sources.values() for e in s.errors]


def collect(fake: FakeApi, cursor: dict[str, Any] | None = None, *, arm_key: str = "arm_endpoint",
            **options: Any) -> tuple[list[Any], list[Any], Any]:
    """Run the collector alone (no rules, no store): (resources, collection errors, cursor). `arm_key` is the
    key that names the fake as the ARM endpoint (`endpoint`, the key every HTTP source has, works too)."""
    import logging

    from agent.config import SourceConfig
    from agent.runner import default_http_factory
    from collectors.azure import AzureCollector, AzureOptions
    from collectors.base import CollectorContext, Cursor, Progress

    src = SourceConfig.model_validate({"name": "az", "type": "azure", "token_env": "AZURE_TEST_TOKEN",
                                       arm_key: fake.url, "graph_endpoint": fake.url, **options})
    saved = dict(cursor or {})
    ctx = CollectorContext(source=src, options=AzureOptions.model_validate(src.options()),
                           logger=logging.getLogger("annexa.collector.az"), progress=Progress(),
                           cursor=Cursor(saved.get), http_factory=default_http_factory(src))
    resources = list(AzureCollector(ctx).collect())
    return resources, ctx.errors, ctx.cursor


def stored_bytes(folder: Path) -> bytes:
    """Every byte a run left under `folder`: database files, and each evidence blob decompressed."""
    from tests.support.evidence import everything_stored

    return everything_stored(folder)


def source_yaml(fake: FakeApi, options: str = "", name: str = "az") -> str:
    return (f"  - name: {name}\n    type: azure\n    token_env: AZURE_TEST_TOKEN\n"
            f"    arm_endpoint: {fake.url}\n    graph_endpoint: {fake.url}\n{options}")


def run_azure(tmp_path: Path, fake: FakeApi, options: str = "", now: datetime | None = None,
              store_name: str = "annexa.db") -> AzureRun:
    """The real pipeline (collector -> rules -> store) over the fake; the current findings."""
    cfg = tmp_path / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{tmp_path / store_name}\n  evidence: {tmp_path / 'evidence'}\n"
                   f"sources:\n{source_yaml(fake, options)}")
    config = load_config(cfg)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    result = Runner(config, store, RuleSet(builtin_rules(), now=now)).run(select_sources(config, None, None))
    return AzureRun(result, store, list(store.current_findings()))


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AZURE_TEST_TOKEN", TOKEN)
    return TOKEN


def started(tenant: AzureTenant, **kwargs: Any) -> FakeApi:
    tenant.static_tokens.setdefault(TOKEN, None)
    return serve(tenant, **kwargs)


@pytest.fixture
def acme_world(token: str) -> Iterator[tuple[FakeApi, AzureTenant, dict[str, str]]]:
    tenant, ids = acme.build()
    fake = started(tenant)
    try:
        yield fake, tenant, ids
    finally:
        fake.stop()


@pytest.fixture
def empty_tenant(token: str) -> Iterator[tuple[FakeApi, AzureTenant]]:
    tenant = AzureTenant()
    fake = started(tenant)
    try:
        yield fake, tenant
    finally:
        fake.stop()
