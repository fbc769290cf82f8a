"""The bamboohr source against a local BambooHR fake serving the real dataset API over HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from agent.config import load_config
from agent.fakeapi.bamboohr import BambooTenant, problem, start_bamboohr, throttled
from agent.fakeapi.server import FakeApi
from agent.http import HttpClient, ReadOnlyViolation
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, select_sources
from agent.store.store import EvidenceStore
from collectors.registry import known_resource_types
from tests.agent.identity.helpers import NOW
from tests.collectors.hr.test_hr_csv_run import okta_account
from tests.conftest import World

DATA = "/api/v2/datasets/employee/data"


@pytest.fixture
def tenant() -> BambooTenant:
    t = BambooTenant()
    t.add("1", "alice@acme.com", "Alice", "Lee", hire="2019-05-01")
    t.add("2", "carol@acme.com", "Carol", "Diaz", status="Inactive", hire="2021-03-01", termination="2026-02-13")
    t.add("3", "frank@acme.com", "Frank", "Ng", status="Inactive", hire="2026-04-01")  # a future hire
    t.add("4", None, "Warehouse", "Temp")                                              # no work e-mail
    t.add("5", "grace@acme.com", "Grace", "Kim", hire="2020-01-01", termination="2026-04-04")
    t.employees[0]["terminationDate"] = "0000-00-00"  # how BambooHR writes an empty date
    return t


@pytest.fixture
def fake(tenant: BambooTenant) -> Iterator[FakeApi]:
    api = start_bamboohr(tenant)
    yield api
    api.stop()


def run(tmp_path: Path, fake: FakeApi, monkeypatch: pytest.MonkeyPatch, *, key: str = "bamboo-test-key",
        extra: str = "", world: World | None = None) -> tuple[Any, dict[tuple[str, str], dict[str, Any]]]:
    monkeypatch.setenv("BAMBOO_KEY", key)
    idp = f"  - name: idp\n    type: testkit\n    world: {world.path}\n" if world else ""
    path = tmp_path / "annexa.yaml"
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'a.db'}\n  evidence: {tmp_path / 'ev'}\n"
                    f"sources:\n  - name: bamboo\n    type: bamboohr\n    subdomain: acme\n"
                    f"    endpoint: {fake.url}\n    token_env: BAMBOO_KEY\n{extra}{idp}")
    config = load_config(path)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = [r for r in load_rules(known_types=set(known_resource_types())) if r.provider == "identity"]
    result = Runner(config, store, RuleSet(rules, now=NOW)).run(select_sources(config, None, None))
    found = {(f["rule_id"], f["resource_id"]): f for f in store.current_findings()}
    return result, found


def origin(fake: FakeApi, anchor: str) -> str:
    return f"{fake.url}{DATA}#{anchor}"


def test_pages_through_the_dataset_with_basic_auth(tmp_path: Path, fake: FakeApi,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    result, found = run(tmp_path, fake, monkeypatch, extra="    page_size: 2\n")
    assert result.status == "complete"
    calls = fake.calls("POST", DATA)
    assert len(calls) == 3  # 5 employees, 2 per page
    auth = calls[0].headers["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == "bamboo-test-key:x"
    usable = "identity.hr_record_usable"
    for anchor in ("alice@acme.com", "carol@acme.com", "frank@acme.com", "grace@acme.com"):
        assert found[(usable, origin(fake, anchor))]["status"] == "pass"
    missing = found[(usable, origin(fake, "employee-4"))]
    assert missing["status"] == "error" and "BambooHR employee 4: no work e-mail" in missing["message"]


def test_the_fake_pages_by_body_fields_like_the_real_api(tenant: BambooTenant, fake: FakeApi) -> None:
    key = base64.b64encode(b"bamboo-test-key:x").decode()
    body = requests.post(f"{fake.url}{DATA}", json={"fields": ["email", "status"], "page": 2, "pageSize": 2},
                         headers={"Authorization": f"Basic {key}"}, timeout=5).json()
    assert body["meta"] == {"page": 2, "pageSize": 2, "totalPages": 3, "totalItems": 5}
    assert body["data"][0] == {"fields": {"email": "frank@acme.com", "status": "Inactive"}}
    assert set(body["links"]) == {"next", "prev"}
    bad = requests.post(f"{fake.url}{DATA}", json={"fields": ["email"], "pageSize": 5000},
                        headers={"Authorization": f"Basic {key}"}, timeout=5)
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"


def test_leavers_future_hires_and_notice_from_bamboohr(tmp_path: Path, fake: FakeApi,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(tmp_path / "idp.json")
    carol, frank, grace = (okta_account(world, "carol@acme.com"), okta_account(world, "frank@acme.com"),
                           okta_account(world, "grace@acme.com"))
    _, found = run(tmp_path, fake, monkeypatch, world=world)
    leaver = "identity.leaver_accounts_disabled"
    assert found[(leaver, carol)]["status"] == "fail" and "left 30 days ago" in found[(leaver, carol)]["message"]
    assert found[(leaver, frank)]["status"] == "pass" and "joins on 2026-04-01" in found[(leaver, frank)]["message"]
    assert found[(leaver, grace)]["status"] == "pass" and "serving notice" in found[(leaver, grace)]["message"]
    # an employee without a work e-mail cannot be ruled out as the owner of an unmatched account
    stranger = okta_account(world, "mallory@contractor.example")
    again = tmp_path / "again"
    again.mkdir()
    _, found = run(again, fake, monkeypatch, world=world)
    assert found[("identity.orphan_accounts", stranger)]["status"] == "error"


def test_throttling_503_with_retry_after_is_retried(tmp_path: Path, fake: FakeApi,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake.fail(DATA, lambda request: throttled(1, request), times=1, method="POST")
    result, found = run(tmp_path, fake, monkeypatch)
    assert result.status == "complete"
    assert [c.status for c in fake.calls("POST", DATA)] == [503, 200]
    assert found[("identity.hr_record_usable", origin(fake, "alice@acme.com"))]["status"] == "pass"


def test_bad_key_is_a_denied_collection_error_and_rules_say_error(tmp_path: Path, fake: FakeApi,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(tmp_path / "idp.json")
    okta_account(world, "carol@acme.com")
    result, found = run(tmp_path, fake, monkeypatch, key="wrong", world=world)
    assert result.status == "partial"
    [error] = result.sources["bamboo"].errors
    assert error.resource_type == "hr.person" and error.message.startswith("denied: ")
    assert "401" in error.message and "The API key is missing or invalid" in error.message
    statuses = {rule: f["status"] for (rule, _), f in found.items() if f["source"] == "bamboo"}
    assert statuses["identity.leaver_accounts_disabled"] == "error"  # never a pass on missing HR data
    assert not any(rule == "identity.leaver_accounts_disabled" and f["status"] == "pass" for (rule, _), f in
                   found.items())


def test_unknown_field_is_not_enabled(tmp_path: Path, fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = run(tmp_path, fake, monkeypatch, extra="    fields: {department: customTeam}\n")
    [error] = result.sources["bamboo"].errors
    assert error.message.startswith("not_enabled: ") and "customTeam" in error.message


def test_missing_token_is_denied_without_calling(tmp_path: Path, fake: FakeApi,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = run(tmp_path, fake, monkeypatch, key="")
    assert result.sources["bamboo"].errors[0].message.startswith("denied: no API key")
    assert fake.calls() == []


def test_only_the_dataset_read_may_be_posted(fake: FakeApi) -> None:
    url = f"{fake.url}{DATA}"
    client = HttpClient(base_url=fake.url, allow_post=[f"^{url.replace('.', chr(92) + '.')}$"])
    with pytest.raises(ReadOnlyViolation):
        client.request("POST", "/api/v1/employees", json={"firstName": "Eve"})
    with pytest.raises(ReadOnlyViolation):
        client.request("POST", "/api/v2/datasets/employee/data/../../v1/employees/1")
    assert fake.calls() == []


def test_problem_documents_are_read_by_the_shared_client() -> None:
    from agent.httpclient.errors import parse_provider_error

    reply = problem(422, "Unprocessable Entity", "pageSize must be at most 1000.", "INVALID_PAGINATION")
    assert parse_provider_error(reply.payload().decode()) == (
        "Unprocessable Entity: pageSize must be at most 1000.", "INVALID_PAGINATION")
