"""The demo's simulated Azure tenant: collected by the real Azure collector, violations and twins, fixes."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from agent.demo.providers import discover
from agent.demo.providers.azure import TOKEN_ENV, AzureDemo
from agent.fakeapi.azure import acme
from tests.collectors.azure.conftest import AzureRun, builtin_rules


def run_demo_source(tmp_path: Path, demo: AzureDemo) -> AzureRun:
    from agent.config import load_config
    from agent.rules.engine import RuleSet
    from agent.runner import Runner, select_sources
    from agent.store.store import EvidenceStore

    cfg = tmp_path / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{tmp_path / 'demo.db'}\n  evidence: {tmp_path / 'ev'}\nsources:\n"
                   + "\n".join("  " + line for line in demo.source_yaml().splitlines()) + "\n")
    config = load_config(cfg)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    result = Runner(config, store, RuleSet(builtin_rules())).run(select_sources(config, None, None))
    return AzureRun(result, store, list(store.current_findings()))


def test_the_azure_tenant_is_discovered() -> None:
    assert any(isinstance(p, AzureDemo) for p in discover())


def test_demo_tenant_collects_quickly_with_violations_twins_and_fixes(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    demo = AzureDemo()
    demo.start(tmp_path / "sources" / demo.source, date.today())
    try:
        for key, value in demo.env().items():
            monkeypatch.setenv(key, value)
        assert TOKEN_ENV in demo.env() and demo.token not in demo.source_yaml()  # the secret stays in the env
        began = time.monotonic()
        first = run_demo_source(tmp_path, demo)
        seconds = time.monotonic() - began
        assert first.errors == []
        assert seconds < 10, seconds  # collection alone is well under two seconds; rules and store add the rest
        assert first.result.sources["demo-azure"].seconds < 2.0
        ids = demo.ids
        assert first.status("azure.network.nsg_ssh_not_open_to_internet", ids["nsg_bad"]) == "fail"
        assert first.status("azure.network.nsg_ssh_not_open_to_internet", ids["nsg_good"]) == "pass"
        assert first.status("azure.entra.user_mfa_registered",
                            f"https://graph.microsoft.com/v1.0/users/{ids['user_dave']}") == "fail"
        changes = demo.apply_fixes()
        assert len(changes) == 3 and all(c.startswith(("Azure", "Entra")) for c in changes)
        second = run_demo_source(tmp_path, demo)
        assert second.status("azure.network.nsg_ssh_not_open_to_internet", ids["nsg_bad"]) == "pass"
        assert second.status("azure.entra.user_mfa_registered",
                             f"https://graph.microsoft.com/v1.0/users/{ids['user_dave']}") == "pass"
        tenant = f"https://graph.microsoft.com/v1.0/organization/{acme.TENANT}"
        assert first.status("azure.entra.mfa_required_for_all_users", tenant) == "fail"
        assert second.status("azure.entra.mfa_required_for_all_users", tenant) == "pass"
    finally:
        demo.stop()
