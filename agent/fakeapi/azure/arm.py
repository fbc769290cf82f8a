"""Azure Resource Manager routes: subscriptions, management groups, resources by id, lists by type,
child collections, role assignments by scope and the Activity Log, with ARM's own errors, paging
(`nextLink`), api-version checks, token checks and per-subscription read throttling."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.fakeapi.azure.tenant import ARM_AUDIENCES, AzureTenant, retry_seconds
from agent.fakeapi.errors import arm_error
from agent.fakeapi.paging import next_link_page
from agent.fakeapi.server import FakeApi, Reply, Request

# Versions the fake accepts, per provider namespace or namespace/type (a subset of what Azure accepts).
SUPPORTED_VERSIONS: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    "microsoft.resources": ("2022-12-01", "2021-01-01", "2020-01-01"),
    "microsoft.management": ("2023-04-01", "2021-04-01", "2020-05-01"),
    "microsoft.storage": ("2023-05-01", "2023-04-01", "2023-01-01", "2022-09-01"),
    "microsoft.keyvault": ("2023-07-01", "2023-02-01", "2022-07-01"),
    "microsoft.network": ("2024-05-01", "2024-03-01", "2023-11-01", "2023-09-01"),
    "microsoft.compute/disks": ("2024-03-02", "2023-10-02", "2023-04-02"),
    "microsoft.compute": ("2024-07-01", "2024-03-01", "2023-09-01"),
    "microsoft.sql": ("2021-11-01", "2023-08-01", "2022-05-01-preview"),
    "microsoft.insights/diagnosticsettings": ("2021-05-01-preview", "2017-05-01-preview"),
    "microsoft.insights/eventtypes": ("2015-04-01",),
    "microsoft.operationalinsights": ("2022-10-01", "2023-09-01"),
    "microsoft.security/pricings": ("2024-01-01", "2023-01-01", "2022-03-01"),
    "microsoft.security/securitycontacts": ("2023-12-01-preview", "2020-01-01-preview"),
    "microsoft.authorization/roleassignments": ("2022-04-01", "2020-04-01-preview"),
    "microsoft.authorization/roledefinitions": ("2022-04-01",),
    "microsoft.authorization/classicadministrators": ("2015-07-01",),
    "microsoft.web": ("2023-12-01", "2023-01-01", "2022-09-01"),
}.items()}
_FILTER_TIME = re.compile(r"eventTimestamp\s+(ge|le)\s+'([^']+)'", re.I)
MAX_ACTIVITY_DAYS = 90


def _parse_time(text: str) -> datetime:
    cleaned = text.strip().replace("Z", "+00:00")
    if "." in cleaned:  # ARM sends up to 7 fractional digits
        head, _, tail = cleaned.partition(".")
        digits = re.match(r"\d*", tail).group(0)  # type: ignore[union-attr]
        cleaned = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
    value = datetime.fromisoformat(cleaned)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _provider_key(segments: list[str]) -> str:
    """`namespace` or `namespace/type` of the last `providers/...` in a path (lower case)."""
    lowered = [s.lower() for s in segments]
    if "providers" not in lowered:
        return "microsoft.resources"
    at = len(lowered) - 1 - lowered[::-1].index("providers")
    namespace = lowered[at + 1] if at + 1 < len(lowered) else ""
    kind = lowered[at + 2] if at + 2 < len(lowered) else ""
    return f"{namespace}/{kind}" if f"{namespace}/{kind}" in SUPPORTED_VERSIONS else namespace


class ArmRoutes:
    def __init__(self, tenant: AzureTenant):
        self.tenant = tenant

    def register(self, fake: FakeApi) -> None:
        fake.add("GET", "/subscriptions", self.subscriptions)
        fake.add("GET", "/subscriptions/{rest:path}", self.under_subscription)
        fake.add("GET", "/providers/{rest:path}", self.tenant_level)

    # -- gatekeeping ---------------------------------------------------------------------------------
    def _gate(self, request: Request, throttle_key: str, header: str) -> Reply | None:
        problem = self.tenant.check_token(request.header("Authorization"), ARM_AUDIENCES)
        if problem == "missing":
            return arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                             "missing.")
        if problem == "expired":
            now = datetime.now(UTC).strftime("%m/%d/%Y %H:%M:%S")
            return arm_error(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than "
                             f"current UTC time '{now}'.")
        if problem == "audience":
            return arm_error(401, "InvalidAuthenticationTokenAudience", "The access token has been obtained for "
                             "wrong audience or resource. It should exactly match with one of the allowed audiences "
                             "'https://management.core.windows.net/','https://management.azure.com/'.")
        if problem:
            return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        version = request.arg("api-version")
        segments = [s for s in request.path.split("/") if s]
        key = _provider_key(segments)
        if not version:
            return arm_error(400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for all requests.")
        supported = SUPPORTED_VERSIONS.get(key)
        if supported is not None and version not in supported:
            kind = key.split("/", 1)[-1]
            return arm_error(400, "NoRegisteredProviderFound" if "/" in key or key != "microsoft.resources"
                             else "InvalidApiVersionParameter",
                             f"No registered resource provider found for location 'westeurope' and API version "
                             f"'{version}' for type '{kind}'. The supported api-versions are "
                             f"'{', '.join(sorted(supported))}'.")
        allowed, remaining, wait = self.tenant.take_read(throttle_key)
        if not allowed:
            return arm_error(429, "TooManyRequests", "The request is being throttled as the limit has been reached "
                             "for operation type - Read_ObservationWindow_00:05:00.",
                             {"Retry-After": retry_seconds(wait), header: "0"})
        request.params["_remaining"] = str(remaining)
        request.params["_header"] = header
        return None

    def _ok(self, request: Request, reply: Reply) -> Reply:
        reply.headers.setdefault(request.params.get("_header", "x-ms-ratelimit-remaining-subscription-reads"),
                                 request.params.get("_remaining", "0"))
        reply.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        return reply

    def _list(self, request: Request, items: list[dict[str, Any]]) -> Reply:
        return self._ok(request, next_link_page(request, items, page_size=self.tenant.arm_page_size))

    # -- tenant level --------------------------------------------------------------------------------
    def subscriptions(self, request: Request) -> Reply:
        denied = self._gate(request, "tenant", "x-ms-ratelimit-remaining-tenant-reads")
        if denied:
            return denied
        return self._list(request, list(self.tenant.subscriptions.values()))

    def tenant_level(self, request: Request) -> Reply:
        denied = self._gate(request, "tenant", "x-ms-ratelimit-remaining-tenant-reads")
        if denied:
            return denied
        match = re.fullmatch(r"Microsoft\.Management/managementGroups/([^/]+)/descendants", request.params["rest"],
                             re.I)
        if match:
            group = match.group(1).lower()
            found = {k.lower(): v for k, v in self.tenant.management_groups.items()}.get(group)
            if found is None:
                return arm_error(403, "AuthorizationFailed", f"The client does not have authorization to perform "
                                 f"action 'Microsoft.Management/managementGroups/descendants/read' over scope "
                                 f"'/providers/Microsoft.Management/managementGroups/{match.group(1)}' or the scope "
                                 "is invalid.")
            return self._list(request, found)
        role_def = re.fullmatch(r"Microsoft\.Authorization/roleDefinitions/([^/]+)", request.params["rest"], re.I)
        if role_def:
            for obj in self.tenant.arm.values():
                if obj["id"].lower().endswith("/roledefinitions/" + role_def.group(1).lower()):
                    return self._ok(request, Reply(200, {**obj, "id": "/providers/Microsoft.Authorization/"
                                                         f"roleDefinitions/{obj['name']}"}))
            return arm_error(404, "RoleDefinitionDoesNotExist", "The specified role definition with ID "
                             f"'{role_def.group(1)}' does not exist.")
        return arm_error(404, "InvalidResourceNamespace", "The resource namespace is invalid.")

    # -- subscription level --------------------------------------------------------------------------
    def under_subscription(self, request: Request) -> Reply:
        segments = [s for s in request.path.split("/") if s]
        sub = segments[1].lower()
        denied = self._gate(request, sub, "x-ms-ratelimit-remaining-subscription-reads")
        if denied:
            return denied
        if sub not in self.tenant.subscriptions:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{segments[1]}' could not be found.")
        if len(segments) == 2:
            return self._ok(request, Reply(200, self.tenant.subscriptions[sub]))
        lowered = [s.lower() for s in segments]
        if "providers" in lowered:
            namespace = lowered[lowered.index("providers") + 1] if len(lowered) > lowered.index("providers") + 1 \
                else ""
            if (sub, namespace) in self.tenant.unregistered:
                ns = segments[lowered.index("providers") + 1]
                return arm_error(409, "MissingSubscriptionRegistration", f"The subscription is not registered to use "
                                 f"namespace '{ns}'. See https://aka.ms/rps-not-found for how to register "
                                 "subscriptions.")
        if lowered[2:] == ["providers", "microsoft.insights", "eventtypes", "management", "values"]:
            return self._activity_log(request, sub)
        if len(lowered) >= 3 and lowered[-1] == "roleassignments" and lowered[-2] == "microsoft.authorization":
            return self._role_assignments(request, sub, "/" + "/".join(lowered[:-3]))
        if len(lowered) == 4 and lowered[2] == "providers":
            return self._list_by_subscription(request, sub, lowered[3], None)
        if len(lowered) == 5 and lowered[2] == "providers":
            return self._list_by_subscription(request, sub, lowered[3], lowered[4])
        path = request.path.rstrip("/").lower()
        found = self.tenant.arm.get(path)
        if found is not None:
            return self._ok(request, Reply(200, found))
        children = [obj for key, obj in self.tenant.arm.items()
                    if key.startswith(path + "/") and "/" not in key[len(path) + 1:]]
        parent = path.rsplit("/", 1)[0]
        if children or (self._is_collection(lowered) and parent in self.tenant.arm):
            if lowered[-1] == "roledefinitions":
                return self._role_definitions(request, children)
            return self._list(request, sorted(children, key=lambda o: o["id"].lower()))
        if self._is_collection(lowered):
            return arm_error(404, "ParentResourceNotFound", f"Can not perform requested operation on nested "
                             f"resource. Parent resource '{segments[-2]}' not found.")
        return arm_error(404, "ResourceNotFound", f"The Resource '{'/'.join(segments[-3:-1])}/{segments[-1]}' "
                         f"under resource group '{segments[3] if len(segments) > 3 else ''}' was not found. For more "
                         "details please go to https://aka.ms/ARMResourceNotFoundFix")

    @staticmethod
    def _is_collection(lowered: list[str]) -> bool:
        """After `providers/<namespace>`, segments alternate type/name: an odd count ends on a type."""
        if "providers" not in lowered:
            return False
        at = len(lowered) - 1 - lowered[::-1].index("providers")
        return (len(lowered) - at - 2) % 2 == 1

    def _list_by_subscription(self, request: Request, sub: str, namespace: str, kind: str | None) -> Reply:
        if kind is None:
            return arm_error(400, "InvalidResourceType", "The resource type could not be found in the namespace.")
        if namespace == "microsoft.authorization" and kind == "roledefinitions":
            items = [o for k, o in self.tenant.arm.items() if k.startswith(f"/subscriptions/{sub}/providers/"
                                                                         "microsoft.authorization/roledefinitions/")]
            return self._role_definitions(request, items)
        top = re.compile(rf"^/subscriptions/{re.escape(sub)}(/resourcegroups/[^/]+)?/providers/{re.escape(namespace)}/"
                         rf"{re.escape(kind)}/[^/]+$")
        items = sorted((o for k, o in self.tenant.arm.items() if top.match(k)), key=lambda o: o["id"].lower())
        return self._list(request, items)

    def _role_definitions(self, request: Request, items: list[dict[str, Any]]) -> Reply:
        wanted = request.arg("$filter") or ""
        match = re.fullmatch(r"\s*type\s+eq\s+'(\w+)'\s*", wanted)
        if wanted and not match:
            return arm_error(400, "InvalidFilterInQueryString", f"The filter '{wanted}' is not supported.")
        if match:
            items = [i for i in items if i["properties"]["type"].lower() == match.group(1).lower()]
        return self._list(request, sorted(items, key=lambda o: o["id"].lower()))

    def _role_assignments(self, request: Request, sub: str, scope: str) -> Reply:
        """Assignments at `scope`, above it (root, management groups) and, without `atScope()`, below it."""
        wanted = (request.arg("$filter") or "").strip()
        if wanted not in ("", "atScope()"):
            return arm_error(400, "UnsupportedQuery", f"The filter '{wanted}' is not supported.")
        ancestors = {"/", *(f"/providers/microsoft.management/managementgroups/{g.lower()}"
                            for g, items in self.tenant.management_groups.items()
                            if any(i["id"].lower() == f"/subscriptions/{sub}" for i in items))}
        out = []
        for obj in self.tenant.arm.values():
            if not obj["type"].lower().endswith("roleassignments"):
                continue
            where = (obj["properties"].get("scope") or "/").lower()
            at_or_above = where == scope or where in ancestors or scope.startswith(where + "/")
            below = where.startswith(scope + "/")
            if at_or_above or (below and not wanted):
                out.append(obj)
        return self._list(request, sorted(out, key=lambda o: o["id"].lower()))

    def _activity_log(self, request: Request, sub: str) -> Reply:
        text = request.arg("$filter")
        if not text:
            return arm_error(400, "BadRequest", "The $filter query parameter is required and must contain an "
                             "eventTimestamp range.")
        bounds = {op.lower(): value for op, value in _FILTER_TIME.findall(text)}
        if "ge" not in bounds:
            return arm_error(400, "BadRequest", "The $filter must specify eventTimestamp ge '<start time>'.")
        try:
            start = _parse_time(bounds["ge"])
            end = _parse_time(bounds["le"]) if "le" in bounds else datetime.now(UTC)
        except ValueError:
            return arm_error(400, "BadRequest", f"The time in '{text}' is not valid.")
        if end - start > timedelta(days=MAX_ACTIVITY_DAYS) or datetime.now(UTC) - start > timedelta(
                days=MAX_ACTIVITY_DAYS, hours=1):
            return arm_error(400, "BadRequest", "The query time range is too large: at most 90 days of the last "
                             "90 days can be queried.")
        events = [e for e in self.tenant.events.get(sub, []) if start <= _parse_time(e["eventTimestamp"]) <= end]
        events.sort(key=lambda e: e["eventTimestamp"], reverse=True)
        fields = [f.strip() for f in (request.arg("$select") or "").split(",") if f.strip()]
        if fields:
            events = [{k: v for k, v in e.items() if k in fields} for e in events]
        return self._ok(request, next_link_page(request, events, page_size=self.tenant.activity_page_size))
