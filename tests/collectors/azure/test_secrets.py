"""Secret values never reach the store, even if an API answer carried one."""

from __future__ import annotations

from pathlib import Path

from agent.fakeapi import FakeApi
from agent.fakeapi.azure import AzureTenant
from tests.collectors.azure.conftest import run_azure, stored_bytes

CANARY = "canary-value-that-must-not-be-stored"


def test_secret_values_and_client_secrets_are_dropped(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                      tmp_path: Path) -> None:
    fake, tenant, ids = acme_world
    tenant.arm[ids["secret_bad"].lower()]["properties"]["value"] = CANARY       # as a PUT body would carry it
    app = next(a for a in tenant.applications if a["id"] == ids["app_bad"])
    app["passwordCredentials"][0]["secretText"] = CANARY                       # as creation returns it
    app["keyCredentials"] = [{**app["passwordCredentials"][0], "key": CANARY, "type": "AsymmetricX509Cert",
                              "usage": "Verify"}]
    run = run_azure(tmp_path, fake)
    assert run.errors == []
    stored = stored_bytes(tmp_path)
    assert ids["app_bad"].encode() in stored and b"Acme Development" in stored  # the search sees the evidence
    assert CANARY.encode() not in stored
    assert run.status("azure.keyvault.secret_expiry_set", ids["secret_bad"]) == "fail"  # still judged
