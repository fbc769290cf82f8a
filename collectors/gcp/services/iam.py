"""Service accounts of each project (IAM v1), their user-managed keys, and the roles they hold there.

Each account's evidence carries the roles the project's IAM policy grants it (`projectRoles`),
whether it is one of the default accounts Google creates (Compute Engine, App Engine), and a
summary of its user-managed keys; each user-managed key is also a resource of its own, so its age
is judged key by key. Google-managed (system) keys rotate by themselves and are not listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from agent.model import Resource
from collectors.gcp.errors import describe
from collectors.gcp.policy import members
from collectors.gcp.scope import ProjectScope
from collectors.gcp.services import ServiceSpec
from collectors.gcp.services.project import project_policy

ACCOUNT = "gcp.iam.service_account"
KEY = "gcp.iam.service_account_key"
IAM = "//iam.googleapis.com/"


def default_kind(scope: ProjectScope, email: str) -> str | None:
    if email == f"{scope.number}-compute@developer.gserviceaccount.com":
        return "compute"
    if email == f"{scope.project_id}@appspot.gserviceaccount.com":
        return "appengine"
    return None


def _roles(scope: ProjectScope) -> tuple[dict[str, list[str]], str | None]:
    try:
        policy = project_policy(scope)
    except Exception as exc:
        return {}, describe(exc)
    out: dict[str, list[str]] = {}
    for member in members(policy):
        if member["kind"] == "serviceAccount" and member["email"]:
            out[member["email"].lower()] = member["roles"]
    return out, None


def _keys(scope: ProjectScope, account: dict[str, Any]) -> list[dict[str, Any]]:
    path = f"v1/projects/{scope.project_id}/serviceAccounts/{quote(account['email'])}/keys"
    body = scope.get("iam", path, params={"keyTypes": "USER_MANAGED"}) or {}
    return [k for k in body.get("keys") or [] if k.get("keyType", "USER_MANAGED") == "USER_MANAGED"]


def collect(scope: ProjectScope) -> Iterator[Resource]:
    try:
        accounts = scope.items("iam", f"v1/projects/{scope.project_id}/serviceAccounts", "accounts",
                               size=("pageSize", 100))
    except Exception as exc:
        scope.fail(ACCOUNT, exc, context="serviceAccounts.list")
        scope.fail(KEY, exc, context="serviceAccounts.list")
        return
    roles, roles_error = _roles(scope)
    for account, keys in scope.each(accounts, lambda a: _keys(scope, a), workers=4):
        email = account.get("email", "")
        keys_error = describe(keys) if isinstance(keys, Exception) else None
        if keys_error:
            scope.fail(KEY, keys, context=f"keys of {email}")
        key_list = [] if keys_error else keys
        data = {**account, "projectRoles": roles.get(email.lower(), []), "projectRolesError": roles_error,
                "defaultServiceAccount": default_kind(scope, email),
                "userManagedKeys": [{"name": k.get("name"), "validAfterTime": k.get("validAfterTime"),
                                     "disabled": bool(k.get("disabled"))} for k in key_list],
                "keysError": keys_error}
        yield scope.resource(ACCOUNT, IAM + account["name"], email, data)
        for key in key_list:
            key_data = {**key, "serviceAccount": email, "serviceAccountDisabled": bool(account.get("disabled"))}
            yield scope.resource(KEY, IAM + key["name"], f"{email} key {key['name'].rsplit('/', 1)[-1][:12]}",
                                 key_data)


SERVICE = ServiceSpec(
    name="iam",
    api="iam",
    resource_types={
        ACCOUNT: "a service account with the project roles it holds, its default-account kind and its "
                 "user-managed keys",
        KEY: "a user-managed service-account key (its age and state; never key material)",
    },
    collect=collect,
)
