"""Azure RBAC per subscription: role assignments (with the principal and role resolved), custom roles,
classic administrators, and a per-subscription summary of who owns it.

`roleAssignments` listed at a subscription returns assignments at, above (management groups, root)
and below (resource groups, resources) it; an assignment inherited from a management group shows
in every subscription beneath, and is stored once per run. Principals are looked up in the
directory: a guest (`userType` Guest or `#EXT#` in the UPN) or a foreign group is external; a user
the directory no longer has is an orphaned assignment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec, directory

ASSIGNMENT = "azure.authorization.role_assignment"
CUSTOM_ROLE = "azure.authorization.custom_role"
ACCESS = "azure.authorization.subscription_access"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
BUILT_IN = {
    OWNER: "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "39bc4728-0917-49c7-9d2c-d95423bc2eb4": "Security Reader",
    "fb1c8493-542b-48eb-b624-b4c8fea62acd": "Security Admin",
}
AUTHORIZATION_WRITES = ("*", "*/write", "microsoft.authorization/*", "microsoft.authorization/*/write",
                        "microsoft.authorization/roleassignments/*", "microsoft.authorization/roleassignments/write")


def collect(scope: Scope) -> Iterator[Resource]:
    base = f"/subscriptions/{scope.subscription_id}/providers/Microsoft.Authorization"
    customs: dict[str, dict[str, Any]] = {}
    try:
        for role in scope.api.arm_list(f"{base}/roleDefinitions", {"$filter": "type eq 'CustomRole'"}):
            customs[role["name"].lower()] = role
            if _first_time(scope, "custom-role", role["id"]):
                yield scope.resource(CUSTOM_ROLE, role["id"], (role.get("properties") or {}).get("roleName")
                                     or role["name"], {**role, **_analyse(role)}, region="global")
    except HttpError as exc:
        scope.fail(CUSTOM_ROLE, exc)
    summary: dict[str, Any] = {"subscriptionId": scope.subscription_id}
    try:
        summary["ClassicAdministrators"] = list(scope.api.arm_list(f"{base}/classicAdministrators"))
        summary["ClassicAdministratorsError"] = None
    except HttpError as exc:
        summary["ClassicAdministrators"], summary["ClassicAdministratorsError"] = None, describe(exc)
    summary["CoAdministrators"] = [a for a in summary["ClassicAdministrators"] or []
                                   if "coadministrator" in str((a.get("properties") or {}).get("role")).lower()]
    try:
        assignments = list(scope.api.arm_list(f"{base}/roleAssignments"))
    except HttpError as exc:
        scope.fail(ASSIGNMENT, exc)
        scope.fail(ACCESS, exc)
        return
    people, lookup_error = _directory(scope)
    owners = []
    sub_scope = f"/subscriptions/{scope.subscription_id}".lower()
    for assignment in assignments:
        data = _resolve(scope, assignment, customs, people, lookup_error)
        where = str((assignment.get("properties") or {}).get("scope") or "/").lower()
        if data["RoleDefinitionGuid"] == OWNER and (where == sub_scope or not where.startswith("/subscriptions/")):
            owners.append({"assignmentId": assignment["id"], "principalId": data["Principal"]["id"],
                           "principalType": data["Principal"]["type"],
                           "displayName": data["Principal"].get("displayName"), "scope": where})
        if _first_time(scope, "assignment", assignment["id"]):
            yield scope.resource(ASSIGNMENT, assignment["id"], f"{data['RoleName']} for "
                                 f"{data['Principal'].get('displayName') or data['Principal']['id']}", data,
                                 region="global")
    summary["Owners"] = owners
    summary["OwnerCount"] = len({o["principalId"] for o in owners})
    name = (scope.subscription or {}).get("displayName") or scope.subscription_id
    yield scope.resource(ACCESS, f"{base}/roleAssignments", f"{name} access", summary, region="global")


def _first_time(scope: Scope, kind: str, id_: str) -> bool:
    """True the first time this run sees `id_` (inherited assignments show under every subscription)."""
    marker = object()
    return scope.cache.get(f"seen:{kind}:{id_.lower()}", lambda: marker) is marker


def _directory(scope: Scope) -> tuple[dict[str, dict[str, Any]], str | None]:
    try:
        return directory.users(scope).by_id, None
    except HttpError as exc:
        return {}, describe(exc)


def _analyse(role: dict[str, Any]) -> dict[str, Any]:
    actions = [str(a).lower() for p in (role.get("properties") or {}).get("permissions") or []
               for a in p.get("actions") or []]
    return {"AllowsAllActions": "*" in actions,
            "AllowsRoleAssignment": any(a in AUTHORIZATION_WRITES for a in actions)}


def _role(scope: Scope, role_guid: str, customs: dict[str, dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    """(name, type, analysis) of a role definition: custom ones listed, built-ins known or read once per run."""
    if role_guid in customs:
        role = customs[role_guid]
        return (role.get("properties") or {}).get("roleName") or role_guid, "CustomRole", _analyse(role)
    if role_guid in BUILT_IN:
        analysis = {"AllowsAllActions": role_guid == OWNER, "AllowsRoleAssignment": BUILT_IN[role_guid] in (
            "Owner", "User Access Administrator", "Role Based Access Control Administrator")}
        return BUILT_IN[role_guid], "BuiltInRole", analysis
    try:
        role = scope.cache.get(f"roledef:{role_guid}", lambda: scope.api.arm_get(
            f"/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"))
    except HttpError:
        return role_guid, "Unknown", {"AllowsAllActions": None, "AllowsRoleAssignment": None}
    props = role.get("properties") or {}
    return props.get("roleName") or role_guid, props.get("type") or "BuiltInRole", _analyse(role)


def _resolve(scope: Scope, assignment: dict[str, Any], customs: dict[str, dict[str, Any]],
             people: dict[str, dict[str, Any]], lookup_error: str | None) -> dict[str, Any]:
    props = assignment.get("properties") or {}
    role_guid = str(props.get("roleDefinitionId") or "").rsplit("/", 1)[-1].lower()
    name, kind, analysis = _role(scope, role_guid, customs)
    principal_type = str(props.get("principalType") or "Unknown")
    principal: dict[str, Any] = {"id": props.get("principalId"), "type": principal_type}
    if principal_type == "User":
        user = people.get(str(props.get("principalId")))
        principal.update({"found": user is not None if lookup_error is None else None,
                          "displayName": (user or {}).get("displayName"),
                          "userPrincipalName": (user or {}).get("userPrincipalName"),
                          "userType": (user or {}).get("userType"),
                          "external": directory.is_external(user) if lookup_error is None else None})
    else:
        principal.update({"found": None, "external": principal_type == "ForeignGroup" or None})
    return {**assignment, "RoleName": name, "RoleType": kind, "RoleDefinitionGuid": role_guid, **analysis,
            "Principal": principal, "PrincipalLookupError": lookup_error if principal_type == "User" else None}


SERVICE = ServiceSpec("rbac", "subscription", {
    ASSIGNMENT: "an Azure RBAC role assignment with its role and principal resolved (guest, orphaned)",
    CUSTOM_ROLE: "a custom Azure RBAC role definition and whether it grants every action",
    ACCESS: "a subscription's owners and classic (co-)administrators",
}, collect)
