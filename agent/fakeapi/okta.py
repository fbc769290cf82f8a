"""A fake Okta org: an in-memory tenant in the Management API's own shapes, served on a `FakeApi`.

`OktaTenant` holds users, factors, groups, admin roles, user types, policies with rules, apps with
their assignments and System Log events; `serve(tenant)` registers the documented read paths
(`agent.fakeapi.okta_routes`). Builders (`add_user`, `add_policy`, ...) keep tests and the demo
short. Objects are stored without `_links`; links are built per request from the org URL the
client used, as Okta builds them from the org domain.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.fakeapi.server import FakeApi

ROLE_LABELS = {
    "SUPER_ADMIN": "Super Administrator", "ORG_ADMIN": "Organizational Administrator",
    "APP_ADMIN": "Application Administrator", "USER_ADMIN": "Group Administrator",
    "HELP_DESK_ADMIN": "Help Desk Administrator", "READ_ONLY_ADMIN": "Read-only Administrator",
    "MOBILE_ADMIN": "Mobile Administrator", "API_ACCESS_MANAGEMENT_ADMIN": "API Access Management Administrator",
    "REPORT_ADMIN": "Report Administrator", "GROUP_MEMBERSHIP_ADMIN": "Group Membership Administrator",
}
# Okta's default rate limits per minute for the endpoint families the collector reads.
DEFAULT_LIMITS = {"/api/v1/users": 600, "/api/v1/users/{id}": 600, "/api/v1/logs": 120, "/api/v1/apps": 100,
                  "/api/v1/groups": 500, "/api/v1/policies": 600, "/api/v1/iam": 600, "/api/v1/meta": 600}


def iso(when: datetime | str | None) -> str | None:
    """Okta's timestamp format: UTC with milliseconds and `Z`."""
    if when is None or isinstance(when, str):
        return when
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def okta_id(prefix: str, *parts: object) -> str:
    """A stable Okta-looking id (`00u` + 17 characters) derived from `parts`."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:16], "big")
    text = ""
    while len(text) < 17:
        number, digit = divmod(number, 62)
        text += alphabet[digit]
    return prefix + text


@dataclass
class OktaTenant:
    """Everything one Okta org holds that the collector reads."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    engine: str = "identity"  # "identity" (OIE: access policies exist) or "classic"
    tokens: dict[str, str] = field(default_factory=lambda: {"test-okta-token": "SSWS"})
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    factors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)        # user id -> direct roles
    group_roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # group id -> roles
    user_types: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    apps: list[dict[str, Any]] = field(default_factory=list)
    app_users: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    app_groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)  # path regexes answered 403 E0000006
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    rate_window: float = 60.0  # seconds per rate-limit window (Okta: one minute)

    def __post_init__(self) -> None:
        if not self.user_types:
            self.add_user_type("user", "User", default=True)
        if not self.groups:
            self.add_group("Everyone", group_type="BUILT_IN", description="All users in your organization")

    # -- builders ---------------------------------------------------------------------------
    def ago(self, days: float) -> str:
        return iso(self.now - timedelta(days=days)) or ""

    def add_user_type(self, name: str, display: str, *, default: bool = False) -> str:
        type_id = okta_id("oty", name)
        self.user_types.append({"id": type_id, "displayName": display, "name": name, "description": display,
                                "createdBy": "sprz9fj1ycBcsgopy1d6", "lastUpdatedBy": "sprz9fj1ycBcsgopy1d6",
                                "created": self.ago(900), "lastUpdated": self.ago(900), "default": default})
        return type_id

    def type_id(self, name: str) -> str:
        return next(t["id"] for t in self.user_types if t["name"] == name)

    @property
    def everyone(self) -> str:
        return next(g for g, v in self.groups.items() if v["type"] == "BUILT_IN")

    def add_group(self, name: str, *, group_type: str = "OKTA_GROUP", description: str = "") -> str:
        group_id = okta_id("00g", name)
        self.groups[group_id] = {"id": group_id, "created": self.ago(800), "lastUpdated": self.ago(800),
                                 "lastMembershipUpdated": self.ago(10), "objectClass": ["okta:user_group"],
                                 "type": group_type, "profile": {"name": name, "description": description}}
        self.members.setdefault(group_id, [])
        return group_id

    def add_user(self, login: str, *, status: str = "ACTIVE", first: str = "", last: str = "",
                 email: str | None = None, created_days: float = 400, last_login_days: float | None = 1,
                 user_type: str = "user", second_email: str | None = None, user_type_attr: str | None = None,
                 groups: tuple[str, ...] = (), factors: tuple[tuple[str, str], ...] = (),
                 roles: tuple[str, ...] = (), status_changed_days: float | None = None) -> str:
        """A user; `factors` are (factorType, status) pairs, `roles` standard admin role types."""
        user_id = okta_id("00u", login)
        local = login.split("@")[0]
        never_active = status in ("STAGED", "PROVISIONED")
        profile: dict[str, Any] = {"firstName": first or local.capitalize(), "lastName": last or "Example",
                                   "mobilePhone": None, "secondEmail": second_email, "login": login,
                                   "email": email or login}
        if user_type_attr is not None:
            profile["userType"] = user_type_attr
        credentials: dict[str, Any] = {"provider": {"type": "OKTA", "name": "OKTA"}}
        if not never_active:
            credentials = {"password": {}, "recovery_question": {"question": "Who's a major player in the cowboy "
                                                                              "scene?"}, **credentials}
        self.users[user_id] = {
            "id": user_id, "status": status, "created": self.ago(created_days),
            "activated": None if never_active else self.ago(created_days),
            "statusChanged": self.ago(status_changed_days if status_changed_days is not None else created_days),
            "lastLogin": None if last_login_days is None or never_active else self.ago(last_login_days),
            "lastUpdated": self.ago(min(created_days, status_changed_days or created_days)),
            "passwordChanged": None if never_active else self.ago(created_days),
            "type": {"id": self.type_id(user_type)}, "profile": profile, "credentials": credentials,
        }
        self.members[self.everyone].append(user_id)
        for group in groups:
            self.members.setdefault(group, []).append(user_id)
        self.factors[user_id] = []
        for factor_type, factor_status in factors:
            self.add_factor(user_id, factor_type, factor_status)
        for role in roles:
            self.add_role(user_id, role)
        return user_id

    def add_factor(self, user_id: str, factor_type: str, status: str = "ACTIVE") -> str:
        factors = self.factors.setdefault(user_id, [])
        factor_id = okta_id({"push": "opf", "sms": "mbl", "webauthn": "fwf"}.get(factor_type, "ost"),
                            user_id, factor_type, len(factors))
        profile: dict[str, Any] = {"credentialId": self.users[user_id]["profile"]["login"]}
        if factor_type == "sms":
            profile = {"phoneNumber": "+1-555-415-1337"}
        elif factor_type == "email":
            profile = {"email": self.users[user_id]["profile"]["email"]}
        factors.append({"id": factor_id, "factorType": factor_type,
                        "provider": "GOOGLE" if factor_type == "token:software:totp" else "OKTA",
                        "vendorName": "OKTA", "status": status, "created": self.ago(100),
                        "lastUpdated": self.ago(100), "profile": profile})
        return factor_id

    def add_role(self, user_id: str, role_type: str) -> None:
        self.roles.setdefault(user_id, []).append(self._role(role_type, user_id, "USER"))

    def add_group_role(self, group_id: str, role_type: str) -> None:
        self.group_roles.setdefault(group_id, []).append(self._role(role_type, group_id, "GROUP"))

    def _role(self, role_type: str, assignee: str, kind: str) -> dict[str, Any]:
        return {"id": okta_id("ra1", assignee, role_type), "label": ROLE_LABELS.get(role_type, role_type),
                "type": role_type, "status": "ACTIVE", "created": self.ago(200), "lastUpdated": self.ago(200),
                "assignmentType": kind}

    def add_policy(self, policy_type: str, name: str, *, priority: int = 1, groups: tuple[str, ...] = (),
                   settings: dict[str, Any] | None = None, status: str = "ACTIVE", system: bool = False,
                   rules: tuple[dict[str, Any], ...] = ()) -> str:
        """A policy; `groups` are included group ids (OKTA_SIGN_ON / PASSWORD); `rules` rule bodies."""
        policy_id = okta_id({"ACCESS_POLICY": "rst", "PASSWORD": "00p"}.get(policy_type, "00p"), policy_type, name)
        conditions: dict[str, Any] | None = None
        if policy_type != "ACCESS_POLICY":
            conditions = {"people": {"groups": {"include": list(groups or (self.everyone,))}}}
            if policy_type == "PASSWORD":
                conditions["authProvider"] = {"provider": "OKTA"}
        policy = {"type": policy_type, "id": policy_id, "status": status, "name": name,
                  "description": name, "priority": priority, "system": system, "conditions": conditions,
                  "created": self.ago(300), "lastUpdated": self.ago(30)}
        if settings is not None:
            policy["settings"] = settings
        self.policies.append(policy)
        self.rules[policy_id] = []
        for n, rule in enumerate(rules, start=1):
            self.add_rule(policy_id, rule, priority=rule.get("priority", n))
        return policy_id

    def add_rule(self, policy_id: str, body: dict[str, Any], *, priority: int = 1) -> str:
        policy = next(p for p in self.policies if p["id"] == policy_id)
        rule_id = okta_id("0pr", policy_id, len(self.rules[policy_id]))
        rule_type = {"OKTA_SIGN_ON": "SIGN_ON"}.get(policy["type"], policy["type"])
        self.rules[policy_id].append({"id": rule_id, "status": "ACTIVE", "name": f"Rule {priority}",
                                      "priority": priority, "created": self.ago(300), "lastUpdated": self.ago(30),
                                      "system": False, "type": rule_type, **body})
        return rule_id

    def add_app(self, name: str, label: str, *, access_policy: str | None = None, status: str = "ACTIVE",
                users: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> str:
        app_id = okta_id("0oa", name)
        app = {"id": app_id, "name": name, "label": label, "status": status, "created": self.ago(500),
               "lastUpdated": self.ago(50), "signOnMode": "SAML_2_0", "features": [],
               "accessibility": {"selfService": False}, "visibility": {"autoSubmitToolbar": False}}
        if access_policy:
            app["_accessPolicy"] = access_policy
        self.apps.append(app)
        self.app_users[app_id] = []
        self.app_groups[app_id] = []
        for user_id in users:
            self.assign_user(app_id, user_id)
        for group_id in groups:
            self.app_groups[app_id].append({"id": group_id, "priority": len(self.app_groups[app_id]),
                                            "lastUpdated": self.ago(40), "profile": {}})
        return app_id

    def assign_user(self, app_id: str, user_id: str, *, scope: str = "USER") -> None:
        user = self.users[user_id]
        self.app_users[app_id].append({
            "id": user_id, "externalId": None, "created": self.ago(60), "lastUpdated": self.ago(60), "scope": scope,
            "status": "ACTIVE" if user["status"] not in ("DEPROVISIONED", "SUSPENDED") else "INACTIVE",
            "statusChanged": self.ago(60), "passwordChanged": None, "syncState": "DISABLED",
            "credentials": {"userName": user["profile"]["login"]},
            "profile": {"email": user["profile"]["email"]}})

    def add_event(self, event_type: str, *, actor: str, minutes_ago: float, outcome: str = "SUCCESS",
                  targets: tuple[dict[str, Any], ...] = (), session: str | None = None,
                  debug: dict[str, Any] | None = None, message: str = "") -> str:
        """A System Log event; `actor` is a user id of this tenant (or a login for an unknown actor)."""
        published = self.now - timedelta(minutes=minutes_ago)
        user = self.users.get(actor)
        digest = hashlib.sha1(f"{event_type}:{actor}:{minutes_ago}:{len(self.logs)}".encode()).hexdigest()
        uuid = f"{digest[:8]}-{digest[8:12]}-11ef-{digest[12:16]}-{digest[16:28]}"
        self.logs.append({
            "actor": {"id": actor, "type": "User", "alternateId": user["profile"]["login"] if user else actor,
                      "displayName": f"{user['profile']['firstName']} {user['profile']['lastName']}" if user
                      else actor, "detailEntry": None},
            "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"},
                       "zone": "null", "device": "Computer", "id": None, "ipAddress": "198.51.100.7",
                       "geographicalContext": {"city": "Amsterdam", "country": "Netherlands"}},
            "authenticationContext": {"authenticationProvider": None, "credentialProvider": None,
                                      "credentialType": None, "issuer": None, "interface": None,
                                      "authenticationStep": 0, "externalSessionId": session or "unknown",
                                      "rootSessionId": session},
            "displayMessage": message or event_type, "eventType": event_type,
            "outcome": {"result": outcome, "reason": None}, "published": iso(published),
            "securityContext": {"asNumber": None, "asOrg": None, "isp": None, "domain": None, "isProxy": False},
            "severity": "INFO", "debugContext": {"debugData": dict(debug or {})},
            "legacyEventType": None, "transaction": {"type": "WEB", "id": uuid[:27], "detail": {}},
            "uuid": uuid, "version": "0", "request": {"ipChain": []}, "target": list(targets)})
        self.logs.sort(key=lambda e: e["published"])
        return uuid

    def user_target(self, user_id: str) -> dict[str, Any]:
        user = self.users[user_id]
        return {"id": user_id, "type": "User", "alternateId": user["profile"]["login"],
                "displayName": f"{user['profile']['firstName']} {user['profile']['lastName']}", "detailEntry": None}


def serve(tenant: OktaTenant, *, latency: float = 0.0) -> FakeApi:
    """A (not yet started) `FakeApi` playing `tenant`'s org."""
    from agent.fakeapi.okta_routes import register

    api = FakeApi("okta", latency=latency)
    register(api, tenant)
    return api
