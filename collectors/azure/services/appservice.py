"""App Service web apps (and function apps) with their site configuration (TLS, FTPS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec

APP = "azure.web.app"


def collect(scope: Scope) -> Iterator[Resource]:
    try:
        sites = list(scope.api.arm_list(f"/subscriptions/{scope.subscription_id}/providers/Microsoft.Web/sites"))
    except HttpError as exc:
        scope.fail(APP, exc)
        return
    yield from scope.map(lambda site: _site(scope, site), sites)


def _site(scope: Scope, site: dict[str, Any]) -> Resource:
    data = dict(site)
    try:
        data["SiteConfig"] = scope.api.arm_get(f"{site['id']}/config/web")
        data["SiteConfigError"] = None
    except HttpError as exc:
        data["SiteConfig"], data["SiteConfigError"] = None, describe(exc)
    return scope.resource(APP, site["id"], site["name"], data)


SERVICE = ServiceSpec("appservice", "subscription", {
    APP: "an App Service app with its web configuration (HTTPS, TLS, FTPS, managed identity)"}, collect)
