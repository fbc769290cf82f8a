"""Which subscriptions are read: all visible ones, a configured list, or a management group; parallel
and bounded; unreadable ones are errors, disabled ones are inventoried only; options are checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.fakeapi import FakeApi
from agent.fakeapi.azure import AzureTenant, acme, infra
from collectors.azure import AzureOptions
from tests.collectors.azure.conftest import collect, run_azure

ARM_ONLY = "    services: [storage, keyvault, network, defender]\n"
UNKNOWN = "44444444-aaaa-4bbb-8ccc-000000000004"


def subscriptions_read(fake: FakeApi) -> set[str]:
    return {c.path.split("/")[2].lower() for c in fake.log
            if c.path.startswith("/subscriptions/") and "/providers/" in c.path}


def test_every_visible_subscription_by_default(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                               tmp_path: Path) -> None:
    fake, _tenant, _ids = acme_world
    run = run_azure(tmp_path, fake, ARM_ONLY)
    assert subscriptions_read(fake) == {acme.PROD, acme.DEV, acme.SANDBOX}
    assert run.errors == []
    assert {f["resource_id"].split("/")[2] for f in run.findings
            if f["rule_id"] == "azure.security.contact_email"} == {acme.PROD, acme.DEV, acme.SANDBOX}


def test_a_configured_list_and_an_invisible_subscription(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                         tmp_path: Path) -> None:
    fake, _tenant, ids = acme_world
    run = run_azure(tmp_path, fake, f"    subscriptions: [{acme.PROD.upper()}, {UNKNOWN}]\n" + ARM_ONLY)
    assert subscriptions_read(fake) == {acme.PROD}
    missing = [e for e in run.errors if e.account == UNKNOWN]
    assert missing and all(e.message.startswith("not_found: SubscriptionNotFound") for e in missing)
    assert {e.resource_type for e in missing} >= {"azure.subscription", "azure.storage.account"}
    assert run.status("azure.storage.https_only", ids["storage_good"]) == "pass"
    assert run.result.status == "partial"


def test_a_management_group_selects_its_descendant_subscriptions(
        acme_world: tuple[FakeApi, AzureTenant, dict[str, str]], tmp_path: Path) -> None:
    fake, tenant, ids = acme_world
    tenant.management_groups["acme-root"] = [
        infra.management_group_descendant("acme-platform", "Platform", "acme-root", subscription_=False),
        infra.management_group_descendant(acme.PROD, "Acme Production", "acme-platform", subscription_=True),
        infra.management_group_descendant(acme.DEV, "Acme Development", "acme-root", subscription_=True),
    ]
    tenant.arm_page_size = 1
    run = run_azure(tmp_path, fake, "    management_group: acme-root\n" + ARM_ONLY)
    assert subscriptions_read(fake) == {acme.PROD, acme.DEV}
    assert run.errors == []
    assert fake.calls("GET", r"/providers/Microsoft\.Management/managementGroups/acme-root/descendants$")
    assert run.status("azure.storage.https_only", ids["storage_bad"]) == "fail"


def test_an_unreadable_management_group_is_an_error(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                    tmp_path: Path) -> None:
    fake, _tenant, _ids = acme_world
    run = run_azure(tmp_path, fake, "    management_group: nobody-knows\n" + ARM_ONLY)
    assert subscriptions_read(fake) == set()
    assert run.errors and all("management group nobody-knows: denied: AuthorizationFailed" in e.message
                              for e in run.errors)


def test_disabled_subscriptions_are_inventoried_not_read(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                         tmp_path: Path) -> None:
    fake, tenant, _ids = acme_world
    tenant.subscriptions[acme.SANDBOX]["state"] = "Disabled"
    resources, errors, _cursor = collect(fake, services=["storage"])
    assert subscriptions_read(fake) == {acme.PROD, acme.DEV} and errors == []
    inventory = {r.id: r.data["state"] for r in resources if r.type == "azure.subscription"}
    assert inventory == {f"/subscriptions/{acme.PROD}": "Enabled", f"/subscriptions/{acme.DEV}": "Enabled",
                         f"/subscriptions/{acme.SANDBOX}": "Disabled"}


def test_no_visible_subscription_is_an_error_not_silence(empty_tenant: tuple[FakeApi, AzureTenant],
                                                         tmp_path: Path) -> None:
    fake, _tenant = empty_tenant
    run = run_azure(tmp_path, fake, ARM_ONLY)
    assert run.errors and all(e.message.startswith("denied: no subscription is visible") for e in run.errors)


def test_subscriptions_are_read_in_parallel_within_the_limit(
        acme_world: tuple[FakeApi, AzureTenant, dict[str, str]], tmp_path: Path) -> None:
    fake, _tenant, _ids = acme_world
    fake.latency = 0.05
    run_azure(tmp_path, fake, "    max_concurrency: 3\n" + ARM_ONLY)
    assert fake.max_in_flight == 3  # never more than the source's limit, and it was reached
    fake.max_in_flight = 0
    (tmp_path / "serial").mkdir()
    run_azure(tmp_path / "serial", fake, "    max_concurrency: 1\n" + ARM_ONLY)
    assert fake.max_in_flight == 1


@pytest.mark.parametrize(("options", "field"), [
    ({"subscriptions": ["not-a-guid"]}, "subscriptions"),
    ({"subscriptions": []}, "subscriptions"),
    ({"arm_endpoint": "management.azure.com"}, "arm_endpoint"),
    ({"credential": "password"}, "credential"),
    ({"services": ["storage", "mainframe"]}, "services"),
    ({"tenant_id": "not a tenant"}, "tenant_id"),
    ({"logs_lookback_days": 400}, "logs_lookback_days"),
    ({"subscription": "typo"}, "subscription"),
])
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AzureOptions.model_validate(options)
    assert caught.value.errors()[0]["loc"][0] == field


def test_a_bad_option_in_annexa_yaml_is_exit_2_naming_the_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "annexa.yaml").write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\nsources:\n  - name: az\n    type: azure\n"
        "    subscriptions: [12345]\n")
    done = subprocess.run([sys.executable, "-m", "agent", "--config", str(tmp_path / "annexa.yaml"), "run"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "annexa.yaml:6" in done.stderr and "subscriptions" in done.stderr and "Traceback" not in done.stderr


def test_the_common_endpoint_key_names_arm(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]]) -> None:
    fake, _tenant, _ids = acme_world
    resources, errors, _ = collect(fake, arm_key="endpoint", services=["storage"])
    assert errors == [] and any(r.type == "azure.storage.account" for r in resources)
