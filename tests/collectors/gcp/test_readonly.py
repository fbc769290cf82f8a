"""Read-only by construction: only GETs and the documented read-only POSTs leave the process; no secret
is stored, logged or shown."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from agent.fakeapi import FakeApi
from agent.fakeapi.gcp_world import GcpWorld
from agent.http import HttpClient, ReadOnlyViolation
from collectors.gcp import endpoints
from collectors.gcp.auth import TokenSource
from collectors.gcp.resourcemanager import ResourceManager
from tests.collectors.gcp import acme
from tests.collectors.gcp.conftest import TOKEN, run_gcp
from tests.support.evidence import evidence_payloads


def _client(fake: FakeApi) -> tuple[HttpClient, dict[str, str]]:
    bases = endpoints.resolve(fake.url, {})
    tokens = TokenSource(static_token=TOKEN)
    return HttpClient(auth=tokens.headers, allow_post=endpoints.allow_post(bases), max_retries=0), bases


@pytest.mark.parametrize("path", ["/v3/projects/1001:setIamPolicy", "/v2/entries:write",
                                  "/v1/projects/p/serviceAccounts/a@p.iam.gserviceaccount.com/keys",
                                  "/v2/entries:list/../entries:write", "/v3/projects/1001:getIamPolicyX"])
def test_other_posts_are_refused_before_sending(world: GcpWorld, fake: FakeApi, path: str) -> None:
    world.add_project("acme-prod", "1001")
    http, _ = _client(fake)
    with pytest.raises(ReadOnlyViolation):
        http.request("POST", fake.url + path, json={})
    assert fake.log == []


def test_read_only_posts_go_to_their_own_api_only(world: GcpWorld, fake: FakeApi) -> None:
    world.add_project("acme-prod", "1001")
    bases = endpoints.resolve(None, {"logging": fake.url})
    patterns = endpoints.allow_post(bases)
    http = HttpClient(auth=TokenSource(static_token=TOKEN).headers, allow_post=patterns)
    with pytest.raises(ReadOnlyViolation):  # getIamPolicy is allowed on Resource Manager's host, not here
        http.request("POST", fake.url + "/v3/projects/1001:getIamPolicy", json={})
    assert http.request("POST", fake.url + "/v2/entries:list", json={"resourceNames": ["projects/acme-prod"]}).ok
    assert [c.path for c in fake.log] == ["/v2/entries:list"]


def test_the_client_library_cannot_write_either(world: GcpWorld, fake: FakeApi) -> None:
    world.add_project("acme-prod", "1001")
    http, bases = _client(fake)
    rm = ResourceManager(http, bases["cloudresourcemanager"], TokenSource(static_token=TOKEN).library_credentials())
    assert rm.iam_policy("projects/1001")["version"] == 1
    with pytest.raises(ReadOnlyViolation):
        rm.projects.set_iam_policy(request={"resource": "projects/1001", "policy": {"bindings": []}})
    with pytest.raises(ReadOnlyViolation):
        rm.projects.delete_project(name="projects/1001")
    assert [(c.method, c.path) for c in fake.log] == [("POST", "/v3/projects/1001:getIamPolicy")]


def test_a_full_run_sends_only_reads_and_keeps_no_secret(world: GcpWorld, fake: FakeApi, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    acme.build(world)
    caplog.set_level(logging.DEBUG)
    run = run_gcp(tmp_path, fake, monkeypatch, extra="identity:\n  domains: [acme.example]\n")
    assert run.findings
    allowed = [re.compile(r"^/v3/(projects|folders|organizations)/[^/:]+:getIamPolicy$"),
               re.compile(r"^/v2/entries:list$")]
    for call in fake.log:
        assert call.method == "GET" or any(p.match(call.path) for p in allowed), (call.method, call.path)
    assert {c.method for c in fake.log} == {"GET", "POST"}
    stored = b"".join(evidence_payloads(tmp_path / "evidence").values())
    assert stored
    for canary in (b"secret-canary-123", b"c2VjcmV0LWtleS1jYW5hcnk=", TOKEN.encode(), b"ssh-rsa AAAA"):
        assert canary not in stored
    assert TOKEN not in caplog.text
    assert all(TOKEN not in e.message for e in run.errors)
    evidence = run.evidence("gcp.compute.instance_os_login_enabled", acme.compute_id(
        acme.PROD, "zones/europe-west1-c/instances/legacy-1"))
    keys = {i["key"]: i["value"] for i in evidence["metadata"]["items"]}
    assert keys["ssh-keys"] == {"redacted": True, "present": True, "entries": 1}
    assert keys["enable-oslogin"] == "FALSE"
