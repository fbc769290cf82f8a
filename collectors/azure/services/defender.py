"""Defender for Cloud: the pricing tier of every plan, and the security contact, per subscription."""

from __future__ import annotations

from collections.abc import Iterator

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec

PRICING = "azure.security.pricing"
CONTACTS = "azure.security.contacts"


def collect(scope: Scope) -> Iterator[Resource]:
    base = f"/subscriptions/{scope.subscription_id}/providers/Microsoft.Security"
    try:
        for plan in scope.api.arm_list(f"{base}/pricings"):
            yield scope.resource(PRICING, plan["id"], plan["name"], plan, region="global")
    except HttpError as exc:
        scope.fail(PRICING, exc)
    try:
        contacts = list(scope.api.arm_list(f"{base}/securityContacts"))
    except HttpError as exc:
        scope.fail(CONTACTS, exc)
        return
    name = (scope.subscription or {}).get("displayName") or scope.subscription_id
    emails = sorted({e.strip() for c in contacts for e in str((c.get("properties") or {}).get("emails") or "")
                     .replace(",", ";").split(";") if e.strip()})
    yield scope.resource(CONTACTS, f"{base}/securityContacts", f"{name} security contacts",
                         {"subscriptionId": scope.subscription_id, "value": contacts, "Emails": emails},
                         region="global")


SERVICE = ServiceSpec("defender", "subscription", {
    PRICING: "a Defender for Cloud plan and its pricing tier (Free or Standard) in a subscription",
    CONTACTS: "a subscription's Defender for Cloud security contacts and alert notifications",
}, collect)
