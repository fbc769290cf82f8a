"""A local fake of the Google Cloud APIs Annexa reads, serving a `GcpWorld` on a `FakeApi`.

Real request paths, query parameters, page sizes and error bodies of Resource Manager v3 (and v1
`getAncestry`), IAM v1, Cloud Storage JSON v1, Compute Engine v1 (aggregated lists with per-zone
`warning` entries), Cloud SQL Admin v1, Cloud KMS v1, Cloud Logging v2 (`entries:list` with a
filter) and Organization Policy v2, plus the OAuth token endpoints the credential chain uses
(service-account JWT bearer grant, refresh tokens, STS token exchange) and the metadata server.
Every API route needs a bearer token the world knows (`world.tokens`), as the real services do.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from agent.fakeapi.errors import google_error, google_service_disabled
from agent.fakeapi.gcp_auth import register_auth
from agent.fakeapi.gcp_logfilter import FilterError, matches, parse_filter
from agent.fakeapi.gcp_world import GcpProject, GcpWorld
from agent.fakeapi.paging import offset_token, page_token_page, token_offset
from agent.fakeapi.server import FakeApi, Reply, Request

Handler = Callable[[Request], Reply]
_STATE_NUMBERS = {"STATE_UNSPECIFIED": 0, "ACTIVE": 1, "DELETE_REQUESTED": 2}
# APIs whose errors use the older JSON shape (no `status`, `errors[].reason`).
_CLASSIC = {"storage.googleapis.com", "compute.googleapis.com", "sqladmin.googleapis.com"}


def start(world: GcpWorld, *, latency: float = 0.0) -> FakeApi:
    """A started fake serving `world` on 127.0.0.1 (all APIs on one port)."""
    fake = FakeApi("gcp", latency=latency, not_found=_not_found)
    register(fake, world)
    return fake.start()


def _not_found(request: Request) -> Reply:
    return google_error(404, f"The requested URL {request.path} was not found on this server.")


def register(fake: FakeApi, world: GcpWorld) -> None:
    """Add every route of the Google APIs Annexa reads to `fake`, answering from `world`."""
    auth = register_auth(fake, world)
    api = _Routes(world)
    routes: list[tuple[str, str, Handler]] = [
        # Resource Manager v3 (google-cloud-resource-manager REST transport) and v1 getAncestry
        ("GET", "/v3/projects:search", api.search_projects),
        ("POST", "/v3/projects/{key}:getIamPolicy", api.project_iam),
        ("GET", "/v3/projects/{key}", api.get_project),
        ("GET", "/v3/folders:search", api.search_folders),
        ("GET", "/v3/folders", api.list_folders),
        ("POST", "/v3/folders/{key}:getIamPolicy", api.folder_iam),
        ("GET", "/v3/folders/{key}", api.get_folder),
        ("GET", "/v3/organizations:search", api.search_organizations),
        ("POST", "/v3/organizations/{key}:getIamPolicy", api.org_iam),
        ("GET", "/v3/organizations/{key}", api.get_organization),
        ("POST", "/v1/projects/{key}:getAncestry", api.ancestry),
        # IAM v1
        ("GET", "/v1/projects/{key}/serviceAccounts", api.service_accounts),
        ("GET", "/v1/projects/{key}/serviceAccounts/{email}/keys", api.sa_keys),
        # Cloud Storage JSON v1
        ("GET", "/storage/v1/b", api.buckets),
        ("GET", "/storage/v1/b/{bucket}/iam", api.bucket_iam),
        # Compute Engine v1
        ("GET", "/compute/v1/projects/{key}", api.compute_project),
        ("GET", "/compute/v1/projects/{key}/global/firewalls", api.firewalls),
        ("GET", "/compute/v1/projects/{key}/global/networks", api.networks),
        ("GET", "/compute/v1/projects/{key}/aggregated/instances", api.instances),
        # Cloud SQL Admin v1
        ("GET", "/v1/projects/{key}/instances", api.sql_instances),
        # Cloud KMS v1
        ("GET", "/v1/projects/{key}/locations", api.kms_locations),
        ("GET", "/v1/projects/{key}/locations/{location}/keyRings", api.key_rings),
        ("GET", "/v1/projects/{key}/locations/{location}/keyRings/{ring}/cryptoKeys/{ck}:getIamPolicy",
         api.key_iam),
        ("GET", "/v1/projects/{key}/locations/{location}/keyRings/{ring}/cryptoKeys", api.crypto_keys),
        # Cloud Logging v2
        ("GET", "/v2/projects/{key}/sinks", api.project_sinks),
        ("GET", "/v2/folders/{key}/sinks", api.folder_sinks),
        ("GET", "/v2/organizations/{key}/sinks", api.org_sinks),
        ("GET", "/v2/projects/{key}/locations/{location}/buckets", api.log_buckets),
        ("POST", "/v2/entries:list", api.entries),
        # Organization Policy v2
        ("GET", "/v2/projects/{key}/policies/{constraint}:getEffectivePolicy", api.project_org_policy),
        ("GET", "/v2/folders/{key}/policies/{constraint}:getEffectivePolicy", api.folder_org_policy),
        ("GET", "/v2/organizations/{key}/policies/{constraint}:getEffectivePolicy", api.org_org_policy),
    ]
    for method, pattern, handler in routes:
        fake.add(method, pattern, auth.authenticated(handler))


def _rm_enums(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Resource Manager honours `$alt=json;enum-encoding=int` (what the client library asks for)."""
    if "enum-encoding=int" in (request.arg("$alt") or "") and isinstance(body.get("state"), str):
        return {**body, "state": _STATE_NUMBERS.get(body["state"], 0)}
    return body


def _policy_version(policy: dict[str, Any], requested: int) -> dict[str, Any]:
    """What getIamPolicy returns for `requested`: below 3, conditional roles are renamed, not shown."""
    if requested >= 3 or not any("condition" in b for b in policy.get("bindings", [])):
        return policy
    bindings = []
    for item in policy.get("bindings", []):
        if "condition" in item:
            suffix = base64.b32encode(json.dumps(item["condition"]).encode()).decode()[:20].lower()
            bindings.append({"role": f"{item['role']}_withcond_{suffix}", "members": item["members"]})
        else:
            bindings.append(item)
    return {**policy, "version": 1, "bindings": bindings}


class _Routes:
    def __init__(self, world: GcpWorld):
        self.world = world

    # -- helpers -----------------------------------------------------------------------------
    def _page(self, request: Request, items: list[Any], key: str, *, default: int, maximum: int,
              size_param: str = "pageSize", extra: dict[str, Any] | None = None) -> Reply:
        if self.world.page_limit:
            maximum = min(maximum, self.world.page_limit)
            default = min(default, self.world.page_limit)
        return page_token_page(request, items, items_key=key, default=default, maximum=maximum,
                               size_param=size_param, extra=extra)

    def _project(self, request: Request, service: str) -> GcpProject | Reply:
        """The project named in the path (id or number), or the error the API would send."""
        project = self.world.project(unquote(request.params.get("key", "")))
        if project is None or project.state != "ACTIVE":
            if service == "cloudresourcemanager.googleapis.com":
                return google_error(403, "The caller does not have permission")
            return self._denied(service, "resourcemanager.projects.get", request.params.get("key", ""))
        if service in project.disabled_apis:
            return google_service_disabled(service, project.number)
        for pattern, permission in project.denied.items():
            if re.search(pattern, request.path):
                return self._denied(service, permission, project.project_id)
        return project

    @staticmethod
    def _denied(service: str, permission: str, project_id: str) -> Reply:
        if service in _CLASSIC:
            message = f"Required '{permission}' permission for 'projects/{project_id}'"
            return google_error(403, message, reason="forbidden")
        message = f"Permission '{permission}' denied on resource (or it may not exist)."
        return google_error(403, message, details=[{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com", "metadata": {"permission": permission,
                                                         "resource": f"projects/{project_id}"}}])

    def _visible_org(self, key: str) -> bool:
        return bool(self.world.org_id) and key == self.world.org_id and not self.world.org_denied

    # -- Resource Manager --------------------------------------------------------------------
    def search_projects(self, request: Request) -> Reply:
        query = request.arg("query") or ""
        terms = _query_terms(query)
        if terms is None:
            return google_error(400, f"Invalid query: {query}")
        found = [p for p in self.world.projects if _project_matches(p, terms)]
        reply = self._page(request, [p.body() for p in found], "projects", default=50, maximum=500)
        reply.body["projects"] = [_rm_enums(request, p) for p in reply.body.get("projects", [])]
        return reply

    def get_project(self, request: Request) -> Reply:
        project = self._project(request, "cloudresourcemanager.googleapis.com")
        return project if isinstance(project, Reply) else Reply(200, _rm_enums(request, project.body()))

    def project_iam(self, request: Request) -> Reply:
        project = self._project(request, "cloudresourcemanager.googleapis.com")
        if isinstance(project, Reply):
            return project
        return Reply(200, _policy_version(project.iam, _requested_version(request)))

    def search_folders(self, request: Request) -> Reply:
        terms = _query_terms(request.arg("query") or "")
        if terms is None:
            return google_error(400, f"Invalid query: {request.arg('query')}")
        found = [f.body() for f in self.world.folders if not f.hidden
                 and all(_field(f.body(), k) == v for k, v in terms if k != "state")]
        reply = self._page(request, found, "folders", default=50, maximum=1000)
        reply.body["folders"] = [_rm_enums(request, f) for f in reply.body.get("folders", [])]
        return reply

    def list_folders(self, request: Request) -> Reply:
        parent = request.arg("parent")
        if not parent:
            return google_error(400, "Request contains an invalid argument.")
        found = [f.body() for f in self.world.folders if f.parent == parent and not f.hidden]
        reply = self._page(request, found, "folders", default=50, maximum=1000)
        reply.body["folders"] = [_rm_enums(request, f) for f in reply.body.get("folders", [])]
        return reply

    def _folder(self, request: Request) -> Any:
        folder = self.world.folder(request.params["key"])
        return None if folder is None or folder.hidden else folder

    def get_folder(self, request: Request) -> Reply:
        folder = self._folder(request)
        if folder is None:
            return google_error(403, "The caller does not have permission")
        return Reply(200, _rm_enums(request, folder.body()))

    def folder_iam(self, request: Request) -> Reply:
        folder = self._folder(request)
        if folder is None:
            return google_error(403, "The caller does not have permission")
        return Reply(200, _policy_version(folder.iam, _requested_version(request)))

    def search_organizations(self, request: Request) -> Reply:
        orgs = [self.world.org_body()] if self.world.org_id and not self.world.org_denied else []
        reply = self._page(request, orgs, "organizations", default=50, maximum=1000)
        reply.body["organizations"] = [_rm_enums(request, o) for o in reply.body.get("organizations", [])]
        return reply

    def get_organization(self, request: Request) -> Reply:
        if not self._visible_org(request.params["key"]):
            return google_error(403, "The caller does not have permission")
        return Reply(200, _rm_enums(request, self.world.org_body()))

    def org_iam(self, request: Request) -> Reply:
        if not self._visible_org(request.params["key"]):
            return google_error(403, "The caller does not have permission")
        return Reply(200, _policy_version(self.world.org_iam, _requested_version(request)))

    def ancestry(self, request: Request) -> Reply:
        project = self._project(request, "cloudresourcemanager.googleapis.com")
        if isinstance(project, Reply):
            return project
        chain = [{"resourceId": {"type": "project", "id": project.project_id}}]
        parent = project.parent
        while parent.startswith("folders/"):
            chain.append({"resourceId": {"type": "folder", "id": parent.split("/", 1)[1]}})
            folder = self.world.folder(parent)
            parent = folder.parent if folder else ""
        if parent.startswith("organizations/"):
            chain.append({"resourceId": {"type": "organization", "id": parent.split("/", 1)[1]}})
        return Reply(200, {"ancestor": chain})

    # -- IAM ---------------------------------------------------------------------------------
    def service_accounts(self, request: Request) -> Reply:
        project = self._project(request, "iam.googleapis.com")
        if isinstance(project, Reply):
            return project
        return self._page(request, project.service_accounts, "accounts", default=20, maximum=100)

    def sa_keys(self, request: Request) -> Reply:
        project = self._project(request, "iam.googleapis.com")
        if isinstance(project, Reply):
            return project
        email = unquote(request.params["email"])
        if email not in project.keys:
            return google_error(404, f"Service account projects/{project.project_id}/serviceAccounts/{email} "
                                     "does not exist.")
        wanted = set(request.query.get("keyTypes", []))
        keys = [k for k in project.keys[email] if not wanted or k["keyType"] in wanted]
        return Reply(200, {"keys": keys} if keys else {})

    # -- Cloud Storage -----------------------------------------------------------------------
    def buckets(self, request: Request) -> Reply:
        key = request.arg("project")
        if not key:
            return google_error(400, "Required parameter: project", reason="required")
        request.params["key"] = key
        project = self._project(request, "storage.googleapis.com")
        if isinstance(project, Reply):
            return project
        return self._page(request, project.buckets, "items", default=1000, maximum=1000, size_param="maxResults",
                          extra={"kind": "storage#buckets"})

    def bucket_iam(self, request: Request) -> Reply:
        name = request.params["bucket"]
        owner = next((p for p in self.world.projects if name in p.bucket_iam), None)
        if owner is None:
            return google_error(404, "The specified bucket does not exist.", reason="notFound")
        request.params["key"] = owner.project_id
        project = self._project(request, "storage.googleapis.com")
        if isinstance(project, Reply):
            return project
        requested = request.int_arg("optionsRequestedPolicyVersion", 1)
        return Reply(200, _policy_version(project.bucket_iam[name], requested))

    # -- Compute Engine ----------------------------------------------------------------------
    def compute_project(self, request: Request) -> Reply:
        project = self._project(request, "compute.googleapis.com")
        return project if isinstance(project, Reply) else Reply(200, project.compute)

    def firewalls(self, request: Request) -> Reply:
        project = self._project(request, "compute.googleapis.com")
        if isinstance(project, Reply):
            return project
        return self._compute_list(request, project, project.firewalls, "compute#firewallList", "global/firewalls")

    def networks(self, request: Request) -> Reply:
        project = self._project(request, "compute.googleapis.com")
        if isinstance(project, Reply):
            return project
        return self._compute_list(request, project, project.networks, "compute#networkList", "global/networks")

    def _compute_list(self, request: Request, project: GcpProject, items: list[dict[str, Any]], kind: str,
                      path: str) -> Reply:
        link = f"https://www.googleapis.com/compute/v1/projects/{project.project_id}/{path}"
        return self._page(request, items, "items", default=500, maximum=500, size_param="maxResults",
                          extra={"kind": kind, "id": f"projects/{project.project_id}/{path}", "selfLink": link})

    def instances(self, request: Request) -> Reply:
        """`aggregated/instances`: `items` keyed by zone, a `warning` for zones without instances.

        Pages count instances; zones are visited in order, and every zone of a page appears as a key
        (with its instances, or the NO_RESULTS_ON_PAGE warning), as the real API does.
        """
        project = self._project(request, "compute.googleapis.com")
        if isinstance(project, Reply):
            return project
        flat = [(zone, inst) for zone in project.zones for inst in project.instances.get(zone, [])]
        size = max(1, min(request.int_arg("maxResults", 500), 500, self.world.page_limit or 500))
        start = token_offset(request.arg("pageToken")) or 0
        if start < 0:
            return google_error(400, "Invalid value for field 'pageToken'.", reason="invalid")
        chunk = flat[start:start + size]
        items: dict[str, Any] = {}
        for zone in project.zones:
            key = f"zones/{zone}"
            found = [inst for z, inst in chunk if z == zone]
            if zone in project.unreachable_zones:
                continue
            items[key] = {"instances": found} if found else {"warning": {
                "code": "NO_RESULTS_ON_PAGE", "message": f"There are no results for scope '{key}' on this page.",
                "data": [{"key": "scope", "value": key}]}}
        link = f"https://www.googleapis.com/compute/v1/projects/{project.project_id}/aggregated/instances"
        body: dict[str, Any] = {"kind": "compute#instanceAggregatedList",
                                "id": f"projects/{project.project_id}/aggregated/instances", "items": items,
                                "selfLink": link}
        if start + size < len(flat):
            body["nextPageToken"] = offset_token(start + size)
        if project.unreachable_zones:
            if request.arg("returnPartialSuccess") == "true":
                body["unreachables"] = [f"zones/{z}" for z in project.unreachable_zones]
            else:
                return google_error(503, "The service is currently unavailable.", reason="backendError")
        return Reply(200, body)

    # -- Cloud SQL ---------------------------------------------------------------------------
    def sql_instances(self, request: Request) -> Reply:
        project = self._project(request, "sqladmin.googleapis.com")
        if isinstance(project, Reply):
            return project
        return self._page(request, project.sql, "items", default=500, maximum=1000, size_param="maxResults")

    # -- Cloud KMS ---------------------------------------------------------------------------
    def kms_locations(self, request: Request) -> Reply:
        project = self._project(request, "cloudkms.googleapis.com")
        if isinstance(project, Reply):
            return project
        locations = [{"name": f"projects/{project.project_id}/locations/{loc}", "locationId": loc,
                      "displayName": loc, "metadata": {"@type": "type.googleapis.com/google.cloud.kms.v1."
                                                       "LocationMetadata", "hsmAvailable": True,
                                                       "ekmAvailable": loc != "global"}}
                     for loc in project.kms_locations]
        return self._page(request, locations, "locations", default=100, maximum=100)

    def key_rings(self, request: Request) -> Reply:
        project = self._project(request, "cloudkms.googleapis.com")
        if isinstance(project, Reply):
            return project
        location = request.params["location"]
        if location not in project.kms_locations:
            return google_error(404, f"Location {location} is not found or not supported.")
        rings = project.key_rings.get(location, [])
        reply = self._page(request, rings, "keyRings", default=1000, maximum=1000)
        reply.body["totalSize"] = len(rings)
        return reply

    def crypto_keys(self, request: Request) -> Reply:
        project = self._project(request, "cloudkms.googleapis.com")
        if isinstance(project, Reply):
            return project
        ring = f"projects/{project.project_id}/locations/{request.params['location']}/keyRings/" \
               f"{request.params['ring']}"
        if not any(r["name"] == ring for r in project.key_rings.get(request.params["location"], [])):
            return google_error(404, f"KeyRing {ring} not found.")
        keys = project.crypto_keys.get(ring, [])
        reply = self._page(request, keys, "cryptoKeys", default=1000, maximum=1000)
        reply.body["totalSize"] = len(keys)
        return reply

    def key_iam(self, request: Request) -> Reply:
        project = self._project(request, "cloudkms.googleapis.com")
        if isinstance(project, Reply):
            return project
        name = request.path.removeprefix("/v1/").removesuffix(":getIamPolicy")
        if name not in project.key_iam:
            return google_error(404, f"CryptoKey {name} not found.")
        return Reply(200, _policy_version(project.key_iam[name], request.int_arg("options.requestedPolicyVersion", 0)))

    # -- Cloud Logging -----------------------------------------------------------------------
    def project_sinks(self, request: Request) -> Reply:
        project = self._project(request, "logging.googleapis.com")
        if isinstance(project, Reply):
            return project
        return self._page(request, project.sinks, "sinks", default=200, maximum=200)

    def folder_sinks(self, request: Request) -> Reply:
        folder = self._folder(request)
        if folder is None:
            return google_error(403, "The caller does not have permission")
        return self._page(request, folder.sinks, "sinks", default=200, maximum=200)

    def org_sinks(self, request: Request) -> Reply:
        if not self._visible_org(request.params["key"]):
            return google_error(403, "The caller does not have permission")
        return self._page(request, self.world.org_sinks, "sinks", default=200, maximum=200)

    def log_buckets(self, request: Request) -> Reply:
        project = self._project(request, "logging.googleapis.com")
        if isinstance(project, Reply):
            return project
        location = request.params["location"]
        found = [b for b in project.log_buckets if location == "-" or f"/locations/{location}/" in b["name"]]
        return self._page(request, found, "buckets", default=100, maximum=100)

    def entries(self, request: Request) -> Reply:
        """`entries:list`: a POST whose JSON body carries resourceNames, filter, orderBy and the page token."""
        try:
            body = request.json() or {}
        except ValueError:
            return google_error(400, "Invalid JSON payload received.")
        self.world.entries_requests.append(body)
        names = body.get("resourceNames") or []
        if not names:
            return google_error(400, "Missing required field: resource_names")
        projects: list[GcpProject] = []
        for name in names:
            request.params["key"] = str(name).removeprefix("projects/")
            found = self._project(request, "logging.googleapis.com")
            if isinstance(found, Reply):
                return found
            projects.append(found)
        try:
            clauses = parse_filter(body.get("filter") or "")
        except FilterError as exc:
            return google_error(400, f"Unparseable filter: {exc}")
        order = (body.get("orderBy") or "timestamp asc").strip().lower()
        if order not in ("timestamp asc", "timestamp desc"):
            return google_error(400, f"Invalid orderBy: {body.get('orderBy')}")
        found_entries = [e for p in projects for e in p.entries if matches(e, clauses)]
        found_entries.sort(key=lambda e: (datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")),
                                          e["insertId"]), reverse=order.endswith("desc"))
        size = max(1, min(int(body.get("pageSize") or 50), 1000, self.world.page_limit or 1000))
        start = token_offset(body.get("pageToken")) or 0
        if start < 0:
            return google_error(400, "Invalid page token.")
        chunk = found_entries[start:start + size]
        out: dict[str, Any] = {"entries": chunk} if chunk else {}
        if start + size < len(found_entries):
            out["nextPageToken"] = offset_token(start + size)
        return Reply(200, out)

    # -- Organization Policy -----------------------------------------------------------------
    def project_org_policy(self, request: Request) -> Reply:
        project = self._project(request, "orgpolicy.googleapis.com")
        if isinstance(project, Reply):
            return project
        constraint = request.params["constraint"]
        spec = project.org_policies.get(constraint, self.world.org_policies.get(constraint))
        return Reply(200, _effective(f"projects/{project.number}/policies/{constraint}", spec))

    def folder_org_policy(self, request: Request) -> Reply:
        folder = self._folder(request)
        if folder is None:
            return google_error(403, "The caller does not have permission")
        constraint = request.params["constraint"]
        return Reply(200, _effective(f"{folder.name}/policies/{constraint}", self.world.org_policies.get(constraint)))

    def org_org_policy(self, request: Request) -> Reply:
        if not self._visible_org(request.params["key"]):
            return google_error(403, "The caller does not have permission")
        constraint = request.params["constraint"]
        return Reply(200, _effective(f"{self.world.org_name}/policies/{constraint}",
                                     self.world.org_policies.get(constraint)))


def _effective(name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """An evaluated policy: no etag, no conditions; an unset constraint carries no rules."""
    return {"name": name, "spec": dict(spec)} if spec else {"name": name, "spec": {}}


def _requested_version(request: Request) -> int:
    try:
        body = request.json() or {}
    except ValueError:
        return 0
    return int(((body.get("options") or {}).get("requestedPolicyVersion")) or 0)


def _query_terms(query: str) -> list[tuple[str, str]] | None:
    """`key:value` / `key=value` terms of a Resource Manager search query (None if malformed)."""
    terms = []
    for part in query.split():
        match = re.match(r"^([A-Za-z_.]+)[:=](.+)$", part)
        if not match:
            return None
        terms.append((match.group(1), match.group(2).strip('"')))
    return terms


def _field(body: dict[str, Any], key: str) -> Any:
    aliases = {"id": "projectId", "projectId": "projectId", "parent": "parent", "displayName": "displayName",
               "name": "displayName", "state": "state"}
    return body.get(aliases.get(key, key))


def _project_matches(project: GcpProject, terms: list[tuple[str, str]]) -> bool:
    body = project.body()
    for key, value in terms:
        if key.startswith("labels."):
            if project.labels.get(key[7:]) != value:
                return False
        elif key == "parent.type":
            if project.parent.split("/", 1)[0] != f"{value}s":
                return False
        elif key == "parent.id":
            if project.parent.split("/", 1)[-1] != value:
                return False
        elif str(_field(body, key)) != value:
            return False
    return True
