"""Key Vaults (per subscription) and the metadata of their keys and secrets.

Keys and secrets are listed through ARM (`vaults/{v}/keys`, `vaults/{v}/secrets`): names, enabled
state, expiry. Those lists never carry secret values, and the collector never calls the data plane;
any `value` a response might still hold is dropped before anything is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec

VAULT = "azure.keyvault.vault"
KEY = "azure.keyvault.key"
SECRET = "azure.keyvault.secret"


def collect(scope: Scope) -> Iterator[Resource]:
    try:
        vaults = list(scope.api.arm_list(f"/subscriptions/{scope.subscription_id}/providers/"
                                         "Microsoft.KeyVault/vaults"))
    except HttpError as exc:
        for rtype in (VAULT, KEY, SECRET):
            scope.fail(rtype, exc)
        return
    for batch in scope.map(lambda vault: list(_vault(scope, vault)), vaults):
        yield from batch


def _vault(scope: Scope, vault: dict[str, Any]) -> Iterator[Resource]:
    counts: dict[str, int | None] = {}
    for kind, rtype in (("keys", KEY), ("secrets", SECRET)):
        try:
            items = list(scope.api.arm_list(f"{vault['id']}/{kind}"))
        except HttpError as exc:
            scope.fail(rtype, f"vault {vault['name']}: {describe(exc)}")
            counts[kind] = None
            continue
        counts[kind] = len(items)
        for item in items:
            data = _metadata(item)
            data["VaultId"] = vault["id"]
            data["VaultName"] = vault["name"]
            yield scope.resource(rtype, item["id"], f"{vault['name']}/{item['name']}", data,
                                 region=vault.get("location"))
    yield scope.resource(VAULT, vault["id"], vault["name"], {**vault, "KeyCount": counts["keys"],
                                                            "SecretCount": counts["secrets"]})


def _metadata(item: dict[str, Any]) -> dict[str, Any]:
    data = dict(item)
    props = dict(data.get("properties") or {})
    props.pop("value", None)
    data["properties"] = props
    return data


SERVICE = ServiceSpec("keyvault", "subscription", {
    VAULT: "a Key Vault (soft delete, purge protection, RBAC authorisation, network access)",
    KEY: "a Key Vault key's metadata (enabled, expiry); never key material",
    SECRET: "a Key Vault secret's metadata (enabled, expiry); never the value",
}, collect)
