"""The simulated Google Cloud organisation of `annexa demo`: quick to collect, violations beside compliant
twins, and the team's fixes between the two runs show as fail -> pass."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import load_config
from agent.demo.providers import discover
from agent.demo.providers.gcp import GcpDemo
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, select_sources
from agent.store.store import EvidenceStore
from collectors.registry import known_resource_types

BUCKET = "//storage.googleapis.com/projects/_/buckets/"
FIREWALL = "//compute.googleapis.com/projects/acme-web-prod/global/firewalls/"
PROD = "//cloudresourcemanager.googleapis.com/projects/710000000001"


def test_the_gcp_tenant_is_discovered() -> None:
    assert any(isinstance(p, GcpDemo) for p in discover())


def test_two_demo_runs_over_the_simulated_organisation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = GcpDemo()
    demo.start(tmp_path / "sources" / demo.source, datetime.now(UTC).date())
    try:
        for key, value in demo.env().items():
            monkeypatch.setenv(key, value)
        block = "\n".join("  " + line for line in demo.source_yaml().splitlines())
        path = tmp_path / "annexa.yaml"
        path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\n"
                        f"sources:\n{block}\nidentity:\n  domains: [acme.example]\n")
        config = load_config(path)
        store = EvidenceStore.open(config.store_url, config.evidence_dir)
        rules = RuleSet(load_rules(known_types=set(known_resource_types())), params=config.param_resolver())
        first = Runner(config, store, rules).run(select_sources(config, None, None))
        summary = first.sources[demo.source]
        assert summary.errors == [] and summary.seconds < 2.0, (summary.errors, summary.seconds)
        findings = {(f["rule_id"], f["resource_id"]): f["status"] for f in store.current_findings()}
        assert findings[("gcp.storage.bucket_not_public", BUCKET + "acme-web-assets")] == "fail"
        assert findings[("gcp.storage.bucket_not_public", BUCKET + "acme-audit-archive")] == "pass"
        assert findings[("gcp.compute.firewall_no_public_admin_ports", FIREWALL + "allow-ssh-anywhere")] == "fail"
        assert findings[("gcp.compute.firewall_no_public_admin_ports", FIREWALL + "allow-https")] == "pass"
        assert findings[("gcp.iam.members_in_company_domains", PROD)] == "fail"
        assert findings[("gcp.iam.no_risky_grants_recorded", "//logging.googleapis.com/projects/acme-web-prod/logs/"
                         "cloudaudit.googleapis.com%2Factivity")] == "fail"
        statuses = set(findings.values())
        assert {"pass", "fail"} <= statuses and len({r for r, _ in findings}) >= 30
        assert len(demo.apply_fixes()) == 3
        Runner(config, store, rules).run(select_sources(config, None, None))
        after = {(f["rule_id"], f["resource_id"]): f["status"] for f in store.current_findings()}
        assert after[("gcp.storage.bucket_not_public", BUCKET + "acme-web-assets")] == "pass"
        assert after[("gcp.iam.members_in_company_domains", PROD)] == "pass"
        assert ("gcp.compute.firewall_no_public_admin_ports", FIREWALL + "allow-ssh-anywhere") not in after
        store.close()
    finally:
        demo.stop()
    assert demo.fake is None
