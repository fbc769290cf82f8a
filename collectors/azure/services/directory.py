"""Directory lookups several services need, read once per run through the run cache.

`users(scope)`: every user (with sign-in activity when the licence allows it), `role_definitions`,
`role_assignments` (active directory roles), `eligibilities` and `schedule_instances` (PIM, P2 only).
Each raises the HttpError of its API; callers decide which resource types that makes unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.http import HttpError
from collectors.azure.errors import describe, reason
from collectors.azure.scope import Scope

USER_FIELDS = ("id", "displayName", "userPrincipalName", "mail", "otherMails", "accountEnabled", "userType",
               "createdDateTime", "externalUserState", "creationType", "onPremisesSyncEnabled")
# Directory roles that control the tenant or its security (template ids, the same in every tenant).
PRIVILEGED_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "966707d0-3269-4727-9be2-8c3a10f19b9d": "Password Administrator",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": "Hybrid Identity Administrator",
    "3a2c62db-5318-420d-8d74-23affee5d9d5": "Intune Administrator",
}
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"


@dataclass
class Users:
    by_id: dict[str, dict[str, Any]]
    sign_in_error: str | None   # why signInActivity is missing (licence or permission), else None


def users(scope: Scope) -> Users:
    def load() -> Users:
        fields = ",".join((*USER_FIELDS, "signInActivity"))
        try:
            listed = list(scope.api.graph_list("/users", {"$select": fields, "$top": 999}))
            return Users({u["id"]: u for u in listed}, None)
        except HttpError as exc:
            if reason(exc) not in ("licence", "denied") or exc.status not in (400, 403):
                raise
            why = describe(exc)
        listed = list(scope.api.graph_list("/users", {"$select": ",".join(USER_FIELDS), "$top": 999}))
        return Users({u["id"]: u for u in listed}, why)

    return scope.cache.get("graph:users", load)


def _listing(scope: Scope, key: str, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return scope.cache.get(f"graph:{key}", lambda: list(scope.api.graph_list(path, params)))


def role_definitions(scope: Scope) -> dict[str, dict[str, Any]]:
    listed = _listing(scope, "roleDefinitions", "/roleManagement/directory/roleDefinitions",
                      {"$select": "id,displayName,templateId,isBuiltIn"})
    return {str(d.get("id")): d for d in listed} | {str(d.get("templateId")): d for d in listed if d.get("templateId")}


def role_assignments(scope: Scope) -> list[dict[str, Any]]:
    return _listing(scope, "roleAssignments", "/roleManagement/directory/roleAssignments", {"$expand": "principal"})


def eligibilities(scope: Scope) -> list[dict[str, Any]]:
    return _listing(scope, "roleEligibilitySchedules", "/roleManagement/directory/roleEligibilitySchedules",
                    {"$expand": "principal"})


def schedule_instances(scope: Scope) -> list[dict[str, Any]]:
    return _listing(scope, "roleAssignmentScheduleInstances",
                    "/roleManagement/directory/roleAssignmentScheduleInstances")


def role_name(definitions: dict[str, dict[str, Any]], role_id: str) -> str:
    found = definitions.get(role_id)
    return str((found or {}).get("displayName") or PRIVILEGED_ROLES.get(role_id) or role_id)


def is_external(user: dict[str, Any] | None) -> bool | None:
    """Guest accounts and accounts from another tenant (`#EXT#` in the UPN); None when unknown."""
    if user is None:
        return None
    return str(user.get("userType") or "").lower() == "guest" or "#ext#" in str(
        user.get("userPrincipalName") or "").lower()
