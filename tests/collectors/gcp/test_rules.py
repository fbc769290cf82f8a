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


def test_rules_skip_what_they_do_not_apply_to(scenario: tuple[acme.Acme, GcpRun]) -> None:
    built, run = scenario
    assert built.ids["signing"] not in run.by_rule("gcp.kms.key_rotation")  # asymmetric
    assert built.ids["ekm"] not in run.by_rule("gcp.kms.key_rotation")  # rotated in the external key manager
    assert built.ids["replica"] not in run.by_rule("gcp.sql.automated_backups")
    assert built.ids["gke"] not in run.by_rule("gcp.compute.instance_no_public_ip")
    assert built.ids["internal_fw"] not in run.by_rule("gcp.compute.firewall_no_public_admin_ports")
    assert built.ids["disabled_fw"] not in run.by_rule("gcp.compute.firewall_no_public_admin_ports")
    assert run.status("gcp.compute.firewall_no_public_database_ports", built.ids["internal_fw"].replace(
        "allow-all-internal", "allow-ssh-world")) == "pass"
    assert run.status("gcp.compute.firewall_no_public_database_ports", built.ids["internal_fw"].replace(
        "allow-all-internal", "allow-range-v6")) == "fail"  # 1000-4000 covers 1433, 3306, ...


def test_dev_sql_is_not_enabled_so_its_rules_are_errors(scenario: tuple[acme.Acme, GcpRun]) -> None:
    _, run = scenario
    (error,) = [e for e in run.errors if e.resource_type == "gcp.sql.instance"]
    assert error.account == acme.DEV and error.message.startswith("not_enabled: ")
    scope = f"annexa:collection/gcp-main/{acme.DEV}/-/gcp.sql.instance"
    assert run.status("gcp.sql.ssl_required", scope) == "error"
    assert len(run.errors) == 1


def test_messages_name_what_is_wrong(scenario: tuple[acme.Acme, GcpRun]) -> None:
    built, run = scenario
    prod = acme.RM + "projects/1001"
    assert "user:bob@acme.example" in run.message("gcp.iam.no_basic_roles_for_people", prod)
    assert "until-2030" in run.message("gcp.iam.no_basic_roles_for_people", prod)
    assert "contractor@gmail.com" in run.message("gcp.iam.members_in_company_domains", prod)
    ssh = acme.compute_id(acme.PROD, "global/firewalls/allow-ssh-world")
    assert "[22]" in run.message("gcp.compute.firewall_no_public_admin_ports", ssh)
    assert "[3389]" in run.message("gcp.compute.firewall_no_public_admin_ports",
                                   acme.compute_id(acme.PROD, "global/firewalls/allow-range-v6"))
    assert "mallory@acme.example" in run.message("gcp.logging.no_log_sink_removed", built.ids["prod_activity"])
