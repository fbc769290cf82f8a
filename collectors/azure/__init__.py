"""The Azure collector: subscriptions x ARM services, plus the tenant's Entra ID through Microsoft Graph.

Fan-out (which subscriptions, from the configured list, a management group or everything the
identity can read) is separate from fetching (one service in one subscription, or one Graph area of
the tenant). Tasks run side by side on a bounded pool; every request goes through the shared HTTP
client, read-only, with per-subscription read pacing.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from agent.confignames import check_service_list
from agent.http import HttpError
from agent.model import Resource
from collectors.azure import auth
from collectors.azure.api import AzureApi, CallLog, build_api
from collectors.azure.errors import describe
from collectors.azure.scope import RunCache, Scope
from collectors.azure.services import ServiceSpec, all_services, resource_types
from collectors.base import Collector, CollectorOptions

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SUBSCRIPTION = "azure.subscription"
READABLE_STATES = frozenset({"enabled", "warned", "pastdue"})


class AzureOptions(CollectorOptions):
    tenant_id: str | None = None
    subscriptions: Literal["all"] | list[str] = "all"
    management_group: str | None = Field(default=None, min_length=1, max_length=90)
    arm_endpoint: str = "https://management.azure.com"
    graph_endpoint: str = "https://graph.microsoft.com"
    authority_host: str | None = None
    arm_scope: str | None = None
    graph_scope: str | None = None
    graph_token_env: str | None = None
    credential: Literal["default", "environment", "workload_identity", "managed_identity", "cli"] = "default"
    managed_identity_client_id: str | None = None
    instance_discovery: bool = True  # false for an authority Microsoft's discovery does not know (Azure Stack)
    services: list[str] | None = None
    exclude_services: list[str] = Field(default_factory=list)
    max_workers: int = Field(default=16, ge=1, le=64)
    item_workers: int = Field(default=4, ge=1, le=16)
    logs_lookback_days: int = Field(default=7, ge=1, le=90)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and not (GUID.match(value) or re.match(r"^[a-z0-9.-]+\.[a-z]{2,}$", value, re.I)):
            raise ValueError("expected the tenant's GUID or one of its domain names")
        return value

    @field_validator("subscriptions")
    @classmethod
    def _subscriptions(cls, value: Any) -> Any:
        if isinstance(value, list):
            bad = [v for v in value if not (isinstance(v, str) and GUID.match(v))]
            if bad:
                raise ValueError(f"subscription ids are GUIDs (got {bad[0]!r})")
            if not value:
                raise ValueError("an empty list selects nothing; use 'all' or name subscriptions")
        return value

    @field_validator("arm_endpoint", "graph_endpoint", "authority_host")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("services", "exclude_services")
    @classmethod
    def _known(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return check_service_list(value, (s.name for s in all_services()),
                                  allow_empty=info.field_name == "exclude_services")


class AzureCollector(Collector):
    type = "azure"
    resource_types: ClassVar[dict[str, str]] = resource_types()
    Options = AzureOptions

    calls: CallLog | None = None  # last run's requests (bench, permissions coverage test)
    last_api: AzureApi | None = None  # last run's API layer (its read pacer, for the bench and tests)
    partitioned: ClassVar[bool] = True  # `--shard K/N` splits the subscriptions (agent.sharding)

    @classmethod
    def shard_unit(cls, resource_type: str, account: str | None, region: str | None,
                   resource_id: str | None = None) -> tuple[str | None, str | None]:
        """One unit per subscription, and one for the tenant (Entra ID): resources' locations do not matter."""
        return account, None

    def collect(self) -> Iterator[Resource]:
        out: queue.Queue[Any] = queue.Queue(maxsize=2000)
        done = object()

        def work() -> None:
            try:
                self._fan_out(self.ctx.options, out)
            except Exception as exc:  # no credential at all, ARM unreachable: every type is an error
                self.ctx.logger.debug("azure collection failed", exc_info=True)
                for rtype in self.resource_types:
                    self.ctx.report_error(rtype, describe(exc))
            finally:
                out.put(done)

        threading.Thread(target=work, daemon=True, name=f"azure-{self.ctx.name}").start()
        while True:
            item = out.get()
            if item is done:
                return
            yield item

    # -- wiring ------------------------------------------------------------------------------
    def _tokens(self, opts: AzureOptions) -> tuple[auth.TokenSource, str, str]:
        arm_scope = opts.arm_scope or auth.arm_scope(opts.arm_endpoint)
        graph_scope = opts.graph_scope or auth.graph_scope(opts.graph_endpoint)
        token_env = self.ctx.source.token_env
        if token_env:
            return auth.StaticTokens(token_env, opts.graph_token_env, graph_scope), arm_scope, graph_scope
        authority = opts.authority_host or auth.authority_for(opts.arm_endpoint)
        credential = auth.build_credential(opts.credential, authority=authority,
                                           managed_identity_client_id=opts.managed_identity_client_id,
                                           instance_discovery=opts.instance_discovery)
        tenant = opts.tenant_id if opts.tenant_id and GUID.match(opts.tenant_id) else None
        return auth.CredentialTokens(credential, tenant_id=tenant), arm_scope, graph_scope

    def _api(self, opts: AzureOptions) -> AzureApi:
        if "arm_endpoint" not in opts.model_fields_set and self.ctx.source.endpoint:
            # the common `endpoint` key every HTTP source takes names the ARM endpoint here
            opts = opts.model_copy(update={"arm_endpoint": self.ctx.source.endpoint.rstrip("/")})
            self.ctx.options = opts
        tokens, arm_scope, graph_scope = self._tokens(opts)
        api = build_api(self.ctx.http, arm_endpoint=opts.arm_endpoint, graph_endpoint=opts.graph_endpoint,
                        arm_auth=lambda: {"Authorization": f"Bearer {tokens.token(arm_scope)}"},
                        graph_auth=lambda: {"Authorization": f"Bearer {tokens.token(graph_scope)}"})
        type(self).calls = api.log
        type(self).last_api = api
        return api

    # -- fan-out -----------------------------------------------------------------------------
    def _fan_out(self, opts: AzureOptions, out: queue.Queue[Any]) -> None:
        api = self._api(opts)
        opts = self.ctx.options
        cache = RunCache()
        specs = [s for s in all_services()
                 if (opts.services is None or s.name in opts.services) and s.name not in opts.exclude_services]
        arm_types = [t for s in specs if s.level == "subscription" for t in s.resource_types]
        subscriptions = self._subscriptions(opts, api, out, arm_types) if arm_types else []
        tenant_id = opts.tenant_id if opts.tenant_id and GUID.match(opts.tenant_id) else None
        tenant_id = tenant_id or next((str(s.get("tenantId")) for s in subscriptions if s.get("tenantId")), None)
        if tenant_id is None and any(s.level == "tenant" for s in specs):
            tenant_id = self._tenant_from_graph(api)
        common = {"api": api, "cache": cache, "report": self.ctx.report_error, "options": opts,
                  "cursor": self.ctx.cursor, "graph_root": auth.graph_root(opts.graph_endpoint),
                  "item_workers": opts.item_workers}
        owns = self.ctx.owns_unit or (lambda account, region: True)  # a shard reads only its units
        tasks: list[tuple[Scope, ServiceSpec]] = []
        for spec in specs:
            if spec.level == "tenant":
                if tenant_id is None:
                    for rtype in spec.resource_types:
                        self.ctx.report_error(rtype, "credentials: the tenant could not be determined")
                    continue
                if owns(tenant_id, None):
                    tasks.append((Scope(tenant_id=tenant_id, **common), spec))
            else:
                tasks.extend((Scope(tenant_id=str(sub.get("tenantId") or tenant_id or ""),
                                    subscription_id=str(sub["subscriptionId"]), subscription=sub, **common), spec)
                             for sub in subscriptions if owns(str(sub["subscriptionId"]), None))
        self.ctx.progress.update(f"{len(subscriptions)} subscriptions, {len(tasks)} tasks")

        def run(scope: Scope, spec: ServiceSpec) -> None:
            try:
                for resource in spec.collect(scope):
                    out.put(resource)
            except Exception as exc:  # a bug or an unexpected answer in one service: only its types fail
                self.ctx.logger.exception("azure service %s failed", spec.name)
                for rtype in spec.resource_types:
                    scope.fail(rtype, exc)

        with ThreadPoolExecutor(max_workers=opts.max_workers, thread_name_prefix="azure") as pool:
            for future in [pool.submit(run, scope, spec) for scope, spec in tasks]:
                future.result()

    def _tenant_from_graph(self, api: AzureApi) -> str | None:
        try:
            orgs = api.graph_get("/organization", {"$select": "id"}).get("value") or []
        except HttpError:
            return None
        return str(orgs[0]["id"]) if orgs else None

    def _subscriptions(self, opts: AzureOptions, api: AzureApi, out: queue.Queue[Any],
                       arm_types: list[str]) -> list[dict[str, Any]]:
        """The subscriptions to read (each also yielded as `azure.subscription`); unreadable ones are errors."""
        try:
            visible = {str(s["subscriptionId"]).lower(): s for s in api.arm_list("/subscriptions")}
        except HttpError as exc:
            for rtype in [SUBSCRIPTION, *arm_types]:
                self.ctx.report_error(rtype, describe(exc))
            return []
        if opts.management_group:
            try:
                members = [d for d in api.arm_list(f"/providers/Microsoft.Management/managementGroups/"
                                                   f"{opts.management_group}/descendants")
                           if str(d.get("type", "")).lower() in ("microsoft.management/managementgroups/subscriptions",
                                                                 "/subscriptions")]
            except HttpError as exc:
                for rtype in [SUBSCRIPTION, *arm_types]:
                    self.ctx.report_error(rtype, f"management group {opts.management_group}: {describe(exc)}")
                return []
            wanted = [str(m.get("name")) for m in members]
        elif opts.subscriptions == "all":
            wanted = list(visible)
            if not wanted:
                for rtype in [SUBSCRIPTION, *arm_types]:
                    self.ctx.report_error(rtype, "denied: no subscription is visible to this identity (assign it "
                                                 "Reader on the subscriptions or a management group)")
        else:
            wanted = list(opts.subscriptions)
        chosen = []
        for sub_id in wanted:
            sub = visible.get(sub_id.lower())
            if sub is None:
                for rtype in [SUBSCRIPTION, *arm_types]:
                    self.ctx.report_error(rtype, f"not_found: SubscriptionNotFound: subscription {sub_id} is not "
                                                 "visible to this identity", account=sub_id)
                continue
            out.put(Resource(SUBSCRIPTION, sub["id"], str(sub.get("displayName") or sub_id), sub,
                             account=str(sub["subscriptionId"]), region="global"))
            if str(sub.get("state", "")).lower() in READABLE_STATES:
                chosen.append(sub)
        return chosen
