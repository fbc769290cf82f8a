"""Workspace users, admin roles and role assignments (Admin SDK Directory API), and what they mean.

Calls for a customer of N users: ceil(N/500) user pages (projection=full), ceil(R/100) role pages and
ceil(A/200) role-assignment pages, whatever N is: nothing is asked per user.

A user can sign in unless suspended or archived. `lastLoginTime` 1970-01-01T00:00:00.000Z means the
user never signed in. `isAdmin` is super admin; `isDelegatedAdmin` is any other admin role; the role
assignments name the roles (a role assigned to a group is listed on the customer, since its members
cannot be read with these scopes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.http import HttpClient
from agent.identity import IdentityAccount

NEVER = "1970-01-01T00:00:00.000Z"
USERS_PAGE, ROLES_PAGE, ASSIGNMENTS_PAGE = 500, 100, 200


@dataclass
class Directory:
    users: list[dict[str, Any]] = field(default_factory=list)
    users_error: str | None = None
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    roles_error: str | None = None


def read(http: HttpClient, customer: str, domain: str | None, describe: Any) -> Directory:
    d = Directory()
    scope = {"domain": domain} if domain else {"customer": customer}
    try:
        d.users = list(http.paginate("/admin/directory/v1/users", params={**scope, "projection": "full"},
                                     style="page_token", items="users", page_size=("maxResults", USERS_PAGE)))
    except Exception as exc:
        d.users_error = describe(exc)
    try:
        roles = http.paginate(f"/admin/directory/v1/customer/{customer}/roles", style="page_token", items="items",
                              page_size=("maxResults", ROLES_PAGE))
        d.roles = {str(r["roleId"]): r for r in roles}
        d.assignments = list(http.paginate(f"/admin/directory/v1/customer/{customer}/roleassignments",
                                           style="page_token", items="items",
                                           page_size=("maxResults", ASSIGNMENTS_PAGE)))
    except Exception as exc:
        d.roles_error = describe(exc)
    return d


def can_sign_in(user: dict[str, Any]) -> bool:
    return not user.get("suspended") and not user.get("archived")


def status_of(user: dict[str, Any]) -> str:
    return "suspended" if user.get("suspended") else "archived" if user.get("archived") else "active"


def annotate_user(user: dict[str, Any], d: Directory) -> dict[str, Any]:
    """The `google_workspace.user` evidence: the API's user plus its admin roles under `annexa`."""
    mine = [a for a in d.assignments if str(a.get("assignedTo")) == str(user.get("id"))]
    names = sorted({str((d.roles.get(str(a.get("roleId"))) or {}).get("roleName") or a.get("roleId")) for a in mine})
    super_role = any((d.roles.get(str(a.get("roleId"))) or {}).get("isSuperAdminRole") for a in mine)
    privileged = bool(user.get("isAdmin") or user.get("isDelegatedAdmin") or mine)
    annexa = {"canSignIn": can_sign_in(user), "status": status_of(user),
              "neverSignedIn": user.get("lastLoginTime") in (None, NEVER),
              "roleNames": names, "roleAssignments": mine, "rolesError": d.roles_error,
              "superAdmin": bool(user.get("isAdmin") or super_role), "privileged": privileged}
    return {**user, "annexa": annexa}


def annotate_assignment(assignment: dict[str, Any], d: Directory) -> dict[str, Any]:
    role = d.roles.get(str(assignment.get("roleId"))) or {}
    user = next((u for u in d.users if str(u.get("id")) == str(assignment.get("assignedTo"))), None)
    return {**assignment, "annexa": {
        "roleName": role.get("roleName"), "roleDescription": role.get("roleDescription"),
        "isSuperAdminRole": bool(role.get("isSuperAdminRole")),
        "assignee": (user or {}).get("primaryEmail"), "assigneeStatus": status_of(user) if user else None}}


def customer_summary(d: Directory, customer_id: str, domain: str | None) -> dict[str, Any]:
    """Who holds super admin, across users and role assignments (the super-admin population)."""
    supers = [u for u in d.users if u.get("isAdmin")]
    active = [u for u in supers if can_sign_in(u)]
    group_roles = [a for a in d.assignments if a.get("assigneeType") == "group"]
    return {"customerId": customer_id, "domain": domain,
            "superAdmins": [u.get("primaryEmail") for u in supers],
            "activeSuperAdmins": [u.get("primaryEmail") for u in active],
            "activeSuperAdminCount": len(active),
            "activeSuperAdminsWithout2svEnforced": [u.get("primaryEmail") for u in active
                                                    if not u.get("isEnforcedIn2Sv")],
            "userCount": len(d.users), "activeUserCount": sum(1 for u in d.users if can_sign_in(u)),
            "groupRoleAssignments": [annotate_assignment(a, d) for a in group_roles],
            "usersError": d.users_error, "rolesError": d.roles_error}


def identity(data: dict[str, Any], url: str) -> IdentityAccount:
    annexa = data["annexa"]
    emails: list[str] = []
    candidates = [data.get("primaryEmail"), *(e.get("address") for e in data.get("emails") or []
                                              if isinstance(e, dict)), *(data.get("aliases") or [])]
    for value in candidates:
        if isinstance(value, str) and "@" in value and value.lower() not in {e.lower() for e in emails}:
            emails.append(value)
    privileges = list(annexa["roleNames"])
    if data.get("isAdmin") and "_SEED_ADMIN_ROLE" not in privileges:
        privileges.insert(0, "_SEED_ADMIN_ROLE")
    last = data.get("lastLoginTime")
    return IdentityAccount(
        provider="google_workspace", tenant=str(data.get("customerId") or ""), account_id=str(data.get("id")),
        url=url, raw_type="google_workspace.user", login=str(data.get("primaryEmail")), status=annexa["status"],
        active=annexa["canSignIn"], email=data.get("primaryEmail"), emails=emails,
        display_name=(data.get("name") or {}).get("fullName"), kind="human", created=data.get("creationTime"),
        last_login=None if last in (None, NEVER) else last, last_login_known=True,
        mfa_enrolled=data.get("isEnrolledIn2Sv"), mfa_enforced=data.get("isEnforcedIn2Sv"),
        mfa_methods=[], privileged=annexa["privileged"],
        privileges=privileges, external=False)
