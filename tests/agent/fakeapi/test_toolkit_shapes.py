"""The toolkit's raw capabilities and builders, checked on the wire: repeated headers, slow answers,
pages emptied by per-item filtering, body cursors, and the provider error shapes."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
import requests

from agent.fakeapi import FakeApi, Reply
from agent.fakeapi import errors as fe
from agent.fakeapi.paging import body_cursor_page, cursor_link_page, link_page, next_link_page, offset_token

ITEMS = [{"id": f"u{i}", "hidden": i in (2, 3)} for i in range(6)]


def _shown(item: dict[str, object]) -> bool:
    return not item["hidden"]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi("toolkit") as fake:
        yield fake


def _raw_get(api: FakeApi, path: str) -> http.client.HTTPResponse:
    parts = urlsplit(api.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_repeated_headers_go_out_as_separate_lines(api: FakeApi) -> None:
    api.add("GET", "/api/v1/users", lambda r: cursor_link_page(r, ITEMS, default=2, separate_links=True))
    api.add("GET", "/joined", lambda r: cursor_link_page(r, ITEMS, default=2))
    lines = _raw_get(api, "/api/v1/users").msg.get_all("Link")
    assert lines is not None and len(lines) == 2
    assert lines[0].endswith('rel="self"') and lines[1].endswith('rel="next"') and "after=u1" in lines[1]
    joined = _raw_get(api, "/joined").msg.get_all("Link")
    assert joined is not None and len(joined) == 1 and 'rel="self", <' in joined[0]


def test_delayed_reply_is_in_flight_and_a_client_hang_up_is_quiet(
    api: FakeApi, capfd: pytest.CaptureFixture[str]
) -> None:
    api.fail("^/slow$", Reply(200, {"late": True}, delay=0.4))
    api.add("GET", "/slow", lambda r: Reply(200, {"late": False}))
    began = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{api.url}/slow", timeout=(2, 0.1))
    assert time.monotonic() - began < 0.35 and api.in_flight == 1
    time.sleep(0.6)  # the server writes into the closed connection meanwhile
    assert api.in_flight == 0 and api.max_in_flight == 1
    assert requests.get(f"{api.url}/slow", timeout=5).json() == {"late": False}
    assert "Traceback" not in capfd.readouterr().err


def test_logged_header_ignores_case(api: FakeApi) -> None:
    api.add("GET", "/x", lambda r: Reply(200, {}))
    requests.get(f"{api.url}/x", headers={"X-GitHub-Api-Version": "2022-11-28"}, timeout=5)
    assert api.log[0].header("x-github-api-version") == "2022-11-28" and api.log[0].header("nope") is None


def test_visible_empties_a_page_without_ending_the_listing(api: FakeApi) -> None:
    api.add("GET", "/orgs/{org}/members", lambda r: link_page(
        r, ITEMS, default=2, link_path="/organizations/1/members", visible=_shown))
    api.add("GET", "/subs", lambda r: next_link_page(r, ITEMS, page_size=2, visible=_shown))
    second = requests.get(f"{api.url}/orgs/acme/members", params={"page": 2}, timeout=5)
    assert second.json() == [] and second.links["next"]["url"].endswith("/organizations/1/members?per_page=2&page=3")
    arm = requests.get(f"{api.url}/subs", params={"$skiptoken": offset_token(2)}, timeout=5).json()
    assert arm["value"] == [] and offset_token(4) in arm["nextLink"]


def test_link_page_wrapped_like_github_search(api: FakeApi) -> None:
    api.add("GET", "/search/repositories", lambda r: link_page(
        r, ITEMS, default=4, items_key="items", extra={"total_count": 6, "incomplete_results": False}))
    body = requests.get(f"{api.url}/search/repositories", params={"q": "org:acme"}, timeout=5).json()
    assert body["total_count"] == 6 and body["incomplete_results"] is False and len(body["items"]) == 4


def test_body_cursor_slack_and_json_api(api: FakeApi) -> None:
    api.add("GET", "/api/users.list", lambda r: body_cursor_page(r, ITEMS, items_key="members", default=4,
                                                                 extra={"ok": True}))
    api.add("GET", "/v2/items", lambda r: body_cursor_page(
        r, ITEMS, items_key="data", default=4, cursor_param="page[after]", cursor_path="links.next", next_as_url=True))
    first = requests.get(f"{api.url}/api/users.list", timeout=5).json()
    assert first["ok"] is True and first["response_metadata"] == {"next_cursor": offset_token(4)}
    last = requests.get(f"{api.url}/api/users.list", params={"cursor": first["response_metadata"]["next_cursor"]},
                        timeout=5).json()
    assert [m["id"] for m in last["members"]] == ["u4", "u5"] and last["response_metadata"]["next_cursor"] == ""
    bad = requests.get(f"{api.url}/api/users.list", params={"cursor": "garbage!"}, timeout=5)
    assert bad.status_code == 400 and bad.json() == {"ok": False, "error": "invalid_cursor"}
    page = requests.get(f"{api.url}/v2/items", params={"filter": "x"}, timeout=5).json()
    assert page["links"]["next"].startswith("/v2/items?filter=x&page%5Bafter%5D=")  # a relative reference
    end = requests.get(f"{api.url}{page['links']['next']}", timeout=5).json()
    assert len(end["data"]) == 2 and end["links"] == {}


def test_throttling_builders(api: FakeApi) -> None:
    dated = fe.too_many_requests("", seconds=30, http_date=True)
    assert dated.status == 429 and dated.payload() == b""
    assert 29 <= parsedate_to_datetime(dated.headers["Retry-After"]).timestamp() - time.time() <= 30
    assert "Retry-After" not in fe.too_many_requests(seconds=None).headers
    assert fe.too_many_requests(seconds=2.1).headers["Retry-After"] == "3"
    secondary = fe.github_secondary_rate_limited(None, retry_after_s=60, headers={"x-ratelimit-remaining": "4987"})
    assert secondary.headers == {"Retry-After": "60", "x-ratelimit-remaining": "4987"}
    assert "secondary rate limit" in secondary.body["message"]
    api.add("GET", "/api/v1/groups", lambda r: Reply(200, []))
    api.rate_limit(2, 60.0, fe.okta_rate_limited, headers=fe.okta_rate_headers)
    answers = [requests.get(f"{api.url}/api/v1/groups", timeout=5) for _ in range(3)]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers[:2]] == ["1", "0"]
    assert answers[2].status_code == 429 and answers[2].json()["errorCode"] == "E0000047"
    assert int(answers[0].headers["X-Rate-Limit-Reset"]) >= int(time.time())


def test_error_builders_match_the_documented_shapes() -> None:
    entra = fe.entra_token_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
    body = entra.body
    assert entra.status == 401 and body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: ")
    assert f"Correlation ID: {body['correlation_id']}" in body["error_description"]
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
                         "error_uri"}
    storage = fe.google_json_api_error(403, "x does not have storage.buckets.list access.", reason="forbidden")
    assert storage.body == {"error": {"code": 403, "message": "x does not have storage.buckets.list access.",
                                      "errors": [{"message": "x does not have storage.buckets.list access.",
                                                  "domain": "global", "reason": "forbidden"}]}}
