"""The shared HTTP client against a real local HTTP server answering like the real APIs."""

from __future__ import annotations

import inspect
import itertools
import logging
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request

from agent.http import ForeignOrigin, HttpClient, HttpError, ReadOnlyViolation, parse_link_header, redact_url

try:  # tests laid out as packages
    from . import http_fixtures as fx
except ImportError:  # pytest's default rootdir-relative import mode
    import http_fixtures as fx  # type: ignore[no-redef]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse name resolution for anything but loopback: a forgotten real endpoint fails loudly."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK:
            raise OSError(f"test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture(scope="module")
def _server() -> Iterator[HTTPServer]:
    werkzeug_log = logging.getLogger("werkzeug")
    disabled, werkzeug_log.disabled = werkzeug_log.disabled, True  # the server's own access log
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()
    werkzeug_log.disabled = disabled


@pytest.fixture
def server(_server: HTTPServer) -> HTTPServer:
    _server.clear()
    return _server


class Sleeps(list[float]):
    """Injected sleep: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(server: HTTPServer, sleeps: Sleeps) -> Iterator[HttpClient]:
    with HttpClient(base_url=server.url_for(""), sleep=sleeps, timeout=(2.0, 5.0)) as http:
        yield http


def _requests_seen(server: HTTPServer) -> list[Request]:
    return [request for request, _ in server.log]


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


def test_link_pagination_github(server: HTTPServer, client: HttpClient) -> None:
    # GitHub rewrites /orgs/acme to /organizations/<id> in its Link URLs.
    page_url = server.url_for("/organizations/123/members")
    server.expect_oneshot_request("/orgs/acme/members", query_string="per_page=2").respond_with_response(
        fx.json_response([{"login": "a"}, {"login": "b"}], headers=fx.github_links(page_url, 1, 4))
    )
    for page, logins in ((2, []), (3, ["c", "d"]), (4, ["e"])):
        server.expect_oneshot_request(
            "/organizations/123/members", query_string=f"per_page=2&page={page}"
        ).respond_with_response(
            fx.json_response([{"login": x} for x in logins], headers=fx.github_links(page_url, page, 4))
        )
    members = client.paginate("/orgs/acme/members", style="link", page_size=("per_page", 2))
    assert next(members) == {"login": "a"}
    assert len(server.log) == 1  # pages are fetched lazily
    assert [m["login"] for m in members] == ["b", "c", "d", "e"]
    assert len(server.log) == 4
    server.check_assertions()


def test_link_pagination_okta_repeated_headers_and_search_items(
    server: HTTPServer, client: HttpClient
) -> None:
    users = server.url_for("/api/v1/users")
    cursors = ["00ubfjQEMYBLRUWIEDKK", "00ubgkAB1xYkqCYpHAhA"]
    for index, after in enumerate(["", *cursors]):
        query = f"after={after}&limit=2" if after else "limit=2"
        headers = [("Link", f'<{users}?{query}>; rel="self"')]
        if index < len(cursors):
            headers.append(("Link", f'<{users}?after={cursors[index]}&limit=2>; rel="next"'))
        body = [] if index == 2 else [{"id": f"u{index}a"}, {"id": f"u{index}b"}]
        server.expect_oneshot_request("/api/v1/users", query_string=query).respond_with_response(
            fx.json_response(body, headers=headers)
        )
    assert [u["id"] for u in client.paginate("/api/v1/users", style="link", page_size=("limit", 2))] == [
        "u0a",
        "u0b",
        "u1a",
        "u1b",
    ]

    search = server.url_for("/search/repositories")
    server.expect_oneshot_request(
        "/search/repositories", query_string={"q": "org:acme"}
    ).respond_with_response(
        fx.json_response(
            {"total_count": 3, "incomplete_results": False, "items": [{"id": 1}, {"id": 2}]},
            headers=[
                (
                    "Link",
                    f"<{search}?q=org%3Aacme&page=2>; rel=next, <{search}?q=org%3Aacme&page=2>; rel=last",
                )
            ],
        )
    )
    server.expect_oneshot_request(
        "/search/repositories", query_string="q=org%3Aacme&page=2"
    ).respond_with_json({"total_count": 3, "incomplete_results": False, "items": [{"id": 3}]})
    found = client.paginate("/search/repositories", params={"q": "org:acme"}, style="link")
    assert [r["id"] for r in found] == [1, 2, 3]


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


def test_next_link_azure_arm_with_empty_middle_page(server: HTTPServer, client: HttpClient) -> None:
    path = "/subscriptions/0000/providers/Microsoft.Compute/virtualMachines"
    base = server.url_for(path)
    pages = [
        ("api-version=2023-03-01", [{"name": "vm1"}], f"{base}?api-version=2023-03-01&%24skiptoken=s1"),
        ("api-version=2023-03-01&%24skiptoken=s1", [], f"{base}?api-version=2023-03-01&%24skiptoken=s2"),
        ("api-version=2023-03-01&%24skiptoken=s2", [{"name": "vm2"}, {"name": "vm3"}], None),
    ]
    for query, value, next_link in pages:
        body: dict[str, Any] = {"value": value}
        if next_link:
            body["nextLink"] = next_link
        server.expect_oneshot_request(path, query_string=query).respond_with_json(body)
    vms = client.paginate(path, params={"api-version": "2023-03-01"}, style="next_link")
    assert [vm["name"] for vm in vms] == ["vm1", "vm2", "vm3"]
    server.check_assertions()


def test_next_link_microsoft_graph(server: HTTPServer, sleeps: Sleeps) -> None:
    graph = HttpClient(base_url=server.url_for("/v1.0"), sleep=sleeps)  # base path is kept
    users = server.url_for("/v1.0/users")
    context = "https://graph.microsoft.com/v1.0/$metadata#users"
    server.expect_oneshot_request("/v1.0/users", query_string="%24top=2").respond_with_json(
        {
            "@odata.context": context,
            "value": [{"id": "1"}, {"id": "2"}],
            "@odata.nextLink": f"{users}?$top=2&$skiptoken=A",
        }
    )
    server.expect_oneshot_request("/v1.0/users", query_string="$top=2&$skiptoken=A").respond_with_json(
        {"@odata.context": context, "value": [], "@odata.nextLink": f"{users}?$top=2&$skiptoken=B"}
    )
    server.expect_oneshot_request("/v1.0/users", query_string="$top=2&$skiptoken=B").respond_with_json(
        {"@odata.context": context, "value": [{"id": "3"}]}
    )
    assert [u["id"] for u in graph.paginate("/users", style="next_link", page_size=("$top", 2))] == [
        "1",
        "2",
        "3",
    ]
    server.check_assertions()


def test_page_token_google_omits_empty_lists(server: HTTPServer, client: HttpClient) -> None:
    first = "customer=my_customer&maxResults=2"
    server.expect_oneshot_request("/admin/directory/v1/users", query_string=first).respond_with_json(
        {"kind": "admin#directory#users", "users": [{"id": "1"}, {"id": "2"}], "nextPageToken": "tok-2"}
    )
    server.expect_oneshot_request(
        "/admin/directory/v1/users", query_string=f"{first}&pageToken=tok-2"
    ).respond_with_json(
        {"kind": "admin#directory#users", "nextPageToken": "tok-3"}  # empty page: Google omits "users"
    )
    server.expect_oneshot_request(
        "/admin/directory/v1/users", query_string=f"{first}&pageToken=tok-3"
    ).respond_with_json({"kind": "admin#directory#users", "users": [{"id": "3"}], "nextPageToken": ""})
    users = client.paginate(
        "/admin/directory/v1/users",
        params={"customer": "my_customer"},
        style="page_token",
        items="users",
        page_size=("maxResults", 2),
    )
    assert [u["id"] for u in users] == ["1", "2", "3"]
    server.check_assertions()


def test_cursor_nested_path_and_url_cursor(server: HTTPServer, client: HttpClient) -> None:
    for cursor, members, following in (
        (None, ["U1", "U2"], "dXNlcjpVMDYxTkZUVDI="),
        ("dXNlcjpVMDYxTkZUVDI=", [], "dXNlcjpVMEc5V0ZYTlo="),
        ("dXNlcjpVMEc5V0ZYTlo=", ["U3"], ""),
    ):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        server.expect_oneshot_request("/api/users.list", query_string=query).respond_with_json(
            {
                "ok": True,
                "members": [{"id": m} for m in members],
                "response_metadata": {"next_cursor": following},
            }
        )
    members = client.paginate(
        "/api/users.list",
        style="cursor",
        items="members",
        page_size=("limit", 2),
        cursor_path="response_metadata.next_cursor",
        cursor_param="cursor",
    )
    assert [m["id"] for m in members] == ["U1", "U2", "U3"]

    # JSON:API style: the cursor *is* the next URL.
    server.expect_oneshot_request("/v2/items").respond_with_json(
        {"data": [1], "links": {"next": "/v2/items?p=2"}}
    )
    server.expect_oneshot_request("/v2/items", query_string="p=2").respond_with_json(
        {"data": [2], "links": {}}
    )
    assert list(client.paginate("/v2/items", style="cursor", items="data", cursor_path="links.next")) == [
        1,
        2,
    ]


def test_pagination_stops_on_repeated_link_token_and_max_pages(
    server: HTTPServer, client: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    loop = server.url_for("/loop")
    server.expect_request("/loop").respond_with_response(
        fx.json_response([1], headers=[("Link", f'<{loop}>; rel="next"')])
    )
    with caplog.at_level(logging.WARNING, logger="agent.http"):
        assert list(client.paginate("/loop", style="link")) == [1]
    assert "repeats" in caplog.text
    server.clear()
    server.expect_request("/tokens").respond_with_json({"items": [1], "nextPageToken": "same"})
    assert list(client.paginate("/tokens", style="page_token", items="items")) == [1, 1]
    assert len(server.log) == 2
    server.clear()
    served = itertools.count(1)
    server.expect_request("/endless").respond_with_handler(
        lambda r: fx.json_response(
            {"items": [r.args.get("pageToken", "start")], "nextPageToken": f"t{next(served)}"}
        )
    )
    assert list(client.paginate("/endless", style="page_token", items="items", max_pages=3)) == [
        "start",
        "t1",
        "t2",
    ]
    assert len(server.log) == 3


def test_pagination_shape_errors_are_loud(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/arm").respond_with_json({"values": []})  # typo'd key, not "no resources"
    with pytest.raises(HttpError, match=r"no 'value' list") as info:
        list(client.paginate("/arm", style="next_link"))
    assert info.value.status == 200
    with pytest.raises(ValueError, match="needs items"):
        client.paginate("/x", style="page_token")
    with pytest.raises(ValueError, match="unknown pagination style"):
        client.paginate("/x", style="offset")  # type: ignore[arg-type]


def test_invalid_json_is_an_http_error(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/html").respond_with_data(
        "<html><body>Sign in</body></html>", content_type="text/html"
    )
    with pytest.raises(HttpError) as info:
        client.get_json("/html")
    assert info.value.status == 200
    assert info.value.provider_message.startswith("invalid JSON: <html>")
    assert str(info.value).startswith(f"GET {server.url_for('/html')} -> 200 OK: invalid JSON")


# --- retries ------------------------------------------------------------------------------


def test_429_retry_after_seconds_then_success(server: HTTPServer, client: HttpClient, sleeps: Sleeps) -> None:
    server.expect_oneshot_request("/r").respond_with_json(
        {"message": "slow down"}, status=429, headers={"Retry-After": "7"}
    )
    server.expect_oneshot_request("/r").respond_with_json({"ok": 1})
    assert client.get_json("/r") == {"ok": 1}
    assert sleeps == [7.0]
    assert client.stats.snapshot() == type(client.stats.snapshot())(
        requests=2, retries=1, throttled=1, errors=0
    )


def test_429_retry_after_http_date(server: HTTPServer, client: HttpClient, sleeps: Sleeps) -> None:
    when = fx.http_date(int(time.time()) + 30)  # measured against the server's Date header
    server.expect_oneshot_request("/r").respond_with_data("", status=429, headers={"Retry-After": when})
    server.expect_oneshot_request("/r").respond_with_json([])
    assert client.get_json("/r") == []
    assert len(sleeps) == 1 and 29 <= sleeps[0] <= 30


def test_503_backoff_with_full_jitter_then_success(server: HTTPServer, sleeps: Sleeps) -> None:
    http = HttpClient(base_url=server.url_for(""), sleep=sleeps, backoff_base=0.5, backoff_max=1.5)
    for _ in range(3):
        server.expect_oneshot_request("/flaky").respond_with_json(fx.GOOGLE_UNAVAILABLE, status=503)
    server.expect_oneshot_request("/flaky").respond_with_json({"done": True})
    assert http.get_json("/flaky") == {"done": True}
    assert len(sleeps) == 3
    for retry, wait in enumerate(sleeps):
        assert 0 <= wait <= min(1.5, 0.5 * 2**retry)


def test_retries_exhausted_carries_status_and_provider_error(server: HTTPServer, sleeps: Sleeps) -> None:
    http = HttpClient(base_url=server.url_for(""), sleep=sleeps, max_retries=2)
    server.expect_request("/down").respond_with_json(fx.GOOGLE_UNAVAILABLE, status=503)
    with pytest.raises(HttpError) as info:
        http.get_json("/down")
    error = info.value
    assert (error.status, error.provider_code, error.attempts) == (503, "UNAVAILABLE", 3)
    assert error.provider_message == "The service is currently unavailable."
    assert len(server.log) == 3 and len(sleeps) == 2
    assert http.stats.errors == 1 and http.stats.retries == 2


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (404, fx.GITHUB_NOT_FOUND, None, "Not Found"),
        (403, fx.GITHUB_INTEGRATION_403, None, "Resource not accessible by integration"),
        (401, fx.OKTA_INVALID_TOKEN, "E0000011", "Invalid token provided"),
        (403, fx.OKTA_FORBIDDEN, "E0000006", "You do not have permission to perform the requested action"),
        (403, fx.AZURE_AUTHORIZATION_FAILED, "AuthorizationFailed", "does not have authorization"),
        (403, fx.GRAPH_REQUEST_DENIED, "Authorization_RequestDenied", "Insufficient privileges"),
        (403, fx.GOOGLE_PERMISSION_DENIED, "PERMISSION_DENIED", "The caller does not have permission"),
        (
            400,
            {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."},
            "invalid_client",
            "AADSTS7000215",
        ),
    ],
)
def test_client_errors_are_not_retried_and_classified(
    server: HTTPServer,
    client: HttpClient,
    sleeps: Sleeps,
    status: int,
    body: dict[str, Any],
    code: str | None,
    message: str,
) -> None:
    server.expect_request("/orgs/acme/members").respond_with_json(body, status=status)
    with pytest.raises(HttpError) as info:
        client.get_json("/orgs/acme/members")
    error = info.value
    assert (error.status, error.provider_code, error.attempts) == (status, code, 1)
    assert message in error.provider_message
    assert error.is_auth_error == (status in (401, 403)) and error.is_not_found == (status == 404)
    assert len(server.log) == 1 and sleeps == []


def test_error_str_is_one_line() -> None:
    url = "https://api.github.com/orgs/acme/members"
    error = HttpError("GET", url, 403, "Resource not accessible by integration")
    assert str(error) == f"GET {url} -> 403 Forbidden: Resource not accessible by integration"
    assert str(HttpError("GET", url, None, "ConnectionError: refused")) == (
        f"GET {url} -> connection failed: ConnectionError: refused"
    )


def test_github_secondary_rate_limit_403_is_retried(
    server: HTTPServer, client: HttpClient, sleeps: Sleeps
) -> None:
    server.expect_oneshot_request("/repos").respond_with_json(
        fx.GITHUB_SECONDARY_RATE_LIMIT,
        status=403,
        headers={"retry-after": "60", "x-ratelimit-remaining": "4987"},
    )
    server.expect_oneshot_request("/repos").respond_with_json(fx.GITHUB_SECONDARY_RATE_LIMIT, status=403)
    server.expect_oneshot_request("/repos").respond_with_json([{"name": "infra"}])
    assert client.get_json("/repos") == [{"name": "infra"}]
    assert sleeps[0] == 60.0 and sleeps[1] >= 60.0  # no header: GitHub says wait at least a minute
    assert client.stats.throttled == 2


def test_429_without_hints_waits_at_least_the_throttle_floor(server: HTTPServer, sleeps: Sleeps) -> None:
    """GitHub: a 429 with neither Retry-After nor x-ratelimit-reset means "wait at least a minute"."""
    server.expect_oneshot_request("/repos").respond_with_json(fx.GITHUB_SECONDARY_RATE_LIMIT, status=429)
    server.expect_oneshot_request("/repos").respond_with_json([{"name": "infra"}])
    with HttpClient(base_url=server.url_for(""), sleep=sleeps, throttle_floor=60.0) as github:
        assert github.get_json("/repos") == [{"name": "infra"}]
    assert len(sleeps) == 1 and sleeps[0] >= 60.0


def test_429_without_hints_and_no_floor_backs_off_briefly(server: HTTPServer, sleeps: Sleeps) -> None:
    server.expect_oneshot_request("/repos").respond_with_json({"message": "slow down"}, status=429)
    server.expect_oneshot_request("/repos").respond_with_json([])
    with HttpClient(base_url=server.url_for(""), sleep=sleeps) as other:
        assert other.get_json("/repos") == []
    assert len(sleeps) == 1 and sleeps[0] < 1.0


def test_github_primary_rate_limit_far_reset_gives_up(
    server: HTTPServer, client: HttpClient, sleeps: Sleeps
) -> None:
    reset = int(time.time()) + 3600
    headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    server.expect_request("/repos").respond_with_json(
        fx.GITHUB_PRIMARY_RATE_LIMIT, status=403, headers=headers
    )
    with pytest.raises(HttpError, match="more than max_retry_after=120s") as info:
        client.get_json("/repos")
    assert info.value.status == 403 and info.value.retry_after is not None and info.value.retry_after > 3500
    assert sleeps == [] and len(server.log) == 1


def test_okta_rate_limit_reset_epoch(server: HTTPServer, client: HttpClient, sleeps: Sleeps) -> None:
    reset = int(time.time()) + 5
    headers = {"x-rate-limit-limit": "600", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
    server.expect_oneshot_request("/api/v1/groups").respond_with_json(
        fx.OKTA_RATE_LIMIT, status=429, headers=headers
    )
    server.expect_oneshot_request("/api/v1/groups").respond_with_json([{"id": "g1"}])
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


def test_read_timeout_is_retried(server: HTTPServer, sleeps: Sleeps) -> None:
    server.expect_oneshot_request("/slow").respond_with_handler(
        lambda r: (time.sleep(0.5), fx.json_response(1))[1]
    )
    server.expect_oneshot_request("/slow").respond_with_json(2)
    http = HttpClient(base_url=server.url_for(""), sleep=sleeps, timeout=(1.0, 0.1))
    assert http.get_json("/slow") == 2
    assert len(sleeps) == 1


# --- read-only guard ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST", "put"])
def test_writes_are_refused_before_sending(server: HTTPServer, method: str) -> None:
    server.expect_request("/things").respond_with_json({})
    auth_calls: list[int] = []
    http = HttpClient(
        base_url=server.url_for(""), allow_post=[r"/graphql$"], auth=lambda: auth_calls.append(1) or {}
    )
    with pytest.raises(ReadOnlyViolation, match=method.upper()):
        http.request(method, "/things", json={"delete": "everything"})
    assert server.log == [] and auth_calls == [] and http.stats.requests == 0


def test_allowed_post_pattern(server: HTTPServer) -> None:
    server.expect_request(
        "/graphql", method="POST", json={"query": "{ viewer { login } }"}
    ).respond_with_json({"data": {"viewer": {"login": "annexa-bot"}}})
    http = HttpClient(base_url=server.url_for(""), allow_post=[r"/graphql$"])
    response = http.request("POST", "/graphql", json={"query": "{ viewer { login } }"})
    assert response.json()["data"]["viewer"]["login"] == "annexa-bot"
    for url in ("/graphql/../admin", "/admin?next=/graphql"):  # the query cannot satisfy the pattern
        with pytest.raises(ReadOnlyViolation):
            http.request("POST", url)
    assert len(server.log) == 1


def _all_gets(body: Any) -> bool:
    return isinstance(body, dict) and all(r.get("method") == "GET" for r in body.get("requests", []))


def test_allowed_post_with_body_check(server: HTTPServer) -> None:
    """A POST allowed only with a read-only body (Graph `$batch` of GETs) is checked before sending."""
    server.expect_request("/v1.0/$batch", method="POST").respond_with_json({"responses": []})
    auth_calls: list[int] = []
    http = HttpClient(base_url=server.url_for(""), allow_post=[(r"/v1\.0/\$batch$", _all_gets)],
                      auth=lambda: auth_calls.append(1) or {})
    reads = {"requests": [{"id": "1", "method": "GET", "url": "/users"}]}
    assert http.request("POST", "/v1.0/$batch", json=reads).json() == {"responses": []}
    for body in ({"requests": [{"id": "1", "method": "GET", "url": "/users"},
                               {"id": "2", "method": "DELETE", "url": "/users/1"}]},
                 {"requests": "not a list"}, None):
        with pytest.raises(ReadOnlyViolation):
            http.request("POST", "/v1.0/$batch", json=body)
    assert len(server.log) == 1 and auth_calls == [1]


def test_requests_outside_the_origins_are_refused(server: HTTPServer) -> None:
    """A next link pointing at another host never receives the credentials."""
    base = server.url_for("").rstrip("/")
    server.expect_request("/items").respond_with_json(
        {"value": [1], "nextLink": "http://127.0.0.2:9/steal?page=2"})
    sent: list[int] = []
    http = HttpClient(base_url=base, origins=[base], auth=lambda: sent.append(1) or {"Authorization": "Bearer t"})
    pages = http.pages("/items", style="next_link")
    assert next(pages).items == [1]
    with pytest.raises(ForeignOrigin, match=r"127\.0\.0\.2"):
        next(pages)
    assert sent == [1] and len(server.log) == 1
    # default ports and case do not matter
    HttpClient(origins=["HTTPS://Example.COM:443"]).check_origin("https://example.com/x")


# --- secrets --------------------------------------------------------------------------


def test_secrets_never_reach_logs_errors_or_hooks(
    server: HTTPServer, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    header_canary, query_canary, key_canary = "ghp_HEADERcanary0123456789", "QUERYcanary9876", "KEYcanary5555"
    seen_urls: list[str] = []
    http = HttpClient(
        base_url=server.url_for(""),
        sleep=sleeps,
        max_retries=1,
        auth=lambda: {"Authorization": f"Bearer {header_canary}"},
        on_request=lambda m, url, s, t: seen_urls.append(url),
    )
    # A proxy-style error page that echoes the request line back.
    echo = (
        f"upstream failed for GET /api?access_token={query_canary}&key={key_canary} (Bearer {header_canary})"
    )
    server.expect_request("/api").respond_with_data(echo, status=502)
    server.expect_request("/missing").respond_with_json(fx.GITHUB_NOT_FOUND, status=404)
    params = {"access_token": query_canary, "key": key_canary, "per_page": "5"}
    errors: list[HttpError] = []
    # urllib3's own logger too: another test's CLI logging setup may have raised its level.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="urllib3"):
        for path in ("/api", "/missing", f"http://127.0.0.1:{_closed_port()}/refused"):
            with pytest.raises(HttpError) as info:
                http.get_json(path, params=params)
            errors.append(info.value)
    assert server.log[0][0].headers["Authorization"] == f"Bearer {header_canary}"  # it was sent
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


def test_concurrency_limit_is_respected(server: HTTPServer) -> None:
    counter = fx.InFlightCounter(delay=0.05)
    server.expect_request("/busy").respond_with_handler(counter)
    http = HttpClient(base_url=server.url_for(""), max_concurrency=2)
    threads = [threading.Thread(target=lambda: [http.get_json("/busy") for _ in range(2)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.total == 16
    assert counter.peak == 2


def test_rate_limit_spaces_requests_across_threads(server: HTTPServer) -> None:
    recorder = fx.ArrivalRecorder()
    server.expect_request("/paced").respond_with_handler(recorder)
    http = HttpClient(base_url=server.url_for(""), rate_limit=40.0)  # one request per 25 ms
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [http.get_json("/paced") for _ in range(2)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 7 / 40
    gaps = [b - a for a, b in zip(sorted(recorder.arrivals), sorted(recorder.arrivals)[1:], strict=False)]
    assert len(gaps) == 7 and sum(gaps) >= 6 / 40  # spaced, not burst


def test_rate_limit_uses_injected_sleep(server: HTTPServer, sleeps: Sleeps) -> None:
    server.expect_request("/paced").respond_with_json([])
    http = HttpClient(base_url=server.url_for(""), rate_limit=10.0, sleep=sleeps)
    for _ in range(4):
        http.get_json("/paced")
    # Time does not pass while "sleeping", so each caller reserves the next 100 ms slot.
    assert len(sleeps) == 3
    # The real clock moves a little per request, so a wait is at most, and close to, its slot.
    assert all(0.1 * (i + 1) - 0.06 <= wait <= 0.1 * (i + 1) for i, wait in enumerate(sleeps))


def test_auth_callable_invoked_per_attempt(server: HTTPServer, sleeps: Sleeps) -> None:
    tokens = iter(f"token-{n}" for n in range(1, 10))
    http = HttpClient(
        base_url=server.url_for(""), sleep=sleeps, auth=lambda: {"Authorization": f"Bearer {next(tokens)}"}
    )
    server.expect_oneshot_request("/me").respond_with_json({}, status=503)
    server.expect_request("/me").respond_with_json({})
    http.get_json("/me")
    http.get_json("/me")
    assert [r.headers["Authorization"] for r in _requests_seen(server)] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-3",
    ]


def test_headers_user_agent_and_on_request_hook(server: HTTPServer, sleeps: Sleeps) -> None:
    calls: list[tuple[str, str, int | None, float]] = []
    http = HttpClient(
        base_url=server.url_for("/"),
        sleep=sleeps,
        user_agent="annexa/0.1",
        on_request=lambda *a: calls.append(a),
        headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
    )
    server.expect_oneshot_request("/orgs/acme").respond_with_json({}, status=502)
    server.expect_oneshot_request("/orgs/acme").respond_with_json({"login": "acme"})
    server.expect_request("/rate_limit", method="HEAD").respond_with_data("")
    assert http.get_json("orgs/acme", headers={"X-GitHub-Api-Version": "2026-03-10"}) == {"login": "acme"}
    assert http.request("HEAD", "/rate_limit").status_code == 200
    sent = _requests_seen(server)[0].headers
    assert sent["User-Agent"] == "annexa/0.1" and sent["Accept"] == "application/vnd.github+json"
    assert sent["X-GitHub-Api-Version"] == "2026-03-10"
    url = server.url_for("/orgs/acme")
    assert [(m, u, s) for m, u, s, _ in calls] == [
        ("GET", url, 502),
        ("GET", url, 200),
        ("HEAD", server.url_for("/rate_limit"), 200),
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


def test_client_paces_okta_when_remaining_is_low(server: HTTPServer, sleeps: Sleeps) -> None:
    reset = int(time.time()) + 30
    low = {"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(reset)}
    server.expect_oneshot_request("/api/v1/users").respond_with_json([{"id": "a"}], headers=low)
    server.expect_oneshot_request("/api/v1/users").respond_with_json([{"id": "b"}])
    with HttpClient(base_url=server.url_for(""), sleep=sleeps, pace_below=0.1) as http:
        assert http.get_json("/api/v1/users") == [{"id": "a"}]
        assert http.get_json("/api/v1/users") == [{"id": "b"}]
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31  # waited for the reset instead of taking a 429
    assert len(server.log) == 2 and all(r.status_code == 200 for _, r in server.log)


def test_google_rate_limit_403_is_retried_with_configured_floor(server: HTTPServer, sleeps: Sleeps) -> None:
    body = {"error": {"code": 403, "message": "Quota exceeded for quota group 'default'.",
                      "status": "PERMISSION_DENIED",
                      "errors": [{"message": "Quota exceeded", "domain": "usageLimits",
                                  "reason": "userRateLimitExceeded"}]}}
    server.expect_oneshot_request("/admin/directory/v1/users").respond_with_json(body, status=403)
    server.expect_oneshot_request("/admin/directory/v1/users").respond_with_json({"users": []})
    with HttpClient(base_url=server.url_for(""), sleep=sleeps, rate_limit_403_floor=1.0) as http:
        assert http.get_json("/admin/directory/v1/users") == {"users": []}
        assert http.stats.throttled == 1
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] < 2.0


def test_google_forbidden_403_is_not_retried(server: HTTPServer, client: HttpClient, sleeps: Sleeps) -> None:
    body = {"error": {"code": 403, "message": "Not Authorized to access this resource/api",
                      "status": "PERMISSION_DENIED",
                      "errors": [{"message": "Not Authorized to access this resource/api", "domain": "global",
                                  "reason": "forbidden"}]}}
    server.expect_request("/admin/directory/v1/users").respond_with_json(body, status=403)
    with pytest.raises(HttpError) as info:
        client.get_json("/admin/directory/v1/users")
    assert info.value.status == 403 and info.value.provider_code == "PERMISSION_DENIED" and sleeps == []


def test_rfc7807_problem_documents_give_message_and_code(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/problem").respond_with_json(
        {"type": "https://example.test/problems/invalid", "title": "Unprocessable Entity", "status": 422,
         "detail": "pageSize must be at most 1000.", "code": "INVALID_PAGINATION"}, status=422,
        content_type="application/problem+json")
    with pytest.raises(HttpError) as info:
        client.get_json("/problem")
    assert info.value.provider_message == "Unprocessable Entity: pageSize must be at most 1000."
    assert info.value.provider_code == "INVALID_PAGINATION"


# --- Google error reasons and library transports ------------------------------------------

GOOGLE_SERVICE_DISABLED = {
    "error": {
        "code": 403,
        "message": "Compute Engine API has not been used in project 123 before or it is disabled.",
        "status": "PERMISSION_DENIED",
        "errors": [{"message": "Compute Engine API has not been used", "domain": "usageLimits",
                    "reason": "accessNotConfigured"}],
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                     "domain": "googleapis.com", "metadata": {"service": "compute.googleapis.com"}}],
    }
}
GOOGLE_STORAGE_FORBIDDEN = {  # the older JSON APIs (Storage, Compute) send no `status`
    "error": {"code": 403, "message": "x does not have storage.buckets.list access.",
              "errors": [{"message": "x does not have storage.buckets.list access.", "domain": "global",
                          "reason": "forbidden"}]}
}


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (GOOGLE_SERVICE_DISABLED, "PERMISSION_DENIED", "SERVICE_DISABLED"),
        (GOOGLE_STORAGE_FORBIDDEN, "403", "forbidden"),
        (fx.GOOGLE_PERMISSION_DENIED, "PERMISSION_DENIED", None),
        (fx.GITHUB_NOT_FOUND, None, None),
    ],
)
def test_google_error_reason_is_kept(
    server: HTTPServer, client: HttpClient, body: dict[str, Any], code: str | None, reason: str | None
) -> None:
    server.expect_request("/compute/v1/projects/p/global/firewalls").respond_with_json(body, status=403)
    with pytest.raises(HttpError) as info:
        client.get_json("/compute/v1/projects/p/global/firewalls")
    assert (info.value.provider_code, info.value.provider_reason) == (code, reason)
    assert pickle.loads(pickle.dumps(info.value)).provider_reason == reason


def test_send_external_applies_read_only_limits_and_hook(server: HTTPServer) -> None:
    """A library's own transport goes through the same read-only check, rate limit and request hook."""
    import requests

    server.expect_request("/v3/projects/1:getIamPolicy", method="POST").respond_with_json({"version": 3})
    calls: list[tuple[str, str, int | None, float]] = []
    http = HttpClient(allow_post=[r":getIamPolicy$"], rate_limit=50.0, on_request=lambda *a: calls.append(a))
    session = requests.Session()
    url = server.url_for("/v3/projects/1:getIamPolicy")
    response = http.send_external("post", url, lambda: session.post(url, json={}))
    assert response.json() == {"version": 3}
    assert [(m, u, s) for m, u, s, _ in calls] == [("POST", url, 200)] and http.stats.requests == 1
    sent: list[int] = []
    refused = server.url_for("/v3/projects/1:setIamPolicy")
    with pytest.raises(ReadOnlyViolation):
        http.send_external("POST", refused, lambda: sent.append(1) or session.post(refused))
    assert sent == [] and len(server.log) == 1 and http.stats.requests == 1
