"""A fake Google Workspace customer: Admin SDK Directory and Reports APIs plus Google's OAuth token
endpoint, in the APIs' own shapes (`admin#directory#user`, `admin#reports#activity`, ...).

`WorkspaceTenant` holds users, admin roles, role assignments and activity records; `serve(tenant)`
registers the documented read paths (`agent.fakeapi.google_workspace_routes`). The token endpoint
plays domain-wide delegation for real: it verifies the service account's signed JWT assertion with
the account's public key, checks the audience, the subject and that every requested scope was
granted to the account's client id, and issues an access token carrying those scopes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.fakeapi.server import FakeApi

NEVER = "1970-01-01T00:00:00.000Z"  # lastLoginTime of a user who never signed in
SCOPE = "https://www.googleapis.com/auth/"
READ_SCOPES = (f"{SCOPE}admin.directory.user.readonly", f"{SCOPE}admin.directory.rolemanagement.readonly",
               f"{SCOPE}admin.reports.audit.readonly")
SYSTEM_ROLES = {  # roleName -> (description, is super admin)
    "_SEED_ADMIN_ROLE": ("Super Admin", True), "_GROUPS_ADMIN_ROLE": ("Groups Administrator", False),
    "_USER_MANAGEMENT_ADMIN_ROLE": ("User Management Administrator", False),
    "_HELP_DESK_ADMIN_ROLE": ("Help Desk Administrator", False),
    "_SERVICE_ADMIN_ROLE": ("Services Administrator", False),
}


def gtime(when: datetime) -> str:
    """Google's RFC 3339 form: UTC, milliseconds, `Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def number_id(*parts: object, digits: int = 21) -> str:
    value = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:12], "big")
    return ("1" + str(value))[:digits].ljust(digits, "7")


def etag(value: Any) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
    return f'"{digest[:27]}/{digest[27:54]}"'


@dataclass
class WorkspaceTenant:
    customer_id: str = "C03az79cb"
    domain: str = "acme.example"
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    users: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    activities: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"admin": [], "login": []})
    static_tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)   # bearer token -> scopes
    service_accounts: dict[str, str] = field(default_factory=dict)            # client_email -> public key PEM
    delegation: dict[str, tuple[str, ...]] = field(default_factory=dict)      # client_id -> granted scopes
    client_ids: dict[str, str] = field(default_factory=dict)                  # client_email -> client_id
    issued: dict[str, dict[str, Any]] = field(default_factory=dict)           # access token -> grant
    assertions: list[dict[str, Any]] = field(default_factory=list)            # verified JWT claims, in order
    forbidden: list[str] = field(default_factory=list)                        # path regexes: 403 forbidden

    def __post_init__(self) -> None:
        if not self.roles:
            for name in SYSTEM_ROLES:
                self.add_role(name)

    # -- builders ---------------------------------------------------------------------------
    def ago(self, days: float) -> str:
        return gtime(self.now - timedelta(days=days))

    def add_role(self, name: str, description: str | None = None, privileges: tuple[str, ...] = ()) -> str:
        desc, super_admin = SYSTEM_ROLES.get(name, (description or name, False))
        role_id = number_id("role", name, digits=16)
        role = {"kind": "admin#directory#role", "roleId": role_id, "roleName": name, "roleDescription": desc,
                "rolePrivileges": [{"privilegeName": p, "serviceId": "00haapch16h1ysv"} for p in privileges]
                or [{"privilegeName": "USERS_RETRIEVE", "serviceId": "00haapch16h1ysv"}],
                "isSystemRole": name in SYSTEM_ROLES, "isSuperAdminRole": super_admin}
        role["etag"] = etag(role)
        self.roles.append(role)
        return role_id

    def role_id(self, name: str) -> str:
        return next(r["roleId"] for r in self.roles if r["roleName"] == name)

    def add_user(self, email: str, *, given: str = "", family: str = "Example", super_admin: bool = False,
                 roles: tuple[str, ...] = (), enrolled_2sv: bool = True, enforced_2sv: bool = True,
                 suspended: bool = False, archived: bool = False, created_days: float = 400,
                 last_login_days: float | None = 1, org_unit: str = "/", aliases: tuple[str, ...] = (),
                 recovery_email: str | None = None) -> str:
        """A user; `roles` are admin role names assigned to the user (delegated admin roles)."""
        user_id = number_id("user", email)
        local = email.split("@")[0]
        user: dict[str, Any] = {
            "kind": "admin#directory#user", "id": user_id, "primaryEmail": email,
            "name": {"givenName": given or local.capitalize(), "familyName": family,
                     "fullName": f"{given or local.capitalize()} {family}"},
            "isAdmin": super_admin, "isDelegatedAdmin": bool(roles),
            "lastLoginTime": NEVER if last_login_days is None else self.ago(last_login_days),
            "creationTime": self.ago(created_days), "agreedToTerms": last_login_days is not None,
            "suspended": suspended, "archived": archived, "changePasswordAtNextLogin": False,
            "ipWhitelisted": False, "emails": [{"address": email, "primary": True}],
            "customerId": self.customer_id, "orgUnitPath": org_unit, "isMailboxSetup": True,
            "isEnrolledIn2Sv": enrolled_2sv, "isEnforcedIn2Sv": enforced_2sv,
            "includeInGlobalAddressList": True, "thumbnailPhotoUrl": None,
        }
        if suspended:
            user["suspensionReason"] = "ADMIN"
        if aliases:
            user["aliases"] = list(aliases)
            user["emails"] += [{"address": a} for a in aliases]
        if recovery_email:
            user["recoveryEmail"] = recovery_email
        user["etag"] = etag(user)
        self.users.append(user)
        if super_admin:
            self.assign(user_id, "_SEED_ADMIN_ROLE")
        for role in roles:
            self.assign(user_id, role)
        return user_id

    def assign(self, user_id: str, role_name: str, *, scope: str = "CUSTOMER") -> str:
        assignment_id = number_id("assignment", user_id, role_name, digits=16)
        item = {"kind": "admin#directory#roleAssignment", "roleAssignmentId": assignment_id,
                "roleId": self.role_id(role_name), "assignedTo": user_id, "assigneeType": "user",
                "scopeType": scope}
        item["etag"] = etag(item)
        self.assignments.append(item)
        return assignment_id

    def user(self, key: str) -> dict[str, Any] | None:
        lowered = key.lower()
        return next((u for u in self.users if u["id"] == key or u["primaryEmail"].lower() == lowered
                     or lowered in (a.lower() for a in u.get("aliases", []))), None)

    def add_activity(self, app: str, name: str, event_type: str, *, actor: str, minutes_ago: float,
                     parameters: dict[str, Any] | None = None, ip: str = "198.51.100.7") -> str:
        """An activity record of `app` ("admin" or "login") with one event; returns its uniqueQualifier."""
        when = self.now - timedelta(minutes=minutes_ago)
        qualifier = "-" + number_id("activity", app, name, actor, minutes_ago, len(self.activities[app]), digits=19)
        params = []
        for key, value in (parameters or {}).items():
            if isinstance(value, bool):
                params.append({"name": key, "boolValue": value})
            elif isinstance(value, list):
                params.append({"name": key, "multiValue": value})
            elif isinstance(value, int):
                params.append({"name": key, "intValue": str(value)})
            else:
                params.append({"name": key, "value": value})
        actor_user = self.user(actor)
        item = {"kind": "admin#reports#activity",
                "id": {"time": gtime(when), "uniqueQualifier": qualifier, "applicationName": app,
                       "customerId": self.customer_id},
                "actor": {"email": actor, "profileId": actor_user["id"] if actor_user else number_id(actor)},
                "ipAddress": ip, "events": [{"type": event_type, "name": name, "parameters": params}]}
        if app == "admin":
            item["actor"]["callerType"] = "USER"
            item["ownerDomain"] = self.domain
        item["etag"] = etag(item)
        self.activities[app].append(item)
        return qualifier

    def add_service_account(self, client_email: str, public_key_pem: str, client_id: str,
                            scopes: tuple[str, ...] = READ_SCOPES) -> None:
        """Register a service account and grant its client id domain-wide delegation of `scopes`."""
        self.service_accounts[client_email] = public_key_pem
        self.client_ids[client_email] = client_id
        self.delegation[client_id] = tuple(scopes)


def serve(tenant: WorkspaceTenant, *, latency: float = 0.0) -> FakeApi:
    """A (not yet started) `FakeApi` playing the Admin SDK and the OAuth token endpoint for `tenant`."""
    from agent.fakeapi.google_workspace_routes import register

    api = FakeApi("google_workspace", latency=latency)
    register(api, tenant)
    return api
