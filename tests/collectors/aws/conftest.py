"""AWS tests run against a real moto server on loopback; every test starts from an empty cloud."""

from __future__ import annotations

import functools
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from agent.config import load_config
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, select_sources
from agent.store.store import EvidenceStore
from collectors.registry import known_resource_types

ACCOUNT = "123456789012"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


ACCOUNT_HOST = re.compile(r"^\d{12}\.(127\.0\.0\.1)$")


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto account reachable through AWS_ENDPOINT_URL with dummy credentials.

    botocore addresses S3 Control at `<account-id>.<endpoint host>`; `<12 digits>.127.0.0.1` is
    resolved to loopback here (what a hosts-file entry would do) so moto serves it for real.
    """
    guarded = socket.getaddrinfo  # the loopback-only guard from tests/conftest.py

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        match = ACCOUNT_HOST.match(host) if isinstance(host, str) else None
        return guarded(match.group(1) if match else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    # A reset rebuilds every IAM backend before discarding it; without managed policies that is
    # instant (they load again, lazily, for the accounts the test uses).
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    requests.post(f"{moto_server}/moto-api/reset", timeout=60)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    return moto_server


@dataclass
class AwsRun:
    """The outcome of a full pipeline run (collector → rules → store) over the moto account."""

    result: Any
    store: EvidenceStore
    findings: list[dict[str, Any]]

    def status(self, rule: str, resource_id: str) -> str:
        matches = [f["status"] for f in self.findings if f["rule_id"] == rule and f["resource_id"] == resource_id]
        assert matches, f"no finding for {rule} on {resource_id}; have: " + ", ".join(
            sorted({f["resource_id"] for f in self.findings if f["rule_id"] == rule}))
        assert len(matches) == 1, matches
        return matches[0]

    def by_rule(self, rule: str) -> dict[str, str]:
        return {f["resource_id"]: f["status"] for f in self.findings if f["rule_id"] == rule}

    @property
    def errors(self) -> list[Any]:
        return [e for s in self.result.sources.values() for e in s.errors]


@functools.cache
def builtin_rules() -> tuple[Any, ...]:
    """The shipped rule packs, parsed once per test session."""
    return tuple(load_rules(known_types=set(known_resource_types())))


def run_aws(tmp_path: Path, options: str = "    regions: [us-east-1]\n", now: Any = None) -> AwsRun:
    """Run the real pipeline with the built-in AWS rule pack; return the current findings."""
    cfg_path = tmp_path / "annexa.yaml"
    cfg_path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n  evidence: {tmp_path / 'evidence'}\n"
                        f"sources:\n  - name: aws-main\n    type: aws\n{options}")
    config = load_config(cfg_path)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = builtin_rules()
    result = Runner(config, store, RuleSet(rules, now=now)).run(select_sources(config, None, None))
    return AwsRun(result, store, list(store.current_findings()))
