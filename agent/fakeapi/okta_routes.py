"""The Okta Management API read paths, answered from an `OktaTenant` exactly as Okta answers them.

Every answer carries Okta's per-endpoint-family rate-limit headers (`X-Rate-Limit-Limit/
Remaining/Reset`, reset as epoch seconds at the next minute); beyond the limit the answer is 429
E0000047. A missing or unknown token is 401 E0000011; a path the token may not read is 403
E0000006. `/api/v1/users` omits DEPROVISIONED users unless `filter` or `search` is used.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.fakeapi import scim
from agent.fakeapi.errors import okta_error
from agent.fakeapi.okta import OktaTenant
from agent.fakeapi.paging import cursor_link_page
from agent.fakeapi.server import FakeApi, Reply, Request

POLICY_TYPES = frozenset({"OKTA_SIGN_ON", "PASSWORD", "MFA_ENROLL", "IDP_DISCOVERY", "ACCESS_POLICY",
                          "PROFILE_ENROLLMENT", "POST_AUTH_SESSION", "ENTITY_RISK", "DEVICE_SIGNAL_COLLECTION"})
FILTER_USER_ATTRS = frozenset({"status", "lastUpdated", "id", "profile.login", "profile.email",
                               "profile.firstName", "profile.lastName"})
Handler = Callable[[Request], Reply]


class _Buckets:
    """Okta's fixed windows (one minute) per endpoint family; the reset is the window's end, in epoch seconds."""

    def __init__(self, tenant: OktaTenant):
        self.tenant = tenant  # limits and window are read live, so a test may change them
        self.lock = threading.Lock()
        self.counts: dict[str, tuple[int, int]] = {}

    def take(self, bucket: str) -> tuple[bool, dict[str, str]]:
        limit, window = self.tenant.limits.get(bucket, 600), self.tenant.rate_window
        with self.lock:
            current = int(time.time() // window)
            start, used = self.counts.get(bucket, (current, 0))
            if start != current:
                start, used = current, 0
            used += 1
            self.counts[bucket] = (start, used)
        reset = -(-((start + 1) * window) // 1)  # the window's end, rounded up to whole seconds
        headers = {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(max(0, limit - used)),
                   "X-Rate-Limit-Reset": str(int(reset))}
        return used <= limit, headers


def bucket_of(path: str) -> str:
    if path == "/api/v1/users":
        return path
    if path.startswith("/api/v1/users/"):
        return "/api/v1/users/{id}"
    match = re.match(r"^/api/v1/(logs|apps|groups|policies|iam|meta)", path)
    return f"/api/v1/{match.group(1)}" if match else "/api/v1"


def register(api: FakeApi, t: OktaTenant) -> None:
    buckets = _Buckets(t)

    def guard(handler: Handler) -> Handler:
        def wrapped(req: Request) -> Reply:
            ok, headers = buckets.take(bucket_of(req.path))
            reply = _check(req) or (handler(req) if ok else okta_error(
                429, "E0000047", "API call exceeded rate limit due to too many requests."))
            reply.headers = {**headers, **reply.headers}
            return reply
        return wrapped

    def _check(req: Request) -> Reply | None:
        scheme, _, token = (req.header("Authorization") or "").partition(" ")
        if not token or t.tokens.get(token) != scheme:
            return okta_error(401, "E0000011", "Invalid token provided")
        if any(re.search(pattern, req.path) for pattern in t.forbidden):
            return okta_error(403, "E0000006", "You do not have permission to perform the requested action")
        return None

    def route(pattern: str, handler: Handler) -> None:
        api.add("GET", pattern, guard(handler))

    base = "/api/v1"
    route(f"{base}/users", lambda r: _list_users(t, r))
    route(f"{base}/users/{{user}}", lambda r: _one(r, _user(t, r.params["user"]), lambda u: _user_out(r, u)))
    route(f"{base}/users/{{user}}/factors", lambda r: _user_list(t, r, lambda uid: [
        _factor_out(r, uid, f) for f in t.factors.get(uid, [])]))
    route(f"{base}/users/{{user}}/roles", lambda r: _user_list(t, r, lambda uid: _roles_of(t, r, uid)))
    route(f"{base}/users/{{user}}/groups", lambda r: _user_list(t, r, lambda uid: [
        _group_out(r, g) for gid, g in t.groups.items() if uid in t.members.get(gid, [])]))
    route(f"{base}/iam/assignees/users", lambda r: _assignees(t, r))
    route(f"{base}/groups/{{group}}", lambda r: _one(r, t.groups.get(r.params["group"]), lambda g: _group_out(r, g)))
    route(f"{base}/groups/{{group}}/users", lambda r: _group_members(t, r))
    route(f"{base}/meta/types/user", lambda r: Reply(200, [_type_out(r, x) for x in t.user_types]))
    route(f"{base}/policies", lambda r: _policies(t, r))
    route(f"{base}/policies/{{policy}}", lambda r: _one(r, _policy(t, r.params["policy"]),
                                                        lambda p: _policy_out(r, p)))
    route(f"{base}/policies/{{policy}}/rules", lambda r: _policy_rules(t, r))
    route(f"{base}/apps", lambda r: _apps(t, r))
    route(f"{base}/apps/{{app}}/users", lambda r: _app_children(t, r, t.app_users))
    route(f"{base}/apps/{{app}}/groups", lambda r: _app_children(t, r, t.app_groups))
    route(f"{base}/logs", lambda r: _logs(t, r))
    api.set_not_found(guard(lambda r: okta_error(404, "E0000007", f"Not found: Resource not found: {r.path}")))


# -- helpers ---------------------------------------------------------------------------------
def _one(req: Request, obj: dict[str, Any] | None, render: Callable[[dict[str, Any]], dict[str, Any]]) -> Reply:
    if obj is None:
        return okta_error(404, "E0000007", f"Not found: Resource not found: {req.path.rsplit('/', 1)[-1]}")
    return Reply(200, render(obj))


def _user(t: OktaTenant, key: str) -> dict[str, Any] | None:
    """A user by id or login, as Okta resolves `{userId}`."""
    return t.users.get(key) or next((u for u in t.users.values() if u["profile"]["login"].lower() == key.lower()),
                                    None)


def _user_list(t: OktaTenant, req: Request, build: Callable[[str], list[dict[str, Any]]]) -> Reply:
    user = _user(t, req.params["user"])
    if user is None:
        return okta_error(404, "E0000007", f"Not found: Resource not found: {req.params['user']} (User)")
    return Reply(200, build(user["id"]))


def _user_out(req: Request, user: dict[str, Any]) -> dict[str, Any]:
    href = f"{req.base_url}/api/v1/users/{user['id']}"
    links: dict[str, Any] = {"self": {"href": href},
                             "type": {"href": f"{req.base_url}/api/v1/meta/types/user/{user['type']['id']}"}}
    if user["status"] == "ACTIVE":
        links["suspend"] = {"href": f"{href}/lifecycle/suspend", "method": "POST"}
        links["deactivate"] = {"href": f"{href}/lifecycle/deactivate", "method": "POST"}
    elif user["status"] in ("STAGED", "PROVISIONED", "DEPROVISIONED"):
        links["activate"] = {"href": f"{href}/lifecycle/activate", "method": "POST"}
    return {**user, "_links": links}


def _factor_out(req: Request, user_id: str, factor: dict[str, Any]) -> dict[str, Any]:
    href = f"{req.base_url}/api/v1/users/{user_id}/factors/{factor['id']}"
    links: dict[str, Any] = {"self": {"href": href, "hints": {"allow": ["GET", "DELETE"]}},
                             "user": {"href": f"{req.base_url}/api/v1/users/{user_id}", "hints": {"allow": ["GET"]}}}
    if factor["status"] == "PENDING_ACTIVATION":
        links["activate"] = {"href": f"{href}/lifecycle/activate", "hints": {"allow": ["POST"]}}
        if factor["factorType"] == "token:software:totp":  # Okta returns the enrolment secret until activation
            embedded = {"activation": {"timeStep": 30, "sharedSecret": "HE64TMLL2IUZW2ZLB", "encoding": "base32",
                                       "keyLength": 16, "_links": {"qrcode": {
                                           "href": f"{href}/qr/00fukNElRS_Tz6k-CFhg3pH4KO2dj2guhmaapXWbc4",
                                           "type": "image/png"}}}}
            return {**factor, "_links": links, "_embedded": embedded}
    else:
        links["verify"] = {"href": f"{href}/verify", "hints": {"allow": ["POST"]}}
    return {**factor, "_links": links}


def _roles_of(t: OktaTenant, req: Request, user_id: str) -> list[dict[str, Any]]:
    out = [{**r, "_links": {"assignee": {"href": f"{req.base_url}/api/v1/users/{user_id}"}}}
           for r in t.roles.get(user_id, [])]
    for group_id, roles in t.group_roles.items():
        if user_id in t.members.get(group_id, []):
            out += [{**r, "_links": {"assignee": {"href": f"{req.base_url}/api/v1/groups/{group_id}"}}} for r in roles]
    return out


def _assignees(t: OktaTenant, req: Request) -> Reply:
    ids = {uid for uid, roles in t.roles.items() if roles}
    for group_id, roles in t.group_roles.items():
        if roles:
            ids.update(t.members.get(group_id, []))
    ordered = sorted(ids)
    limit = max(1, min(req.int_arg("limit", 100), 100))
    after = req.arg("after")
    start = ordered.index(after) + 1 if after in ordered else 0
    chunk = ordered[start:start + limit]
    body: dict[str, Any] = {"value": [{"id": uid, "orn": f"orn:okta:directory:00o1fake:users:{uid}", "_links": {
        "self": {"href": f"{req.base_url}/api/v1/users/{uid}"},
        "roles": {"href": f"{req.base_url}/api/v1/users/{uid}/roles"}}} for uid in chunk], "_links": {}}
    if start + limit < len(ordered) and chunk:
        body["_links"]["next"] = {"href": req.url_for(req.path, [("after", chunk[-1]), ("limit", limit)])}
    return Reply(200, body)


def _group_out(req: Request, group: dict[str, Any]) -> dict[str, Any]:
    href = f"{req.base_url}/api/v1/groups/{group['id']}"
    return {**group, "_links": {"self": {"href": href}, "users": {"href": f"{href}/users"},
                                "apps": {"href": f"{href}/apps"}}}


def _group_members(t: OktaTenant, req: Request) -> Reply:
    if req.params["group"] not in t.groups:
        return okta_error(404, "E0000007", f"Not found: Resource not found: {req.params['group']} (UserGroup)")
    users = [_user_out(req, t.users[uid]) for uid in t.members.get(req.params["group"], []) if uid in t.users]
    return cursor_link_page(req, users, default=1000, maximum=1000)


def _type_out(req: Request, user_type: dict[str, Any]) -> dict[str, Any]:
    href = f"{req.base_url}/api/v1/meta/types/user/{user_type['id']}"
    return {**user_type, "_links": {"self": {"href": href}, "schema": {"href": f"{href}/schema"}}}


def _list_users(t: OktaTenant, req: Request) -> Reply:
    users = list(t.users.values())
    query, search, flt = req.arg("q"), req.arg("search"), req.arg("filter")
    if search or flt:
        try:
            node = scim.parse(search or flt or "")
        except scim.FilterError:
            return okta_error(400, "E0000031", "Invalid search criteria.")
        for cmp in scim.comparisons(node):
            allowed = (cmp.path in FILTER_USER_ATTRS and (cmp.op == "eq" or (
                cmp.path == "lastUpdated" and cmp.op in ("gt", "ge", "lt", "le")))) if flt and not search \
                else cmp.op != "ne"
            if not allowed:
                return okta_error(400, "E0000031", "Invalid search criteria.")
        users = [u for u in users if scim.matches(node, u, ignore_case=bool(search))]
    else:
        users = [u for u in users if u["status"] != "DEPROVISIONED"]
        if query:
            needle = query.lower()
            users = [u for u in users if any(str(u["profile"].get(k) or "").lower().startswith(needle)
                                             for k in ("firstName", "lastName", "email"))]
            return Reply(200, [_user_out(req, u) for u in users[:req.int_arg("limit", 10)]])
    return cursor_link_page(req, [_user_out(req, u) for u in users], default=200, maximum=200)


def _policy(t: OktaTenant, policy_id: str) -> dict[str, Any] | None:
    return next((p for p in t.policies if p["id"] == policy_id), None)


def _policy_out(req: Request, policy: dict[str, Any]) -> dict[str, Any]:
    href = f"{req.base_url}/api/v1/policies/{policy['id']}"
    return {**policy, "_links": {"self": {"href": href, "hints": {"allow": ["GET", "PUT"]}},
                                 "rules": {"href": f"{href}/rules", "hints": {"allow": ["GET", "POST"]}}}}


def _policies(t: OktaTenant, req: Request) -> Reply:
    kind = req.arg("type")
    if not kind or kind not in POLICY_TYPES or (kind == "ACCESS_POLICY" and t.engine == "classic"):
        return Reply(400, {"errorCode": "E0000001", "errorSummary": "Api validation failed: type",
                           "errorLink": "E0000001", "errorId": "oaeFakeValidation01",
                           "errorCauses": [{"errorSummary": f"type: Invalid policy type {kind!r}."}]})
    status = req.arg("status")
    chosen = [p for p in t.policies if p["type"] == kind and (status is None or p["status"] == status)]
    return Reply(200, [_policy_out(req, p) for p in sorted(chosen, key=lambda p: p["priority"])])


def _policy_rules(t: OktaTenant, req: Request) -> Reply:
    policy_id = req.params["policy"]
    if _policy(t, policy_id) is None:
        return okta_error(404, "E0000007", f"Not found: Resource not found: {policy_id} (Policy)")
    href = f"{req.base_url}/api/v1/policies/{policy_id}/rules"
    return Reply(200, [{**r, "_links": {"self": {"href": f"{href}/{r['id']}", "hints": {"allow": ["GET", "PUT"]}}}}
                       for r in sorted(t.rules.get(policy_id, []), key=lambda r: r["priority"])])


def _apps(t: OktaTenant, req: Request) -> Reply:
    apps = t.apps
    flt = req.arg("filter")
    if flt:
        try:
            node = scim.parse(flt)
        except scim.FilterError:
            return okta_error(400, "E0000031", "Invalid search criteria.")
        apps = [a for a in apps if scim.matches(node, a)]
    out = []
    for app in apps:
        href = f"{req.base_url}/api/v1/apps/{app['id']}"
        links: dict[str, Any] = {"users": {"href": f"{href}/users"}, "groups": {"href": f"{href}/groups"},
                                 "deactivate": {"href": f"{href}/lifecycle/deactivate"}}
        if app.get("_accessPolicy"):
            links["accessPolicy"] = {"href": f"{req.base_url}/api/v1/policies/{app['_accessPolicy']}"}
        out.append({k: v for k, v in app.items() if k != "_accessPolicy"} | {"_links": links})
    return cursor_link_page(req, out, default=20, maximum=200)


def _app_children(t: OktaTenant, req: Request, table: dict[str, list[dict[str, Any]]]) -> Reply:
    app_id = req.params["app"]
    if app_id not in table:
        return okta_error(404, "E0000007", f"Not found: Resource not found: {app_id} (AppInstance)")
    app_href = f"{req.base_url}/api/v1/apps/{app_id}"
    users = table is t.app_users
    items = [{**item, "_links": {"app": {"href": app_href},
                                 ("user" if users else "group"): {
                                     "href": f"{req.base_url}/api/v1/{'users' if users else 'groups'}/{item['id']}"}}}
             for item in table[app_id]]
    return cursor_link_page(req, items, default=50 if users else 20, maximum=500 if users else 200)


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _logs(t: OktaTenant, req: Request) -> Reply:
    try:
        until = _time(req.arg("until")) or datetime.now(UTC)
        since = _time(req.arg("since")) or until - timedelta(days=7)
    except ValueError:
        return okta_error(400, "E0000001", "Api validation failed: since/until")
    if since < datetime.now(UTC) - timedelta(days=180):
        return okta_error(400, "E0000001", "Api validation failed: since")
    events = [e for e in t.logs if since <= (_time(e["published"]) or since) < until]
    flt = req.arg("filter")
    if flt:
        try:
            node = scim.parse(flt)
        except scim.FilterError:
            return okta_error(400, "E0000001", "Api validation failed: filter")
        events = [e for e in events if scim.matches(node, e)]
    if (req.arg("sortOrder") or "ASCENDING").upper() == "DESCENDING":
        events = list(reversed(events))
    reply = cursor_link_page(req, events, default=100, maximum=1000, id_key="uuid")
    if req.arg("until") is None and 'rel="next"' not in reply.headers.get("Link", ""):
        # A polling query (no `until`) always offers a next link, to be polled for new events.
        last = reply.body[-1]["uuid"] if reply.body else req.arg("after")
        query = [(k, v) for k, vs in req.query.items() if k != "after" for v in vs]
        nxt = req.url_for(req.path, query + ([("after", last)] if last else []))
        reply.headers["Link"] += f', <{nxt}>; rel="next"'
    return reply

