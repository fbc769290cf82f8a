"""Resource Manager v3 through google-cloud-resource-manager (REST transport), read-only.

The client library sends its requests with its own session; every request is routed through the
shared HTTP client's `send_external`, so it passes the same read-only check (only GETs and the
documented `:getIamPolicy` POSTs), the source's rate limit and concurrency cap, and is recorded
like every other call. Throttling and server errors are retried with backoff by api-core.
Results are returned as the API's JSON (camelCase, unset fields omitted), not as protobufs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.http import HttpClient

PAGE_SIZE = 500


def as_json(message: Any) -> dict[str, Any]:
    """A proto-plus or protobuf message as the REST API's JSON."""
    from google.protobuf import json_format

    pb = type(message).pb(message) if hasattr(type(message), "pb") else message
    return json_format.MessageToDict(pb, preserving_proto_field_name=False)


def _route_through(client: Any, http: HttpClient) -> None:
    """Send every request of `client` through `http.send_external` (read-only check, limits, recording)."""
    session = getattr(client.transport, "_session", None)
    if session is None or not hasattr(session, "request"):
        raise RuntimeError("google-cloud-resource-manager REST transport has no session to guard; "
                           "refusing to use it unguarded")
    original = session.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return http.send_external(method, url, lambda: original(method, url, *args, **kwargs))

    session.request = request


class ResourceManager:
    """Organisations, folders, projects and their IAM policies."""

    def __init__(self, http: HttpClient, endpoint: str, credentials: Any, *, deadline: float = 120.0):
        # imported here, not at module level: a run without a GCP source never loads the client library
        from google.api_core import exceptions as api_exceptions
        from google.api_core import retry as api_retry
        from google.cloud import resourcemanager_v3

        options = {"api_endpoint": endpoint}
        self.projects = resourcemanager_v3.ProjectsClient(transport="rest", client_options=options,
                                                          credentials=credentials)
        self.folders = resourcemanager_v3.FoldersClient(transport="rest", client_options=options,
                                                        credentials=credentials)
        self.organizations = resourcemanager_v3.OrganizationsClient(transport="rest", client_options=options,
                                                                    credentials=credentials)
        for client in (self.projects, self.folders, self.organizations):
            _route_through(client, http)
        retryable = (api_exceptions.TooManyRequests, api_exceptions.ServiceUnavailable,
                     api_exceptions.InternalServerError, api_exceptions.BadGateway, api_exceptions.GatewayTimeout)
        self.retry = api_retry.Retry(predicate=api_retry.if_exception_type(*retryable), initial=0.5,
                                     maximum=16.0, multiplier=2.0, timeout=deadline)

    def _all(self, pager: Iterable[Any]) -> list[dict[str, Any]]:
        return [as_json(item) for item in pager]

    def search_projects(self, query: str = "state:ACTIVE") -> list[dict[str, Any]]:
        return self._all(self.projects.search_projects(request={"query": query, "page_size": PAGE_SIZE},
                                                       retry=self.retry))

    def get_project(self, key: str) -> dict[str, Any]:
        return as_json(self.projects.get_project(name=f"projects/{key}", retry=self.retry))

    def search_folders(self, query: str = "state:ACTIVE") -> list[dict[str, Any]]:
        return self._all(self.folders.search_folders(request={"query": query, "page_size": PAGE_SIZE},
                                                     retry=self.retry))

    def search_organizations(self) -> list[dict[str, Any]]:
        return self._all(self.organizations.search_organizations(request={"page_size": PAGE_SIZE},
                                                                 retry=self.retry))

    def get_organization(self, org_id: str) -> dict[str, Any]:
        return as_json(self.organizations.get_organization(name=f"organizations/{org_id}", retry=self.retry))

    def iam_policy(self, resource: str) -> dict[str, Any]:
        """The IAM policy of `organizations/N`, `folders/N` or `projects/N`, asking for version 3 (conditions)."""
        client = {"organizations": self.organizations, "folders": self.folders,
                  "projects": self.projects}[resource.split("/", 1)[0]]
        request = {"resource": resource, "options": {"requested_policy_version": 3}}
        return as_json(client.get_iam_policy(request=request, retry=self.retry))
