"""The in-memory Azure tenant a fake serves: ARM objects by id, Entra ID objects, tokens and limits."""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from agent.fakeapi.azure import directory, infra

ARM_AUDIENCE = "https://management.azure.com"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
# Audiences ARM accepts for its tokens (the classic resource id and the modern one).
ARM_AUDIENCES = frozenset({ARM_AUDIENCE, "https://management.core.windows.net"})
LICENCES = ("free", "P1", "P2")


def audience_of(scope_or_resource: str) -> str:
    """`https://management.azure.com/.default` or `https://management.azure.com/` -> the audience URL."""
    text = scope_or_resource.strip()
    if text.endswith("/.default"):
        text = text[: -len("/.default")]
    return text.rstrip("/")


class ReadBucket:
    """ARM's read throttling per subscription (and per tenant): a token bucket that refills every second."""

    def __init__(self, capacity: int, refill: float):
        self.capacity, self.refill = capacity, refill
        self.tokens = float(capacity)
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining reads, seconds to wait when refused)."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True, int(self.tokens), 0.0
            return False, 0, (1 - self.tokens) / self.refill


@dataclass
class AzureTenant:
    """One Entra ID tenant and its subscriptions. Seed it with the builders in `infra`, `platform`, `directory`."""

    tenant_id: str = "72f988bf-0000-4a4a-8a8a-ace000000001"
    name: str = "Acme"
    domain: str = "acme.example"
    licence: str = "P2"                           # free | P1 | P2: what Entra ID features the tenant has
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    management_groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id -> descendants
    arm: dict[str, dict[str, Any]] = field(default_factory=dict)   # lower-case id -> object
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # subscription -> activity events
    unregistered: set[tuple[str, str]] = field(default_factory=set)  # (subscription, namespace), lower case
    # Entra ID
    users: list[dict[str, Any]] = field(default_factory=list)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    methods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ca_policies: list[dict[str, Any]] = field(default_factory=list)
    role_definitions: list[dict[str, Any]] = field(default_factory=lambda: [
        directory.role_definition(t) for t in directory.DIRECTORY_ROLES])
    role_assignments: list[dict[str, Any]] = field(default_factory=list)
    eligibilities: list[dict[str, Any]] = field(default_factory=list)
    schedule_instances: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)
    service_principals: list[dict[str, Any]] = field(default_factory=list)
    sign_ins: list[dict[str, Any]] = field(default_factory=list)
    directory_audits: list[dict[str, Any]] = field(default_factory=list)
    authorization_policy: dict[str, Any] = field(default_factory=directory.authorization_policy)
    security_defaults: dict[str, Any] = field(default_factory=lambda: directory.security_defaults(False))
    organization: dict[str, Any] | None = None
    # paging: ARM lists and the Activity Log page at these sizes; Graph caps `$top` at `graph_page_cap`
    arm_page_size: int = 100
    activity_page_size: int = 200
    graph_page_cap: int | None = None
    # authentication
    static_tokens: dict[str, str | None] = field(default_factory=dict)  # token -> audience (None: any)
    client_secrets: dict[str, str] = field(default_factory=dict)        # client id -> secret
    identity_header: str = "fake-identity-header"                       # App Service MSI protocol
    token_lifetime: int = 3600
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (audience, expiry epoch)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    require_auth: bool = True
    # ARM read throttling
    read_capacity: int = 250
    read_refill: float = 25.0
    _buckets: dict[str, ReadBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.organization is None:
            self.organization = directory.organization(self.tenant_id, self.name, self.domain)

    # -- seeding -----------------------------------------------------------------------------------
    def add_subscription(self, sub: str, name: str, state: str = "Enabled") -> dict[str, Any]:
        self.subscriptions[sub.lower()] = infra.subscription(sub, self.tenant_id, name, state)
        for role in infra.BUILT_IN_ROLES:
            from agent.fakeapi.azure.platform import role_definition
            self.put(role_definition(sub, role))
        return self.subscriptions[sub.lower()]

    def put(self, *objects: dict[str, Any]) -> None:
        for obj in objects:
            self.arm[obj["id"].lower()] = obj

    def remove(self, id_: str) -> None:
        self.arm.pop(id_.lower(), None)

    def add_user(self, user: dict[str, Any], *, mfa: bool, admin: bool = False) -> dict[str, Any]:
        self.users.append(user)
        self.registrations.append(directory.registration(user, mfa=mfa, admin=admin))
        self.methods[user["id"]] = directory.auth_methods(user, mfa=mfa)
        return user

    def add_event(self, sub: str, event: dict[str, Any]) -> None:
        self.events.setdefault(sub.lower(), []).append(event)

    def premium(self, level: str = "P1") -> bool:
        return LICENCES.index(self.licence) >= LICENCES.index(level)

    # -- tokens ------------------------------------------------------------------------------------
    def issue(self, audience: str, client: str = "annexa") -> tuple[str, int]:
        """A token for `audience`, shaped like a JWT (header.claims.signature) but only valid here."""
        expires = int(time.time()) + self.token_lifetime
        claims = {"aud": audience, "iss": f"https://sts.windows.net/{self.tenant_id}/", "tid": self.tenant_id,
                  "appid": client, "oid": infra.guid("oid", client), "exp": expires, "jti": str(uuid.uuid4())}

        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        token = f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.{uuid.uuid4().hex}"
        with self._lock:
            self.issued[token] = (audience, float(expires))
        return token, expires

    def check_token(self, header: str | None, audiences: frozenset[str]) -> str | None:
        """None if the bearer token is good for one of `audiences`, else why not: missing, invalid,
        expired or audience."""
        if not self.require_auth:
            return None
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            return "missing"
        token = header[7:].strip()
        if token in self.static_tokens:
            wanted = self.static_tokens[token]
            return None if wanted is None or wanted in audiences else "audience"
        with self._lock:
            entry = self.issued.get(token)
        if entry is None:
            return "invalid"
        audience, expires = entry
        if expires <= time.time():
            return "expired"
        return None if audience in audiences else "audience"

    # -- throttling --------------------------------------------------------------------------------
    def take_read(self, key: str) -> tuple[bool, int, float]:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = ReadBucket(self.read_capacity, self.read_refill)
        return bucket.take()


def retry_seconds(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
