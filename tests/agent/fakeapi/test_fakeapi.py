"""The fake-API toolkit, driven by the real shared HTTP client: every paging style, faults, limits, TLS."""

from __future__ import annotations

import ssl
import threading
import time

import pytest
import requests

from agent.fakeapi import FakeApi, Reply
from agent.fakeapi import errors as fe
from agent.fakeapi.paging import cursor_link_page, link_page, next_link_page, page_token_page
from agent.http import HttpClient, HttpError

ITEMS = [{"id": f"u{i:03d}", "n": i} for i in range(23)]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def api() -> FakeApi:
    fake = FakeApi("test")
    fake.add("GET", "/orgs/{org}/repos", lambda r: link_page(r, ITEMS, default=10, maximum=10))
    fake.add("GET", "/api/v1/users", lambda r: cursor_link_page(r, ITEMS, default=5, maximum=200))
    fake.add("GET", "/subscriptions", lambda r: next_link_page(r, ITEMS, page_size=7))
    fake.add("GET", "/v1.0/users", lambda r: next_link_page(r, ITEMS, page_size=999, link_key="@odata.nextLink"))
    fake.add("GET", "/admin/directory/v1/users",
             lambda r: page_token_page(r, ITEMS, items_key="users", default=100, maximum=500))
    fake.add("GET", "/files/{rest:path}", lambda r: Reply(200, {"rest": r.params["rest"]}))
    fake.add("GET", "/etag", lambda r: Reply(200, {"same": True}, etag=True))
    with fake:
        yield fake


def client(api: FakeApi, **kw: object) -> HttpClient:
    return HttpClient(base_url=api.url, sleep=kw.pop("sleep", Sleeps()), **kw)  # type: ignore[arg-type]


def test_github_link_paging_walks_every_page(api: FakeApi) -> None:
    got = list(client(api).paginate("/orgs/acme/repos", style="link", page_size=("per_page", 100)))
    assert [i["n"] for i in got] == list(range(23))
    pages = api.calls(path="/orgs/acme/repos")
    assert len(pages) == 3  # per_page capped at the maximum (10), as GitHub caps at 100
    assert pages[1].query["page"] == ["2"] and pages[1].query["per_page"] == ["10"]


def test_okta_cursor_paging_and_limit(api: FakeApi) -> None:
    got = list(client(api).paginate("/api/v1/users", style="link", page_size=("limit", 10)))
    assert len(got) == 23
    calls = api.calls(path="/api/v1/users")
    assert [c.query.get("after") for c in calls] == [None, ["u009"], ["u019"]]


def test_arm_and_graph_next_links(api: FakeApi) -> None:
    assert len(list(client(api).paginate("/subscriptions", params={"api-version": "2022-12-01"},
                                         style="next_link"))) == 23
    follow = api.calls(path="/subscriptions")[1]
    assert follow.query["api-version"] == ["2022-12-01"] and "$skiptoken" in follow.query
    assert len(list(client(api).paginate("/v1.0/users", params={"$top": 5}, style="next_link"))) == 23
    assert len(api.calls(path="/v1.0/users")) == 5


def test_google_page_tokens_and_bad_token(api: FakeApi) -> None:
    got = list(client(api).paginate("/admin/directory/v1/users", params={"customer": "my_customer"},
                                     style="page_token", items="users", page_size=("maxResults", 10)))
    assert len(got) == 23
    with pytest.raises(HttpError) as err:
        client(api, max_retries=0).get_json("/admin/directory/v1/users", params={"pageToken": "garbage!"})
    assert err.value.status == 400


def test_faults_429_with_retry_after_then_success(api: FakeApi) -> None:
    api.fail(r"^/subscriptions$", fe.arm_throttled(3, None), times=2)  # type: ignore[arg-type]
    sleeps = Sleeps()
    body = client(api, sleep=sleeps).get_json("/subscriptions")
    assert len(body["value"]) == 7
    assert sleeps == [3.0, 3.0]
    assert [c.status for c in api.calls(path="^/subscriptions$")] == [429, 429, 200]


def test_rate_limit_window_answers_with_provider_reply(api: FakeApi) -> None:
    limiter = api.rate_limit(2, 60.0, fe.okta_rate_limited)
    c = client(api, max_retries=0)
    c.get_json("/etag")
    c.get_json("/etag")
    with pytest.raises(HttpError) as err:
        c.get_json("/etag")
    assert err.value.status == 429 and err.value.provider_code == "E0000047"
    assert limiter.remaining()[0] == 0


def test_rate_limit_headers_and_free_304s(api: FakeApi) -> None:
    """GitHub reports its budget on every answer and does not charge a 304 Not Modified."""
    limiter = api.rate_limit(3, 60.0, fe.github_rate_limited, headers=fe.github_rate_headers, free_statuses=(304,))
    first = requests.get(f"{api.url}/etag", timeout=5)
    assert first.headers["x-ratelimit-remaining"] == "2" and first.headers["x-ratelimit-limit"] == "3"
    assert int(first.headers["x-ratelimit-reset"]) >= int(time.time())
    tag = first.headers["ETag"]
    for _ in range(4):  # four 304s cost nothing
        again = requests.get(f"{api.url}/etag", headers={"If-None-Match": f'W/{tag}'}, timeout=5)
        assert again.status_code == 304 and again.headers["x-ratelimit-remaining"] == "2"
    requests.get(f"{api.url}/etag", timeout=5)
    requests.get(f"{api.url}/etag", timeout=5)
    refused = requests.get(f"{api.url}/etag", timeout=5)
    assert refused.status_code == 403 and refused.headers["x-ratelimit-remaining"] == "0"
    assert "rate limit exceeded" in refused.json()["message"] and limiter.refused == 1


def test_conditional_requests_get_304(api: FakeApi) -> None:
    first = requests.get(f"{api.url}/etag", timeout=5)
    again = requests.get(f"{api.url}/etag", headers={"If-None-Match": first.headers["ETag"]}, timeout=5)
    assert (first.status_code, again.status_code, again.content) == (200, 304, b"")


def test_routes_params_405_and_provider_404(api: FakeApi) -> None:
    assert requests.get(f"{api.url}/files/a/b/c.txt", timeout=5).json() == {"rest": "a/b/c.txt"}
    assert requests.post(f"{api.url}/etag", timeout=5).status_code == 405
    assert requests.get(f"{api.url}/nowhere", timeout=5).status_code == 404


def test_latency_is_concurrent() -> None:
    fake = FakeApi("slow", latency=0.3)
    fake.add("GET", "/x", lambda r: Reply(200, {}))
    with fake:
        began = time.monotonic()
        threads = [threading.Thread(target=requests.get, args=(f"{fake.url}/x",), kwargs={"timeout": 5})
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert time.monotonic() - began < 1.5
        assert fake.max_in_flight >= 4


def test_tls_with_a_private_ca(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    fake = FakeApi("tls", tls=ctx)
    fake.add("GET", "/ok", lambda r: Reply(200, {"ok": True}))
    with fake, ca.cert_pem.tempfile() as ca_file:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
        assert fake.url.startswith("https://")
        assert HttpClient(base_url=fake.url).get_json("/ok") == {"ok": True}


def test_error_bodies_are_parsed_by_the_client(api: FakeApi) -> None:
    api.fail("^/etag$", fe.google_service_disabled("compute.googleapis.com", "123"))
    with pytest.raises(HttpError) as err:
        client(api, max_retries=0).get_json("/etag")
    assert err.value.status == 403 and "has not been used in project 123" in str(err.value)
    api.fail("^/etag$", fe.graph_error(403, "Authorization_RequestDenied", "Insufficient privileges."))
    with pytest.raises(HttpError) as err:
        client(api, max_retries=0).get_json("/etag")
    assert err.value.provider_code == "Authorization_RequestDenied"
