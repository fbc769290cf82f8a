"""Azure SQL logical servers (auditing, Entra administrator, firewall) and their databases (TDE).

Firewall rules are judged by range: `0.0.0.0` to `255.255.255.255` opens the server to the whole
Internet; `0.0.0.0` to `0.0.0.0` is Azure's "allow Azure services and resources" switch, which admits
every Azure tenant's resources — a different, smaller finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec

SERVER = "azure.sql.server"
DATABASE = "azure.sql.database"


def collect(scope: Scope) -> Iterator[Resource]:
    try:
        servers = list(scope.api.arm_list(f"/subscriptions/{scope.subscription_id}/providers/Microsoft.Sql/servers"))
    except HttpError as exc:
        scope.fail(SERVER, exc)
        scope.fail(DATABASE, exc)
        return
    for batch in scope.map(lambda server: list(_server(scope, server)), servers):
        yield from batch


def _part(scope: Scope, data: dict[str, Any], key: str, path: str, *, listing: bool) -> None:
    try:
        data[key] = list(scope.api.arm_list(path)) if listing else scope.api.arm_get(path)
        data[f"{key}Error"] = None
    except HttpError as exc:
        data[key], data[f"{key}Error"] = None, describe(exc)


def _server(scope: Scope, server: dict[str, Any]) -> Iterator[Resource]:
    data = dict(server)
    _part(scope, data, "Auditing", f"{server['id']}/auditingSettings/default", listing=False)
    _part(scope, data, "EntraAdministrators", f"{server['id']}/administrators", listing=True)
    _part(scope, data, "FirewallRules", f"{server['id']}/firewallRules", listing=True)
    rules = data["FirewallRules"] or []
    data["OpenToInternet"] = [r["name"] for r in rules if _range(r) == ("0.0.0.0", "255.255.255.255")]
    data["AllowsAllAzureServices"] = any(_range(r) == ("0.0.0.0", "0.0.0.0") for r in rules)
    yield scope.resource(SERVER, server["id"], server["name"], data)
    try:
        databases = list(scope.api.arm_list(f"{server['id']}/databases"))
    except HttpError as exc:
        scope.fail(DATABASE, f"server {server['name']}: {describe(exc)}")
        return
    for database in databases:
        db = dict(database)
        db["ServerName"] = server["name"]
        _part(scope, db, "TransparentDataEncryption", f"{database['id']}/transparentDataEncryption/current",
              listing=False)
        yield scope.resource(DATABASE, database["id"], f"{server['name']}/{database['name']}", db)


def _range(rule: dict[str, Any]) -> tuple[str, str]:
    props = rule.get("properties") or {}
    return str(props.get("startIpAddress", "")).strip(), str(props.get("endIpAddress", "")).strip()


SERVICE = ServiceSpec("sql", "subscription", {
    SERVER: "an Azure SQL logical server with its auditing, Entra administrator and firewall rules",
    DATABASE: "an Azure SQL database with its transparent data encryption state",
}, collect)
