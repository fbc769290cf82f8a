"""The Okta and Workspace fakes answer like the real APIs where the collectors do not look closely."""

from __future__ import annotations

import requests

from agent.fakeapi.google_workspace import READ_SCOPES, WorkspaceTenant
from agent.fakeapi.google_workspace import serve as serve_workspace
from agent.fakeapi.okta import OktaTenant
from agent.fakeapi.okta import serve as serve_okta

SSWS = {"Authorization": "SSWS test-okta-token"}


def test_okta_users_listing_rules() -> None:
    t = OktaTenant()
    t.add_user("alice@acme.example")
    t.add_user("heidi@acme.example", status="DEPROVISIONED")
    with serve_okta(t) as api:
        def logins(**params: str) -> list[str]:
            reply = requests.get(f"{api.url}/api/v1/users", params=params, headers=SSWS, timeout=5)
            assert reply.status_code == 200, reply.text
            return [u["profile"]["login"] for u in reply.json()]

        assert logins() == ["alice@acme.example"]                       # the default list omits them
        assert logins(q="heidi") == []                                  # so does q
        assert logins(filter='status eq "DEPROVISIONED"') == ["heidi@acme.example"]
        assert sorted(logins(search='status sw "DE" or status eq "ACTIVE"')) == ["alice@acme.example",
                                                                                 "heidi@acme.example"]
        bad = requests.get(f"{api.url}/api/v1/users", params={"filter": 'profile.login sw "a"'}, headers=SSWS,
                           timeout=5)
        assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000031"  # filter only allows eq
        reply = requests.get(f"{api.url}/api/v1/users", headers=SSWS, timeout=5)
        assert {"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} <= set(reply.headers)
        user = reply.json()[0]
        assert user["_links"]["self"]["href"] == f"{api.url}/api/v1/users/{user['id']}"
        assert user["credentials"]["provider"] == {"type": "OKTA", "name": "OKTA"}
        missing = requests.get(f"{api.url}/api/v1/users/00unknown/factors", headers=SSWS, timeout=5)
        assert missing.status_code == 404 and missing.json()["errorCode"] == "E0000007"
        policies = requests.get(f"{api.url}/api/v1/policies", headers=SSWS, timeout=5)
        assert policies.status_code == 400 and policies.json()["errorCode"] == "E0000001"  # `type` is required


def test_okta_polling_log_query_always_offers_a_next_link() -> None:
    t = OktaTenant()
    with serve_okta(t) as api:
        polling = requests.get(f"{api.url}/api/v1/logs", params={"since": "2020-01-01T00:00:00Z"}, headers=SSWS,
                               timeout=5)
        assert polling.status_code == 400  # more than 180 days ago
        polling = requests.get(f"{api.url}/api/v1/logs", headers=SSWS, timeout=5)
        assert 'rel="next"' in polling.headers["Link"]
        bounded = requests.get(f"{api.url}/api/v1/logs", params={"until": "2099-01-01T00:00:00Z"}, headers=SSWS,
                               timeout=5)
        assert 'rel="next"' not in bounded.headers["Link"]


def test_workspace_errors_and_token_endpoint() -> None:
    t = WorkspaceTenant(static_tokens={"good": READ_SCOPES})
    t.add_user("alice@acme.example", super_admin=True)
    with serve_workspace(t) as api:
        headers = {"Authorization": "Bearer good"}
        missing = requests.get(f"{api.url}/admin/directory/v1/users", headers=headers, timeout=5)
        assert missing.status_code == 400 and missing.json()["error"]["errors"][0]["reason"] == "badRequest"
        ok = requests.get(f"{api.url}/admin/directory/v1/users", params={"customer": "my_customer"},
                          headers=headers, timeout=5).json()
        assert ok["kind"] == "admin#directory#users" and ok["users"][0]["kind"] == "admin#directory#user"
        assert ok["users"][0]["etag"].startswith('"') and "nextPageToken" not in ok
        anon = requests.get(f"{api.url}/admin/directory/v1/users", params={"customer": "my_customer"}, timeout=5)
        assert anon.status_code == 401 and anon.json()["error"]["status"] == "UNAUTHENTICATED"
        grant = requests.post(f"{api.url}/token", data={"grant_type": "client_credentials"}, timeout=5)
        assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
        bogus = requests.post(f"{api.url}/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "not.a.jwt"}, timeout=5)
        assert bogus.status_code == 400 and bogus.json()["error"] == "invalid_grant"
        app = requests.get(f"{api.url}/admin/reports/v1/activity/users/all/applications/nope", headers=headers,
                           timeout=5)
        assert app.status_code == 400
