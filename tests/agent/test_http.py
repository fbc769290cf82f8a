"""The shared HTTP client against a real local HTTP server answering like the real APIs.

The server is the project's fake-API toolkit (`agent.fakeapi`): the same routes, paging helpers
and provider error bodies the collectors' fakes use, so the client is tested against the shapes
it will meet. A test's route answers its request; `api.fail` queues the replies that come first.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import pickle
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent.fakeapi import FakeApi, Reply, Request
from agent.fakeapi import errors as fe
from agent.fakeapi.bamboohr import problem
from agent.fakeapi.paging import (
    body_cursor_page,
    cursor_link_page,
    link_page,
    next_link_page,
    offset_token,
    page_token_page,
)
from agent.fakeapi.server import RateState
from agent.http import ForeignOrigin, HttpClient, HttpError, ReadOnlyViolation, parse_link_header, redact_url

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MEMBERS_DOC = "https://docs.github.com/rest/orgs/members#list-organization-members"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse name resolution for anything but loopback: a forgotten real endpoint fails loudly."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK:
            raise OSError(f"test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi("http-client") as fake:
        yield fake


class Sleeps(list[float]):
    """Injected sleep: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(api: FakeApi, sleeps: Sleeps) -> Iterator[HttpClient]:
    with HttpClient(base_url=api.url, sleep=sleeps, timeout=(2.0, 5.0)) as http:
        yield http


def _queries(api: FakeApi, path: str) -> list[dict[str, list[str]]]:
    """The query parameters of each request the fake received for exactly `path`."""
    return [call.query for call in api.calls(path=f"^{re.escape(path)}$")]


def _hidden(item: dict[str, Any]) -> bool:
    return not item.get("hidden")


def _answer(body: Any, status: int = 200) -> Any:
    """A route that always gives the same answer."""
    return lambda request: Reply(status, body)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- public API -----------------------------------------------------------------------


def test_public_api_is_pinned() -> None:
    init = inspect.signature(HttpClient.__init__).parameters
    assert " ".join(list(init)[1:]) == (
        "base_url headers auth timeout max_retries backoff_base backoff_max max_retry_after "
        "max_concurrency rate_limit allow_post session user_agent sleep logger on_request pace_below "
        "rate_limit_403_floor throttle_floor origins"
    )
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for name, p in init.items() if name != "self")
    paginate = inspect.signature(HttpClient.paginate).parameters
    assert " ".join(list(paginate)[1:]) == (
        "url params style items page_size cursor_path cursor_param max_pages headers"
    )
    error = HttpError("GET", "https://x/y?token=abc", 403, "denied", "E1", "", 2, None)
    assert pickle.loads(pickle.dumps(error)).__dict__ == error.__dict__


# --- pagination -------------------------------------------------------------------------


def test_link_pagination_github(api: FakeApi, client: HttpClient) -> None:
    # GitHub rewrites /orgs/acme to /organizations/<id> in its Link URLs. Members hidden from the
    # caller are dropped after paging, so page 2 comes back empty while pages 3 and 4 follow.
    people = [{"login": "a"}, {"login": "b"}, {"login": "x", "hidden": True}, {"login": "y", "hidden": True},
              {"login": "c"}, {"login": "d"}, {"login": "e"}]

    def page(request: Request) -> Reply:
        return link_page(request, people, link_path="/organizations/123/members", visible=_hidden)

    api.add("GET", "/orgs/acme/members", page)
    api.add("GET", "/organizations/123/members", page)
    members = client.paginate("/orgs/acme/members", style="link", page_size=("per_page", 2))
    assert next(members) == {"login": "a"}
    assert len(api.log) == 1  # pages are fetched lazily
    assert [m["login"] for m in members] == ["b", "c", "d", "e"]
    assert len(api.log) == 4
    assert [(c.path, c.query) for c in api.log] == [("/orgs/acme/members", {"per_page": ["2"]})] + [
        ("/organizations/123/members", {"per_page": ["2"], "page": [str(n)]}) for n in (2, 3, 4)
    ]


def test_link_pagination_okta_repeated_headers_and_search_items(api: FakeApi, client: HttpClient) -> None:
    # Okta sends `rel="self"` and `rel="next"` as two Link header lines; the last page is empty.
    users = [{"id": "u0a"}, {"id": "u0b"}, {"id": "u1a"}, {"id": "u1b"}, {"id": "u2x", "hidden": True}]
    api.add("GET", "/api/v1/users", lambda r: cursor_link_page(r, users, separate_links=True, visible=_hidden))
    assert [u["id"] for u in client.paginate("/api/v1/users", style="link", page_size=("limit", 2))] == [
        "u0a",
        "u0b",
        "u1a",
        "u1b",
    ]
    assert _queries(api, "/api/v1/users") == [
        {"limit": ["2"]},
        {"limit": ["2"], "after": ["u0b"]},
        {"limit": ["2"], "after": ["u1b"]},
    ]

    # GitHub search wraps its items in an object; this server leaves `rel` unquoted (RFC 8288 allows it).
    repos = [{"id": 1}, {"id": 2}, {"id": 3}]

    def search(request: Request) -> Reply:
        reply = link_page(request, repos, default=2, items_key="items",
                          extra={"total_count": 3, "incomplete_results": False})
        reply.headers["Link"] = re.sub(r'rel="(\w+)"', r"rel=\1", reply.headers.get("Link", ""))
        return reply

    api.add("GET", "/search/repositories", search)
    found = client.paginate("/search/repositories", params={"q": "org:acme"}, style="link")
    assert [r["id"] for r in found] == [1, 2, 3]
    assert _queries(api, "/search/repositories") == [
        {"q": ["org:acme"]},
        {"q": ["org:acme"], "per_page": ["2"], "page": ["2"]},
    ]


def test_parse_link_header_variants() -> None:
    links = parse_link_header(
        '<https://x/a?page=2&q=a,b>; rel="next last"; title="one, two", </b>; rel=prev,'
        "<https://x/c>;rel=first"
    )
    assert [(link.target, sorted(link.rels)) for link in links] == [
        ("https://x/a?page=2&q=a,b", ["last", "next"]),
        ("/b", ["prev"]),
        ("https://x/c", ["first"]),
    ]
    assert links[0].params["title"] == "one, two"
    assert parse_link_header("") == []


def test_next_link_azure_arm_with_empty_middle_page(api: FakeApi, client: HttpClient) -> None:
    path = "/subscriptions/0000/providers/Microsoft.Compute/virtualMachines"
    # ARM filters what the caller may read after cutting the page: page 2 is empty, page 3 is not.
    vms = [{"name": "vm1"}, *({"name": f"h{n}", "hidden": True} for n in range(3)), {"name": "vm2"}, {"name": "vm3"}]
    api.add("GET", path, lambda r: next_link_page(r, vms, page_size=2, visible=_hidden))
    vms_seen = client.paginate(path, params={"api-version": "2023-03-01"}, style="next_link")
    assert [vm["name"] for vm in vms_seen] == ["vm1", "vm2", "vm3"]
    assert _queries(api, path) == [
        {"api-version": ["2023-03-01"]},
        {"api-version": ["2023-03-01"], "$skiptoken": [offset_token(2)]},
        {"api-version": ["2023-03-01"], "$skiptoken": [offset_token(4)]},
    ]


def test_next_link_microsoft_graph(api: FakeApi, sleeps: Sleeps) -> None:
    graph = HttpClient(base_url=f"{api.url}/v1.0", sleep=sleeps)  # base path is kept
    context = "https://graph.microsoft.com/v1.0/$metadata#users"
    users = [{"id": "1"}, {"id": "2"}, {"id": "x", "hidden": True}, {"id": "y", "hidden": True}, {"id": "3"}]
    api.add("GET", "/v1.0/users", lambda r: next_link_page(
        r, users, page_size=999, link_key="@odata.nextLink", extra={"@odata.context": context}, visible=_hidden))
    assert [u["id"] for u in graph.paginate("/users", style="next_link", page_size=("$top", 2))] == [
        "1",
        "2",
        "3",
    ]
    assert _queries(api, "/v1.0/users") == [
        {"$top": ["2"]},
        {"$top": ["2"], "$skiptoken": [offset_token(2)]},
        {"$top": ["2"], "$skiptoken": [offset_token(4)]},
    ]


def test_page_token_google_omits_empty_lists(api: FakeApi, client: HttpClient) -> None:
    people = [{"id": "1"}, {"id": "2"}, {"id": "x", "hidden": True}, {"id": "y", "hidden": True}, {"id": "3"}]

    bodies: list[dict[str, Any]] = []

    def listing(request: Request) -> Reply:
        reply = page_token_page(request, people, items_key="users", default=100, maximum=500,
                                extra={"kind": "admin#directory#users"}, visible=_hidden)
        reply.body.setdefault("nextPageToken", "")  # an empty token on the last page ends the listing too
        bodies.append(reply.body)
        return reply

    api.add("GET", "/admin/directory/v1/users", listing)
    users = client.paginate(
        "/admin/directory/v1/users",
        params={"customer": "my_customer"},
        style="page_token",
        items="users",
        page_size=("maxResults", 2),
    )
    assert [u["id"] for u in users] == ["1", "2", "3"]
    first = {"customer": ["my_customer"], "maxResults": ["2"]}
    assert _queries(api, "/admin/directory/v1/users") == [
        first,
        {**first, "pageToken": [offset_token(2)]},
        {**first, "pageToken": [offset_token(4)]},
    ]
    assert bodies[1] == {"kind": "admin#directory#users", "nextPageToken": offset_token(4)}  # empty: no "users"


def test_cursor_nested_path_and_url_cursor(api: FakeApi, client: HttpClient) -> None:
    people = [{"id": "U1"}, {"id": "U2"}, {"id": "UX", "hidden": True}, {"id": "UY", "hidden": True}, {"id": "U3"}]
    api.add("GET", "/api/users.list",
            lambda r: body_cursor_page(r, people, items_key="members", extra={"ok": True}, visible=_hidden))
    members = client.paginate(
        "/api/users.list",
        style="cursor",
        items="members",
        page_size=("limit", 2),
        cursor_path="response_metadata.next_cursor",
        cursor_param="cursor",
    )
    assert [m["id"] for m in members] == ["U1", "U2", "U3"]
    assert _queries(api, "/api/users.list") == [
        {"limit": ["2"]},
        {"limit": ["2"], "cursor": [offset_token(2)]},  # an empty page, and a cursor to go on
        {"limit": ["2"], "cursor": [offset_token(4)]},
    ]

    # JSON:API style: the cursor *is* the next URL (a relative reference).
    api.add("GET", "/v2/items", lambda r: body_cursor_page(
        r, [1, 2], items_key="data", default=1, cursor_param="page[after]", cursor_path="links.next",
        next_as_url=True))
    assert list(client.paginate("/v2/items", style="cursor", items="data", cursor_path="links.next")) == [
        1,
        2,
    ]
    assert _queries(api, "/v2/items") == [{}, {"page[after]": [offset_token(1)]}]


def test_pagination_stops_on_repeated_link_token_and_max_pages(
    api: FakeApi, client: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Broken servers: a next link to the same page, the same token again, a token that never ends.
    api.add("GET", "/loop", lambda r: Reply(200, [1], {"Link": f'<{r.url_for("/loop")}>; rel="next"'}))
    with caplog.at_level(logging.WARNING, logger="agent.http"):
        assert list(client.paginate("/loop", style="link")) == [1]
    assert "repeats" in caplog.text
    api.add("GET", "/tokens", _answer({"items": [1], "nextPageToken": "same"}))
    assert list(client.paginate("/tokens", style="page_token", items="items")) == [1, 1]
    assert len(api.calls(path="^/tokens$")) == 2
    served = itertools.count(1)
    api.add("GET", "/endless", lambda r: Reply(
        200, {"items": [r.arg("pageToken", "start")], "nextPageToken": f"t{next(served)}"}))
    assert list(client.paginate("/endless", style="page_token", items="items", max_pages=3)) == [
        "start",
        "t1",
        "t2",
    ]
    assert len(api.calls(path="^/endless$")) == 3


def test_pagination_shape_errors_are_loud(api: FakeApi, client: HttpClient) -> None:
    api.add("GET", "/arm", _answer({"values": []}))  # typo'd key, not "no resources"
    with pytest.raises(HttpError, match=r"no 'value' list") as info:
        list(client.paginate("/arm", style="next_link"))
    assert info.value.status == 200
    with pytest.raises(ValueError, match="needs items"):
        client.paginate("/x", style="page_token")
    with pytest.raises(ValueError, match="unknown pagination style"):
        client.paginate("/x", style="offset")  # type: ignore[arg-type]


def test_invalid_json_is_an_http_error(api: FakeApi, client: HttpClient) -> None:
    api.add("GET", "/html", lambda r: Reply(200, "<html><body>Sign in</body></html>", {"Content-Type": "text/html"}))
    with pytest.raises(HttpError) as info:
        client.get_json("/html")
    assert info.value.status == 200
    assert info.value.provider_message.startswith("invalid JSON: <html>")
    assert str(info.value).startswith(f"GET {api.url}/html -> 200 OK: invalid JSON")


# --- retries ------------------------------------------------------------------------------


def test_429_retry_after_seconds_then_success(api: FakeApi, client: HttpClient, sleeps: Sleeps) -> None:
    api.fail("^/r$", fe.too_many_requests({"message": "slow down"}, seconds=7))
    api.add("GET", "/r", _answer({"ok": 1}))
    assert client.get_json("/r") == {"ok": 1}
    assert sleeps == [7.0]
    assert client.stats.snapshot() == type(client.stats.snapshot())(
        requests=2, retries=1, throttled=1, errors=0
    )


def test_429_retry_after_http_date(api: FakeApi, client: HttpClient, sleeps: Sleeps) -> None:
    # Retry-After 30 s from now as an HTTP date, measured against the server's Date header.
    api.fail("^/r$", fe.too_many_requests("", seconds=30, http_date=True))
    api.add("GET", "/r", _answer([]))
    assert client.get_json("/r") == []
    assert len(sleeps) == 1 and 29 <= sleeps[0] <= 30


def test_503_backoff_with_full_jitter_then_success(api: FakeApi, sleeps: Sleeps) -> None:
    http = HttpClient(base_url=api.url, sleep=sleeps, backoff_base=0.5, backoff_max=1.5)
    api.fail("^/flaky$", fe.google_error(503, "The service is currently unavailable."), times=3)
    api.add("GET", "/flaky", _answer({"done": True}))
    assert http.get_json("/flaky") == {"done": True}
    assert len(sleeps) == 3
    for retry, wait in enumerate(sleeps):
        assert 0 <= wait <= min(1.5, 0.5 * 2**retry)
    assert [c.status for c in api.log] == [503, 503, 503, 200]


def test_retries_exhausted_carries_status_and_provider_error(api: FakeApi, sleeps: Sleeps) -> None:
    http = HttpClient(base_url=api.url, sleep=sleeps, max_retries=2)
    api.add("GET", "/down", lambda r: fe.google_error(503, "The service is currently unavailable."))
    with pytest.raises(HttpError) as info:
        http.get_json("/down")
    error = info.value
    assert (error.status, error.provider_code, error.attempts) == (503, "UNAVAILABLE", 3)
    assert error.provider_message == "The service is currently unavailable."
    assert len(api.log) == 3 and len(sleeps) == 2
    assert http.stats.errors == 1 and http.stats.retries == 2


@pytest.mark.parametrize(
    ("status", "reply", "code", "message"),
    [
        (404, fe.github_error(404, "Not Found", MEMBERS_DOC), None, "Not Found"),
        (403, fe.github_error(403, "Resource not accessible by integration", MEMBERS_DOC), None,
         "Resource not accessible by integration"),
        (401, fe.okta_error(401, "E0000011", "Invalid token provided"), "E0000011", "Invalid token provided"),
        (403, fe.okta_error(403, "E0000006", "You do not have permission to perform the requested action"),
         "E0000006", "You do not have permission to perform the requested action"),
        (403, fe.arm_error(403, "AuthorizationFailed", "The client '6f1c0d6e-1c1e-4a0b-9a57-4f0c2b8f9d11' with "
                           "object id '6f1c0d6e-1c1e-4a0b-9a57-4f0c2b8f9d11' does not have authorization to "
                           "perform action 'Microsoft.Compute/virtualMachines/read' over scope "
                           "'/subscriptions/0000' or the scope is invalid."),
         "AuthorizationFailed", "does not have authorization"),
        (403, fe.graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
         "Authorization_RequestDenied", "Insufficient privileges"),
        (403, fe.google_error(403, "The caller does not have permission"), "PERMISSION_DENIED",
         "The caller does not have permission"),
        (401, fe.entra_token_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided."),
         "invalid_client", "AADSTS7000215"),
        (400, fe.entra_token_error(400, "invalid_scope", "AADSTS70011: The provided value for the input "
                                   "parameter 'scope' is not valid."),
         "invalid_scope", "AADSTS70011"),
    ],
)
def test_client_errors_are_not_retried_and_classified(
    api: FakeApi,
    client: HttpClient,
    sleeps: Sleeps,
    status: int,
    reply: Reply,
    code: str | None,
    message: str,
) -> None:
    assert reply.status == status
    api.add("GET", "/orgs/acme/members", lambda r: reply)
    with pytest.raises(HttpError) as info:
        client.get_json("/orgs/acme/members")
    error = info.value
    assert (error.status, error.provider_code, error.attempts) == (status, code, 1)
    assert message in error.provider_message
    assert error.is_auth_error == (status in (401, 403)) and error.is_not_found == (status == 404)
    assert len(api.log) == 1 and sleeps == []


def test_error_str_is_one_line() -> None:
    url = "https://api.github.com/orgs/acme/members"
    error = HttpError("GET", url, 403, "Resource not accessible by integration")
    assert str(error) == f"GET {url} -> 403 Forbidden: Resource not accessible by integration"
    assert str(HttpError("GET", url, None, "ConnectionError: refused")) == (
        f"GET {url} -> connection failed: ConnectionError: refused"
    )


def test_github_secondary_rate_limit_403_is_retried(api: FakeApi, client: HttpClient, sleeps: Sleeps) -> None:
    api.fail("^/repos$", lambda r: fe.github_secondary_rate_limited(
        r, retry_after_s=60, headers={"x-ratelimit-remaining": "4987"}))
    api.fail("^/repos$", fe.github_secondary_rate_limited)
    api.add("GET", "/repos", _answer([{"name": "infra"}]))
    assert client.get_json("/repos") == [{"name": "infra"}]
    assert sleeps[0] == 60.0 and sleeps[1] >= 60.0  # no header: GitHub says wait at least a minute
    assert client.stats.throttled == 2
    assert [c.status for c in api.log] == [403, 403, 200]


def test_429_without_hints_waits_at_least_the_throttle_floor(api: FakeApi, sleeps: Sleeps) -> None:
    """GitHub: a 429 with neither Retry-After nor x-ratelimit-reset means "wait at least a minute"."""
    api.fail("^/repos$", lambda r: fe.github_secondary_rate_limited(r, status=429))
    api.add("GET", "/repos", _answer([{"name": "infra"}]))
    with HttpClient(base_url=api.url, sleep=sleeps, throttle_floor=60.0) as github:
        assert github.get_json("/repos") == [{"name": "infra"}]
    assert len(sleeps) == 1 and sleeps[0] >= 60.0


def test_429_without_hints_and_no_floor_backs_off_briefly(api: FakeApi, sleeps: Sleeps) -> None:
    api.fail("^/repos$", fe.too_many_requests({"message": "slow down"}, seconds=None))
    api.add("GET", "/repos", _answer([]))
    with HttpClient(base_url=api.url, sleep=sleeps) as other:
        assert other.get_json("/repos") == []
    assert len(sleeps) == 1 and sleeps[0] < 1.0


def test_github_primary_rate_limit_far_reset_gives_up(api: FakeApi, client: HttpClient, sleeps: Sleeps) -> None:
    api.add("GET", "/repos", lambda r: fe.github_rate_limited(3600, r))  # x-ratelimit-remaining 0, reset in 1 h
    with pytest.raises(HttpError, match="more than max_retry_after=120s") as info:
        client.get_json("/repos")
    assert info.value.status == 403 and info.value.retry_after is not None and info.value.retry_after > 3500
    assert sleeps == [] and len(api.log) == 1


def test_okta_rate_limit_reset_epoch(api: FakeApi, client: HttpClient, sleeps: Sleeps) -> None:
    # 429 E0000047; X-Rate-Limit-Reset is the epoch second after 4 s from now (so 4-5 s away).
    api.fail("^/api/v1/groups$", lambda r: fe.okta_rate_limited(4, r))
    api.add("GET", "/api/v1/groups", _answer([{"id": "g1"}]))
    assert client.get_json("/api/v1/groups") == [{"id": "g1"}]
    assert len(sleeps) == 1 and 4 <= sleeps[0] <= 5


def test_connection_refused_after_retries(sleeps: Sleeps) -> None:
    port = _closed_port()
    calls: list[int | None] = []
    http = HttpClient(sleep=sleeps, max_retries=3, on_request=lambda m, u, status, s: calls.append(status))
    with pytest.raises(HttpError) as info:
        http.get_json(f"http://127.0.0.1:{port}/x")
    assert info.value.status is None and info.value.is_connection_error and info.value.attempts == 4
    assert "ConnectionError" in info.value.provider_message and "connection failed" in str(info.value)
    assert calls == [None] * 4 and len(sleeps) == 3


def test_read_timeout_is_retried(api: FakeApi, sleeps: Sleeps) -> None:
    api.fail("^/slow$", Reply(200, 1, delay=0.5))  # answers after the client's 0.1 s read timeout
    api.add("GET", "/slow", _answer(2))
    http = HttpClient(base_url=api.url, sleep=sleeps, timeout=(1.0, 0.1))
    assert http.get_json("/slow") == 2
    assert len(sleeps) == 1


# --- read-only guard ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST", "put"])
def test_writes_are_refused_before_sending(api: FakeApi, method: str) -> None:
    for verb in ("GET", "PUT", "PATCH", "DELETE", "POST"):
        api.add(verb, "/things", _answer({}))
    auth_calls: list[int] = []
    http = HttpClient(base_url=api.url, allow_post=[r"/graphql$"], auth=lambda: auth_calls.append(1) or {})
    with pytest.raises(ReadOnlyViolation, match=method.upper()):
        http.request(method, "/things", json={"delete": "everything"})
    assert api.log == [] and auth_calls == [] and http.stats.requests == 0


def test_allowed_post_pattern(api: FakeApi) -> None:
    def graphql(request: Request) -> Reply:
        if request.json() != {"query": "{ viewer { login } }"}:
            return fe.github_error(400, "Problems parsing JSON")
        return Reply(200, {"data": {"viewer": {"login": "annexa-bot"}}})

    api.add("POST", "/graphql", graphql)
    http = HttpClient(base_url=api.url, allow_post=[r"/graphql$"])
    response = http.request("POST", "/graphql", json={"query": "{ viewer { login } }"})
    assert response.json()["data"]["viewer"]["login"] == "annexa-bot"
    for url in ("/graphql/../admin", "/admin?next=/graphql"):  # the query cannot satisfy the pattern
        with pytest.raises(ReadOnlyViolation):
            http.request("POST", url)
    assert len(api.log) == 1


def _all_gets(body: Any) -> bool:
    return isinstance(body, dict) and all(r.get("method") == "GET" for r in body.get("requests", []))


def test_allowed_post_with_body_check(api: FakeApi) -> None:
    """A POST allowed only with a read-only body (Graph `$batch` of GETs) is checked before sending."""
    api.add("POST", "/v1.0/$batch", _answer({"responses": []}))
    auth_calls: list[int] = []
    http = HttpClient(base_url=api.url, allow_post=[(r"/v1\.0/\$batch$", _all_gets)],
                      auth=lambda: auth_calls.append(1) or {})
    reads = {"requests": [{"id": "1", "method": "GET", "url": "/users"}]}
    assert http.request("POST", "/v1.0/$batch", json=reads).json() == {"responses": []}
    for body in ({"requests": [{"id": "1", "method": "GET", "url": "/users"},
                               {"id": "2", "method": "DELETE", "url": "/users/1"}]},
                 {"requests": "not a list"}, None):
        with pytest.raises(ReadOnlyViolation):
            http.request("POST", "/v1.0/$batch", json=body)
    assert len(api.log) == 1 and auth_calls == [1]


def test_requests_outside_the_origins_are_refused(api: FakeApi) -> None:
    """A next link pointing at another host never receives the credentials."""
    base = api.url
    api.add("GET", "/items", _answer({"value": [1], "nextLink": "http://127.0.0.2:9/steal?page=2"}))
    sent: list[int] = []
    http = HttpClient(base_url=base, origins=[base], auth=lambda: sent.append(1) or {"Authorization": "Bearer t"})
    pages = http.pages("/items", style="next_link")
    assert next(pages).items == [1]
    with pytest.raises(ForeignOrigin, match=r"127\.0\.0\.2"):
        next(pages)
    assert sent == [1] and len(api.log) == 1
    # default ports and case do not matter
    HttpClient(origins=["HTTPS://Example.COM:443"]).check_origin("https://example.com/x")


# --- secrets --------------------------------------------------------------------------


def test_secrets_never_reach_logs_errors_or_hooks(
    api: FakeApi, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    header_canary, query_canary, key_canary = "ghp_HEADERcanary0123456789", "QUERYcanary9876", "KEYcanary5555"
    seen_urls: list[str] = []
    http = HttpClient(
        base_url=api.url,
        sleep=sleeps,
        max_retries=1,
        auth=lambda: {"Authorization": f"Bearer {header_canary}"},
        on_request=lambda m, url, s, t: seen_urls.append(url),
    )
    # A proxy-style error page that echoes the request line back.
    echo = (
        f"upstream failed for GET /api?access_token={query_canary}&key={key_canary} (Bearer {header_canary})"
    )
    api.add("GET", "/api", lambda r: Reply(502, echo, {"Content-Type": "text/plain"}))
    api.add("GET", "/missing", lambda r: fe.github_error(404, "Not Found"))
    params = {"access_token": query_canary, "key": key_canary, "per_page": "5"}
    errors: list[HttpError] = []
    # urllib3's own logger too: another test's CLI logging setup may have raised its level.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="urllib3"):
        for path in ("/api", "/missing", f"http://127.0.0.1:{_closed_port()}/refused"):
            with pytest.raises(HttpError) as info:
                http.get_json(path, params=params)
            errors.append(info.value)
    assert api.log[0].header("Authorization") == f"Bearer {header_canary}"  # it was sent
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # debug logging was really on
    texts = [caplog.text, *seen_urls, *(r.getMessage() for r in caplog.records)]
    texts += [f"{e!s} {e!r} {e.args} {e.provider_message}" for e in errors]
    for text in texts:
        for canary in (header_canary, query_canary, key_canary):
            assert canary not in text
    assert "per_page=5" in str(errors[1]) and "access_token=REDACTED" in str(errors[1])


def test_redact_url_keeps_harmless_params() -> None:
    url = "https://x/y?api-version=2023-03-01&sig=abc&client_secret=s&code=c&monkey=1&%24filter=a%20b"
    assert redact_url(url) == (
        "https://x/y?api-version=2023-03-01&sig=REDACTED&client_secret=REDACTED&code=REDACTED&monkey=1&%24filter=a%20b"
    )


# --- concurrency, rate limit, hooks ---------------------------------------------------


def test_concurrency_limit_is_respected(api: FakeApi) -> None:
    api.add("GET", "/busy", lambda r: Reply(200, {"ok": True}, delay=0.05))  # the fake counts requests in flight
    http = HttpClient(base_url=api.url, max_concurrency=2)
    threads = [threading.Thread(target=lambda: [http.get_json("/busy") for _ in range(2)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(api.calls(path="^/busy$")) == 16
    assert api.max_in_flight == 2


def test_rate_limit_spaces_requests_across_threads(api: FakeApi) -> None:
    api.add("GET", "/paced", _answer([]))
    http = HttpClient(base_url=api.url, rate_limit=40.0)  # one request per 25 ms
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [http.get_json("/paced") for _ in range(2)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 7 / 40
    arrivals = sorted(call.at for call in api.calls(path="^/paced$"))  # the server's clock
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(gaps) == 7 and sum(gaps) >= 6 / 40  # spaced, not burst


def test_rate_limit_uses_injected_sleep(api: FakeApi, sleeps: Sleeps) -> None:
    api.add("GET", "/paced", _answer([]))
    http = HttpClient(base_url=api.url, rate_limit=10.0, sleep=sleeps)
    for _ in range(4):
        http.get_json("/paced")
    # Time does not pass while "sleeping", so each caller reserves the next 100 ms slot.
    assert len(sleeps) == 3
    # The real clock moves a little per request, so a wait is at most, and close to, its slot.
    assert all(0.1 * (i + 1) - 0.06 <= wait <= 0.1 * (i + 1) for i, wait in enumerate(sleeps))


def test_auth_callable_invoked_per_attempt(api: FakeApi, sleeps: Sleeps) -> None:
    tokens = iter(f"token-{n}" for n in range(1, 10))
    http = HttpClient(base_url=api.url, sleep=sleeps, auth=lambda: {"Authorization": f"Bearer {next(tokens)}"})
    api.fail("^/me$", fe.google_error(503, "The service is currently unavailable."))
    api.add("GET", "/me", _answer({}))
    http.get_json("/me")
    http.get_json("/me")
    assert [c.header("Authorization") for c in api.log] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-3",
    ]


def test_headers_user_agent_and_on_request_hook(api: FakeApi, sleeps: Sleeps) -> None:
    calls: list[tuple[str, str, int | None, float]] = []
    http = HttpClient(
        base_url=f"{api.url}/",
        sleep=sleeps,
        user_agent="annexa/0.1",
        on_request=lambda *a: calls.append(a),
        headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
    )
    api.fail("^/orgs/acme$", fe.github_error(502, "Server Error"))
    api.add("GET", "/orgs/acme", _answer({"login": "acme"}))
    api.add("HEAD", "/rate_limit", _answer(""))
    assert http.get_json("orgs/acme", headers={"X-GitHub-Api-Version": "2026-03-10"}) == {"login": "acme"}
    assert http.request("HEAD", "/rate_limit").status_code == 200
    sent = api.log[0]
    assert sent.header("User-Agent") == "annexa/0.1" and sent.header("Accept") == "application/vnd.github+json"
    assert sent.header("X-GitHub-Api-Version") == "2026-03-10"
    url = f"{api.url}/orgs/acme"
    assert [(m, u, s) for m, u, s, _ in calls] == [
        ("GET", url, 502),
        ("GET", url, 200),
        ("HEAD", f"{api.url}/rate_limit", 200),
    ]
    assert all(seconds >= 0 for *_, seconds in calls)


def test_relative_url_needs_base_url() -> None:
    with pytest.raises(ValueError, match="needs a base_url"):
        HttpClient().get_json("/x")


# --- proactive pacing and Google rate-limit 403 ---------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_header_pacer_spreads_the_last_calls_until_the_reset() -> None:
    from agent.http import HeaderPacer

    clock, waits = FakeClock(1000.0), Sleeps()
    pacer = HeaderPacer(0.1, sleep=waits, clock=clock)
    pacer.observe("/api/v1/users", {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "500",
                                      "X-Rate-Limit-Reset": "1060"})
    assert pacer.before("/api/v1/users") == 0.0  # plenty left: no slowing
    pacer.observe("/api/v1/users", {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "3",
                                      "X-Rate-Limit-Reset": "1060"})
    assert pacer.before("/api/v1/logs") == 0.0  # another endpoint family has its own budget
    assert pacer.before("/api/v1/users") == 0.0  # first of the last 3 calls goes now...
    assert pacer.before("/api/v1/users") == pytest.approx(15.0)  # ...the next ones 60s/(3+1) apart
    pacer.observe("/api/v1/users", {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0",
                                      "X-Rate-Limit-Reset": "1060"})
    assert pacer.before("/api/v1/users") == pytest.approx(60.0)  # none left: wait for the reset
    clock.now = 1061.0
    assert pacer.before("/api/v1/users") == 0.0  # a new window


def test_client_paces_okta_when_remaining_is_low(api: FakeApi, sleeps: Sleeps) -> None:
    reset = int(time.time()) + 30
    low = fe.okta_rate_headers(RateState(limit=100, remaining=0, used=100, reset_epoch=reset))
    api.fail("^/api/v1/users$", Reply(200, [{"id": "a"}], low))
    api.add("GET", "/api/v1/users", _answer([{"id": "b"}]))
    with HttpClient(base_url=api.url, sleep=sleeps, pace_below=0.1) as http:
        assert http.get_json("/api/v1/users") == [{"id": "a"}]
        assert http.get_json("/api/v1/users") == [{"id": "b"}]
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31  # waited for the reset instead of taking a 429
    assert len(api.log) == 2 and all(c.status == 200 for c in api.log)


def test_google_rate_limit_403_is_retried_with_configured_floor(api: FakeApi, sleeps: Sleeps) -> None:
    # 403 PERMISSION_DENIED whose errors[].reason is userRateLimitExceeded: a rate limit, not a denial.
    api.fail("^/admin/directory/v1/users$", lambda r: fe.google_user_rate_limited(60, r))
    api.add("GET", "/admin/directory/v1/users", _answer({"users": []}))
    with HttpClient(base_url=api.url, sleep=sleeps, rate_limit_403_floor=1.0) as http:
        assert http.get_json("/admin/directory/v1/users") == {"users": []}
        assert http.stats.throttled == 1
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] < 2.0


def test_google_forbidden_403_is_not_retried(api: FakeApi, client: HttpClient, sleeps: Sleeps) -> None:
    api.add("GET", "/admin/directory/v1/users",
            lambda r: fe.google_error(403, "Not Authorized to access this resource/api", reason="forbidden"))
    with pytest.raises(HttpError) as info:
        client.get_json("/admin/directory/v1/users")
    assert info.value.status == 403 and info.value.provider_code == "PERMISSION_DENIED" and sleeps == []


def test_rfc7807_problem_documents_give_message_and_code(api: FakeApi, client: HttpClient) -> None:
    # BambooHR's problem document (application/problem+json).
    api.add("GET", "/problem", lambda r: problem(422, "Unprocessable Entity", "pageSize must be at most 1000.",
                                                 "INVALID_PAGINATION"))
    with pytest.raises(HttpError) as info:
        client.get_json("/problem")
    assert info.value.provider_message == "Unprocessable Entity: pageSize must be at most 1000."
    assert info.value.provider_code == "INVALID_PAGINATION"


# --- Google error reasons and library transports ------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code", "reason"),
    [
        (fe.google_service_disabled("compute.googleapis.com", "123"), "PERMISSION_DENIED", "SERVICE_DISABLED"),
        # the older JSON APIs (Storage, Compute) send no `status`
        (fe.google_json_api_error(403, "x does not have storage.buckets.list access.", reason="forbidden"),
         "403", "forbidden"),
        (fe.google_error(403, "The caller does not have permission"), "PERMISSION_DENIED", None),
        (fe.github_error(404, "Not Found", MEMBERS_DOC), None, None),
    ],
)
def test_google_error_reason_is_kept(
    api: FakeApi, client: HttpClient, reply: Reply, code: str | None, reason: str | None
) -> None:
    api.add("GET", "/compute/v1/projects/p/global/firewalls", lambda r: reply)
    with pytest.raises(HttpError) as info:
        client.get_json("/compute/v1/projects/p/global/firewalls")
    assert (info.value.provider_code, info.value.provider_reason) == (code, reason)
    assert pickle.loads(pickle.dumps(info.value)).provider_reason == reason


def test_send_external_applies_read_only_limits_and_hook(api: FakeApi) -> None:
    """A library's own transport goes through the same read-only check, rate limit and request hook."""
    import requests

    api.add("POST", "/v3/projects/1:getIamPolicy", _answer({"version": 3}))
    calls: list[tuple[str, str, int | None, float]] = []
    http = HttpClient(allow_post=[r":getIamPolicy$"], rate_limit=50.0, on_request=lambda *a: calls.append(a))
    session = requests.Session()
    url = f"{api.url}/v3/projects/1:getIamPolicy"
    response = http.send_external("post", url, lambda: session.post(url, json={}))
    assert response.json() == {"version": 3}
    assert [(m, u, s) for m, u, s, _ in calls] == [("POST", url, 200)] and http.stats.requests == 1
    sent: list[int] = []
    refused = f"{api.url}/v3/projects/1:setIamPolicy"
    with pytest.raises(ReadOnlyViolation):
        http.send_external("POST", refused, lambda: sent.append(1) or session.post(refused))
    assert sent == [] and len(api.log) == 1 and http.stats.requests == 1
