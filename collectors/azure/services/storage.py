"""Storage accounts (per subscription), each with its blob service properties (soft delete, versioning).

Only configuration is read: `listKeys` and SAS operations are actions (POST) the collector never calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec

ACCOUNT = "azure.storage.account"


def collect(scope: Scope) -> Iterator[Resource]:
    try:
        accounts = list(scope.api.arm_list(f"/subscriptions/{scope.subscription_id}/providers/"
                                           "Microsoft.Storage/storageAccounts"))
    except HttpError as exc:
        scope.fail(ACCOUNT, exc)
        return
    yield from scope.map(lambda account: _account(scope, account), accounts)


def _account(scope: Scope, account: dict[str, Any]) -> Resource:
    data = dict(account)
    # File-only and premium block blob accounts have no blob service settings to judge.
    try:
        data["BlobServiceProperties"] = scope.api.arm_get(f"{account['id']}/blobServices/default")
        data["BlobServicePropertiesError"] = None
    except HttpError as exc:
        data["BlobServiceProperties"] = None
        data["BlobServicePropertiesError"] = describe(exc)
    return scope.resource(ACCOUNT, account["id"], account["name"], data)


SERVICE = ServiceSpec("storage", "subscription", {
    ACCOUNT: "a storage account with its blob service properties (soft delete, versioning)"}, collect)
