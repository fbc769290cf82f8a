"""Every GCP rule passes and fails on real resources collected from the fake, asserted by full resource name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.fakeapi import gcp as fake_gcp
from agent.rules.loader import load_rules
from collectors.registry import known_resource_types
from tests.collectors.gcp import acme
from tests.collectors.gcp.conftest import GcpRun, new_world, run_gcp

OPTIONS = "    params: {allowed_domains: [partner.example]}\n"
IDENTITY = "identity:\n  domains: [acme.example]\n"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[acme.Acme, GcpRun]]:
    world = new_world()
    built = acme.build(world)
    fake = fake_gcp.start(world)
    with pytest.MonkeyPatch.context() as mp:
        yield built, run_gcp(tmp_path_factory.mktemp("gcp-rules"), fake, mp, OPTIONS, IDENTITY)
    fake.stop()


def gcp_rule_ids() -> list[str]:
    return sorted(r.id for r in load_rules(known_types=set(known_resource_types())) if r.provider == "gcp")


def test_every_gcp_rule_has_a_passing_and_a_failing_resource(scenario: tuple[acme.Acme, GcpRun]) -> None:
    built, _ = scenario
    assert len(gcp_rule_ids()) >= 25
    assert sorted(built.expected) == gcp_rule_ids()
    assert all(passing and failing for passing, failing in built.expected.values())


@pytest.mark.parametrize("rule", gcp_rule_ids())
def test_rule_verdicts(scenario: tuple[acme.Acme, GcpRun], rule: str) -> None:
    built, run = scenario
    passing, failing = built.expected[rule]
    for resource_id in passing:
        assert run.status(rule, resource_id) == "pass", run.message(rule, resource_id)
    for resource_id in failing:
        assert run.status(rule, resource_id) == "fail", run.message(rule, resource_id)
