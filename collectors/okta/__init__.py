"""The Okta collector: users in every status with their factors, admin roles and the MFA their policies
require, password / sign-on / authentication policies, apps and assignments, and the System Log.

Read-only, through the shared HTTP client: `SSWS <token>` (an API token) or `Bearer <token>` (an
OAuth 2.0 access token with the `okta.*.read` scopes), `Link: rel="next"` paging, Okta's
`X-Rate-Limit-*` headers honoured (slowing down before the limit, waiting for the reset after a
429 E0000047). Every part that cannot be read is a collection error with Okta's errorCode.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from agent.identity import IDENTITY_TYPE
from agent.model import Resource
from collectors.base import Collector, CollectorOptions
from collectors.okta import accounts, api, apps, directory, policies, syslog
from collectors.okta.policies import ACCESS, PASSWORD, SIGN_ON, Policies

RAW_POLICY_TYPES = {PASSWORD: "okta.password_policy", SIGN_ON: "okta.signon_policy", ACCESS: "okta.access_policy"}


class OktaOptions(CollectorOptions):
    auth: Literal["ssws", "bearer"] = Field(default="ssws", description="SSWS API token or OAuth bearer token")
    service_user_types: list[str] | None = Field(
        default=None, description="Okta user type names whose users are service accounts (default: types "
                                  "whose name says service, machine or bot)")
    applications: bool = Field(default=True, description="read apps and their assignments")
    system_log: bool = Field(default=True, description="read the System Log incrementally")
    log_lookback_days: int = Field(default=30, ge=1, le=90, description="System Log days read on the first run")


class OktaCollector(Collector):
    type = "okta"
    resource_types: ClassVar[dict[str, str]] = {
        "okta.user": "an Okta user in any status, with its factors, admin roles and the MFA its policies require",
        "okta.user_type": "an Okta user type (a service-account type marks its users as non-human)",
        "okta.group": "an Okta group named in a sign-on or authentication policy",
        "okta.admin_role": "an admin role assignment of a user (directly or through a group)",
        "okta.password_policy": "an Okta password policy with its rules",
        "okta.signon_policy": "an Okta global session (sign-on) policy with its rules",
        "okta.access_policy": "an Okta authentication (app sign-on) policy with its rules (Identity Engine)",
        "okta.app": "an Okta application with its user and group assignments",
        syslog.EVENT: "a System Log event that matters for access control (admin grant, factor reset, policy "
                      "change, sign-in without MFA)",
        syslog.ACTIVITY: "the System Log coverage and its security events over 90 days, carried across runs",
        IDENTITY_TYPE: "an Okta user in the shared identity shape",
    }
    Options = OktaOptions

    def collect(self) -> Iterator[Resource]:
        opts: OktaOptions = self.ctx.options
        try:
            http = api.client(self.ctx, opts.auth)
        except api.MissingSetup as exc:
            for rtype in self.resource_types:
                self.ctx.report_error(rtype, api.describe(exc))
            return
        org = str(self.ctx.source.endpoint).rstrip("/")
        tenant = accounts.tenant_of(org)
        workers = self.ctx.source.max_concurrency
        with http:
            self.ctx.progress.update("reading policies")
            found = {kind: self._policies(http, kind, workers) for kind in RAW_POLICY_TYPES}
            app_set = apps.read_apps(http, workers) if opts.applications else None
            self.ctx.progress.update("reading users")
            d = directory.Directory()
            directory.read_user_types(http, d)
            directory.read_users(http, d)
            directory.read_groups(http, d, policies.referenced_groups([found[SIGN_ON], found[ACCESS]]))
            directory.read_roles(http, d, workers)
            self.ctx.progress.update(f"reading factors of {len(d.users)} users")
            directory.read_factors(http, d, workers)
            yield from self._policy_resources(found, tenant)
            yield from self._directory_resources(d, org, tenant)
            yield from self._users(d, found, app_set, org, tenant, opts)
            if app_set is not None:
                yield from self._apps(app_set, d, org, tenant)
            if opts.system_log:
                self.ctx.progress.update("reading the System Log")
                yield from syslog.collect(http, org, tenant, self.ctx.cursor, opts.log_lookback_days,
                                          self.ctx.report_error)

    # -- policies ------------------------------------------------------------------------------
    def _policies(self, http: Any, kind: str, workers: int) -> Policies:
        out = Policies(kind)
        try:
            out.items = list(http.get_json("/api/v1/policies", params={"type": kind}))
        except Exception as exc:
            # A Classic Engine org has no authentication policies: Okta rejects the type (400 E0000001).
            if kind == ACCESS and getattr(exc, "status", None) == 400 and getattr(exc, "provider_code", "") \
                    == "E0000001":
                out.available = False
            else:
                out.error = api.describe(exc)
            return out
        results = directory.fan_out(workers, lambda pid: http.get_json(f"/api/v1/policies/{pid}/rules"),
                                    [p["id"] for p in out.items])
        for policy in out.items:
            result = results[policy["id"]]
            failed = isinstance(result, Exception)
            policy["annexa"] = {"rules": [] if failed else list(result),
                                "rulesError": api.describe(result) if failed else None}
        return out

    def _policy_resources(self, found: dict[str, Policies], tenant: str) -> Iterator[Resource]:
        for kind, rtype in RAW_POLICY_TYPES.items():
            result = found[kind]
            if result.error:
                self.ctx.report_error(rtype, result.error)
                continue
            for policy in result.items:
                href = ((policy.get("_links") or {}).get("self") or {}).get("href") or \
                    f"{str(self.ctx.source.endpoint).rstrip('/')}/api/v1/policies/{policy['id']}"
                yield Resource(rtype, href, str(policy.get("name") or policy["id"]), policy, account=tenant)

    # -- directory -----------------------------------------------------------------------------
    def _directory_resources(self, d: directory.Directory, org: str, tenant: str) -> Iterator[Resource]:
        if d.user_types_error:
            self.ctx.report_error("okta.user_type", d.user_types_error)
        for user_type in d.user_types.values():
            yield Resource("okta.user_type", f"{org}/api/v1/meta/types/user/{user_type['id']}",
                           str(user_type.get("displayName") or user_type.get("name")), user_type, account=tenant)
        if d.groups_error:
            self.ctx.report_error("okta.group", d.groups_error)
        for group_id, group in d.groups.items():
            data = {**group, "annexa": {"memberCount": None if group_id in d.everyone else len(d.members[group_id])}}
            yield Resource("okta.group", f"{org}/api/v1/groups/{group_id}",
                           str((group.get("profile") or {}).get("name") or group_id), data, account=tenant)
        if d.roles_error:
            self.ctx.report_error("okta.admin_role", d.roles_error)
        for user_id, roles in d.roles.items():
            login = ((d.users.get(user_id) or {}).get("profile") or {}).get("login") or user_id
            for role in roles:
                data = {**role, "annexa": {"userId": user_id, "login": login,
                                           "userStatus": (d.users.get(user_id) or {}).get("status")}}
                yield Resource("okta.admin_role", f"{org}/api/v1/users/{user_id}/roles/{role.get('id')}",
                               f"{role.get('label') or role.get('type')} of {login}", data, account=tenant)

    def _users(self, d: directory.Directory, found: dict[str, Policies], app_set: apps.Apps | None, org: str,
               tenant: str, opts: OktaOptions) -> Iterator[Resource]:
        if d.users_error:
            self.ctx.report_error("okta.user", d.users_error)
            self.ctx.report_error(IDENTITY_TYPE, d.users_error)
            return
        in_use = app_set.access_policies() if app_set is not None else None
        for user_id, user in d.users.items():
            groups = d.groups_of(user_id)
            if d.groups_error:
                mfa: dict[str, Any] = {"mfaRequired": None, "reason": f"policy groups could not be read: "
                                                                      f"{d.groups_error}"}
            else:
                mfa = policies.mfa_required(found[SIGN_ON], found[ACCESS], in_use, user_id, groups)
            user_type = d.user_types.get((user.get("type") or {}).get("id", ""))
            data = accounts.annotate(
                user, factors=d.factors.get(user_id), factors_error=d.factor_errors.get(user_id),
                roles=d.roles.get(user_id, []), roles_error=d.roles_error, user_type=user_type,
                types_known=d.user_types_error is None, service_types=opts.service_user_types, mfa_policy=mfa,
                groups=sorted(g for g in groups if g in d.groups))
            url = accounts.user_url(user, org)
            login = (user.get("profile") or {}).get("login") or user_id
            yield Resource("okta.user", url, login, data, account=tenant)
            yield accounts.identity(data, org).to_resource()

    def _apps(self, app_set: apps.Apps, d: directory.Directory, org: str, tenant: str) -> Iterator[Resource]:
        if app_set.error:
            self.ctx.report_error("okta.app", app_set.error)
            return
        for app in app_set.items:
            yield Resource("okta.app", f"{org}/api/v1/apps/{app['id']}", str(app.get("label") or app.get("name")),
                           apps.annotate(app, app_set, d.users, d.users_error), account=tenant)
