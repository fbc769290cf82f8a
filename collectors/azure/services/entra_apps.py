"""Entra ID applications and service principals with the credentials they authenticate with.

Only credential metadata is read (`keyId`, names, validity): Graph never returns a client secret's
value after creation (`secretText` is null), and certificate bodies (`key`) are dropped. Each
credential gets `LifetimeDays`/`LifetimeYears` (end minus start), so rules can judge long-lived
secrets. Service principals are kept when the tenant owns their application or when they carry
credentials of their own; managed identities are excluded (Azure rotates their certificates).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec
from collectors.azure.services.logstate import parse

APPLICATION = "azure.entra.application"
SERVICE_PRINCIPAL = "azure.entra.service_principal"
APP_FIELDS = "id,appId,displayName,createdDateTime,signInAudience,passwordCredentials,keyCredentials"
SECRET_FIELDS = frozenset({"secretText", "key"})  # a secret's value, a certificate's body
SP_FIELDS = ("id,appId,displayName,accountEnabled,servicePrincipalType,appOwnerOrganizationId,"
             "passwordCredentials,keyCredentials")


def credentials(item: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for kind, key in (("password", "passwordCredentials"), ("certificate", "keyCredentials")):
        for cred in item.get(key) or []:
            start, end = parse(cred.get("startDateTime")), parse(cred.get("endDateTime"))
            days = (end - start).total_seconds() / 86400 if start and end else None
            out.append({"type": kind, "keyId": cred.get("keyId"), "displayName": cred.get("displayName"),
                        "startDateTime": cred.get("startDateTime"), "endDateTime": cred.get("endDateTime"),
                        "LifetimeDays": None if days is None else round(days, 1),
                        "LifetimeYears": None if days is None else round(days / 365.25, 2)})
    return out


def _clean(item: dict[str, Any]) -> dict[str, Any]:
    data = dict(item)
    for key in ("passwordCredentials", "keyCredentials"):
        data[key] = [{k: v for k, v in c.items() if k not in SECRET_FIELDS} for c in item.get(key) or []
                     if isinstance(c, dict)]
    data["Credentials"] = credentials(item)
    return data


def collect(scope: Scope) -> Iterator[Resource]:
    try:
        for app in scope.api.graph_list("/applications", {"$select": APP_FIELDS, "$top": 999}):
            yield scope.resource(APPLICATION, scope.graph_id(f"applications/{app['id']}"),
                                 str(app.get("displayName") or app["id"]), _clean(app), region="global")
    except HttpError as exc:
        scope.fail(APPLICATION, exc)
    try:
        for sp in scope.api.graph_list("/servicePrincipals", {"$select": SP_FIELDS, "$top": 999}):
            owned = str(sp.get("appOwnerOrganizationId") or "").lower() == scope.tenant_id.lower()
            has_credentials = bool(sp.get("passwordCredentials") or sp.get("keyCredentials"))
            if sp.get("servicePrincipalType") == "ManagedIdentity" or not (owned or has_credentials):
                continue
            yield scope.resource(SERVICE_PRINCIPAL, scope.graph_id(f"servicePrincipals/{sp['id']}"),
                                 str(sp.get("displayName") or sp["id"]), _clean(sp), region="global")
    except HttpError as exc:
        scope.fail(SERVICE_PRINCIPAL, exc)


SERVICE = ServiceSpec("entra_apps", "tenant", {
    APPLICATION: "an Entra ID application registration and its credentials (validity only)",
    SERVICE_PRINCIPAL: "an Entra ID service principal of this tenant and its credentials (validity only)",
}, collect)
