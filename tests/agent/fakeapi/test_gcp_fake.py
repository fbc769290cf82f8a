"""The GCP fake answers like Google: authentication, enum encoding, policy versions, filters, paging tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from agent.fakeapi import FakeApi
from agent.fakeapi import gcp as fake_gcp
from agent.fakeapi.gcp_logfilter import FilterError, matches, parse_filter
from agent.fakeapi.gcp_world import GcpWorld, binding, policy
from agent.fakeapi.paging import offset_token, token_offset

AUTH = {"Authorization": "Bearer t"}


@pytest.fixture
def served() -> Iterator[tuple[GcpWorld, FakeApi]]:
    world = GcpWorld()
    world.tokens.add("t")
    project = world.add_project("acme-prod", "1001")
    project.iam = policy([binding("roles/owner", "user:a@acme.example", condition={"title": "t", "expression": "x"})])
    fake = fake_gcp.start(world)
    yield world, fake
    fake.stop()


def test_requests_without_a_known_token_are_unauthenticated(served: tuple[GcpWorld, FakeApi]) -> None:
    _, fake = served
    reply = requests.get(f"{fake.url}/v3/projects:search", timeout=5)
    assert reply.status_code == 401 and reply.json()["error"]["status"] == "UNAUTHENTICATED"


def test_resource_manager_enum_encoding_and_policy_versions(served: tuple[GcpWorld, FakeApi]) -> None:
    _, fake = served
    plain = requests.get(f"{fake.url}/v3/projects/acme-prod", headers=AUTH, timeout=5).json()
    numeric = requests.get(f"{fake.url}/v3/projects/1001", params={"$alt": "json;enum-encoding=int"},
                           headers=AUTH, timeout=5).json()
    assert (plain["state"], numeric["state"]) == ("ACTIVE", 1)
    v1 = requests.post(f"{fake.url}/v3/projects/1001:getIamPolicy", json={}, headers=AUTH, timeout=5).json()
    v3 = requests.post(f"{fake.url}/v3/projects/1001:getIamPolicy", json={"options": {"requestedPolicyVersion": 3}},
                       headers=AUTH, timeout=5).json()
    assert v1["version"] == 1 and v1["bindings"][0]["role"].startswith("roles/owner_withcond_")
    assert v3["version"] == 3 and v3["bindings"][0]["condition"]["title"] == "t"


def test_disabled_api_answers_service_disabled(served: tuple[GcpWorld, FakeApi]) -> None:
    world, fake = served
    world.projects[0].disabled_apis.add("sqladmin.googleapis.com")
    body = requests.get(f"{fake.url}/v1/projects/acme-prod/instances", headers=AUTH, timeout=5).json()["error"]
    assert body["code"] == 403 and body["errors"][0]["reason"] == "accessNotConfigured"
    assert body["details"][0]["reason"] == "SERVICE_DISABLED"


def test_entries_list_filters_and_rejects_what_it_cannot_parse(served: tuple[GcpWorld, FakeApi]) -> None:
    _, fake = served
    bad = requests.post(f"{fake.url}/v2/entries:list", json={"resourceNames": ["projects/acme-prod"],
                                                             "filter": "timestamp > yesterday"},
                        headers=AUTH, timeout=5)
    assert bad.status_code == 400 and "Unparseable filter" in bad.json()["error"]["message"]
    missing = requests.post(f"{fake.url}/v2/entries:list", json={}, headers=AUTH, timeout=5)
    assert missing.status_code == 400


def test_log_filter_subset() -> None:
    entry = {"timestamp": "2026-01-02T03:04:05.123Z", "protoPayload": {"methodName": "google.iam.v1.SetIamPolicy"}}
    assert matches(entry, parse_filter('timestamp>="2026-01-02T00:00:00Z" AND protoPayload.methodName:'
                                       '("setiampolicy" OR "CreateSink")'))
    assert not matches(entry, parse_filter('timestamp<"2026-01-02T00:00:00Z"'))
    assert not matches(entry, parse_filter('protoPayload.methodName="SetIamPolicy"'))
    for text in ('methodName:(a OR "b")', '"unbalanced', "a AND"):
        with pytest.raises(FilterError):
            parse_filter(text)


def test_public_page_token_helpers_round_trip() -> None:
    assert token_offset(offset_token(42)) == 42
    assert token_offset(None) is None and token_offset("not-ours!") == -1
