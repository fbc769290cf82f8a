"""ARM and Graph over the shared client against the fake: paging, throttling, pacing, read-only, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.fakeapi import FakeApi, Reply
from agent.fakeapi.azure import AzureTenant, acme
from agent.fakeapi.errors import arm_error, arm_throttled, graph_error, graph_throttled
from agent.http import HttpClient, ReadOnlyViolation
from collectors.azure import AzureCollector
from collectors.azure.api import AzureApi, ReadPacer, build_api, is_read_only_batch
from collectors.azure.versions import api_version
from tests.collectors.azure.conftest import TOKEN, run_azure

STORAGE_LIST = rf"^/subscriptions/{acme.PROD}/providers/Microsoft\.Storage/storageAccounts$"


def api_for(fake: FakeApi) -> AzureApi:
    """The collector's own API layer, built as the collector builds it."""
    return build_api(lambda **kw: HttpClient(**kw), arm_endpoint=fake.url, graph_endpoint=fake.url,
                     arm_auth=lambda: {"Authorization": f"Bearer {TOKEN}"},
                     graph_auth=lambda: {"Authorization": f"Bearer {TOKEN}"})


def test_pinned_api_versions() -> None:
    assert api_version("/subscriptions") == "2022-12-01"
    assert api_version("/subscriptions/x/providers/Microsoft.Compute/disks") == "2024-03-02"
    assert api_version("/subscriptions/x/providers/Microsoft.Compute/virtualMachines") == "2024-07-01"
    assert api_version("/subscriptions/x/resourceGroups/r/providers/Microsoft.Sql/servers/s/databases/d/"
                       "transparentDataEncryption/current") == "2021-11-01"
    assert api_version("/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a/providers/"
                       "Microsoft.Authorization/roleAssignments") == "2022-04-01"
    with pytest.raises(KeyError):
        api_version("/subscriptions/x/providers/Microsoft.Unknown/things")


def test_multi_page_results_follow_next_links(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                              tmp_path: Path) -> None:
    fake, tenant, ids = acme_world
    tenant.arm_page_size = 1
    tenant.graph_page_cap = 2
    tenant.activity_page_size = 1
    run = run_azure(tmp_path, fake)
    assert run.errors == []
    paged = [c for c in fake.log if "$skiptoken" in c.query]
    assert any(c.path.startswith("/v1.0/users") for c in paged)
    assert any("eventtypes" in c.path for c in paged)
    assert any(c.path.endswith("/pricings") for c in paged) and any(c.path.endswith("/secrets") for c in paged)
    assert len(run.by_rule("azure.security.defender_plan_enabled")) == 9 * 3  # nine judged plans, every page
    users = [f for f in run.findings if f["rule_id"] == "azure.entra.user_mfa_registered"]
    assert len(users) == 5  # every member user of the cast, across three pages of two
    assert run.status("azure.activitylog.privileged_role_grants_reviewed", ids[f"activity_{acme.DEV}"]) == "fail"
    # the api-version travels on every first request; next links carry their own query
    assert all(c.query.get("api-version") for c in fake.log if c.path.startswith("/subscriptions"))


def test_429_with_retry_after_is_waited_out(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                            tmp_path: Path) -> None:
    fake, _tenant, ids = acme_world
    fake.fail(STORAGE_LIST, lambda r: arm_throttled(1, r), times=1)
    fake.fail(r"^/v1\.0/users$", lambda r: graph_throttled(1, r), times=1)
    run = run_azure(tmp_path, fake)
    assert run.errors == []
    calls = fake.calls("GET", STORAGE_LIST)
    assert [c.status for c in calls] == [429, 200] and calls[1].at - calls[0].at >= 0.9
    assert [c.status for c in fake.calls("GET", r"^/v1\.0/users$")] == [429, 200]
    assert run.status("azure.storage.https_only", ids["storage_good"]) == "pass"


def test_throttling_that_never_ends_is_an_error_with_its_reason(
        acme_world: tuple[FakeApi, AzureTenant, dict[str, str]], tmp_path: Path) -> None:
    fake, _tenant, ids = acme_world
    fake.fail(STORAGE_LIST, lambda r: arm_throttled(500, r), times=100)  # longer than max_retry_after
    run = run_azure(tmp_path, fake)
    errors = [e for e in run.errors if e.resource_type == "azure.storage.account"]
    assert errors and errors[0].message.startswith("throttled: TooManyRequests") and errors[0].account == acme.PROD
    assert all(f["status"] == "error" for f in run.findings
               if f["rule_id"] == "azure.storage.https_only" and acme.PROD in f["resource_id"])
    assert run.status("azure.storage.https_only", ids["storage_bad"]) == "fail"  # the other subscription is read


def test_reads_slow_down_when_arm_says_few_are_left(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                   tmp_path: Path) -> None:
    """A small bucket refilled at ARM's rate: pacing on x-ms-ratelimit-remaining-subscription-reads keeps
    the run clear of 429s."""
    fake, tenant, _ids = acme_world
    tenant.read_capacity = 30
    run = run_azure(tmp_path, fake, "    max_workers: 16\n")
    assert run.errors == []
    assert [c for c in fake.log if c.status == 429] == []
    assert AzureCollector.last_api is not None and AzureCollector.last_api.pacer.waited > 0


def test_read_pacer_spaces_requests_only_when_low() -> None:
    slept: list[float] = []
    pacer = ReadPacer(sleep=slept.append, low=10, refill=20.0)
    pacer.after("sub", {"x-ms-ratelimit-remaining-subscription-reads": "200"})
    pacer.before("sub")
    pacer.before("sub")
    assert slept == []
    pacer.after("sub", {"x-ms-ratelimit-remaining-subscription-reads": "3"})
    for _ in range(4):
        pacer.before("sub")
    assert len(slept) == 3 and all(0.03 < s <= 0.21 for s in slept)  # 1/20 s apart, the first one free
    pacer.before("other")
    assert len(slept) == 3  # another subscription is not slowed
    pacer.after("tenant", {"x-ms-ratelimit-remaining-tenant-reads": "0"})
    pacer.before("tenant")
    pacer.before("tenant")
    assert slept[-1] == pytest.approx(0.1, abs=0.02)  # none left: twice the spacing


def test_writes_and_secret_returning_actions_are_refused_before_sending(
        acme_world: tuple[FakeApi, AzureTenant, dict[str, str]]) -> None:
    fake, _tenant, ids = acme_world
    api = api_for(fake)
    fake.reset_log()
    for method, url in (("POST", f"{ids['storage_good']}/listKeys?api-version=2023-05-01"),
                        ("POST", f"{ids['web_good']}/config/publishingcredentials/list?api-version=2023-12-01"),
                        ("PUT", f"{ids['kv_good']}?api-version=2023-07-01"),
                        ("DELETE", f"{ids['vm_good']}?api-version=2024-07-01")):
        with pytest.raises(ReadOnlyViolation):
            api.arm.request(method, url)
    for method in ("PATCH", "DELETE", "POST"):
        with pytest.raises(ReadOnlyViolation):
            api.graph.request(method, "/users/x", json={"accountEnabled": False})
    with pytest.raises(ReadOnlyViolation):
        api.graph.request("POST", "/$batch", json={"requests": [
            {"id": "1", "method": "GET", "url": "/users"},
            {"id": "2", "method": "PATCH", "url": "/users/x", "body": {"accountEnabled": False}}]})
    assert fake.log == []
    assert api.graph_batch(["/organization", "/policies/authorizationPolicy"])[1]["id"] == "authorizationPolicy"
    assert [c.method for c in fake.log] == ["POST"] and fake.log[0].path == "/v1.0/$batch"


def test_batch_body_check() -> None:
    assert is_read_only_batch({"requests": [{"id": "1", "method": "GET", "url": "/users"}]})
    assert not is_read_only_batch({"requests": [{"id": "1", "method": "get", "url": "/u", "body": {}}]})
    assert not is_read_only_batch({"requests": [{"id": str(i), "method": "GET", "url": "/u"} for i in range(21)]})
    assert not is_read_only_batch({"requests": []}) and not is_read_only_batch([])


def test_a_throttled_request_inside_a_batch_is_asked_again_alone(
        acme_world: tuple[FakeApi, AzureTenant, dict[str, str]]) -> None:
    fake, _tenant, _ids = acme_world
    api = api_for(fake)
    fake.fail(r"^/v1\.0/organization$", lambda r: graph_throttled(1, r), times=1)
    org, policy = api.graph_batch(["/organization", "/policies/authorizationPolicy"])
    assert org["value"][0]["id"] == acme.TENANT and policy["id"] == "authorizationPolicy"
    assert [c.method for c in fake.log] == ["POST", "GET"]


def test_a_next_link_to_another_host_is_refused(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                tmp_path: Path) -> None:
    fake, _tenant, ids = acme_world
    fake.fail(STORAGE_LIST, Reply(200, {"value": [], "nextLink": "http://127.0.0.1:9/steal?api-version=1"}), times=1)
    run = run_azure(tmp_path, fake)
    errors = [e for e in run.errors if e.resource_type == "azure.storage.account"]
    assert errors and errors[0].message.startswith("invalid_response: ForeignOrigin")
    assert run.status("azure.storage.https_only", ids["storage_bad"]) == "fail"


@pytest.mark.parametrize(("path", "reply", "types", "reason"), [
    (STORAGE_LIST, arm_error(403, "AuthorizationFailed", "The client 'x' with object id 'x' does not have "
                             "authorization to perform action 'Microsoft.Storage/storageAccounts/read' over scope "
                             f"'/subscriptions/{acme.PROD}' or the scope is invalid."),
     ["azure.storage.account"], "denied: AuthorizationFailed"),
    (r"^/v1\.0/applications$", graph_error(403, "Authorization_RequestDenied",
                                           "Insufficient privileges to complete the operation."),
     ["azure.entra.application"], "denied: Authorization_RequestDenied"),
    (r"roleAssignments$", arm_error(500, "InternalServerError", "Encountered internal server error."),
     ["azure.authorization.role_assignment", "azure.authorization.subscription_access"], "unavailable"),
])
def test_error_bodies_become_error_findings(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                            tmp_path: Path, path: str, reply: Reply, types: list[str],
                                            reason: str) -> None:
    fake, _tenant, _ids = acme_world
    fake.fail(path, reply, times=1000)
    run = run_azure(tmp_path, fake)
    for rtype in types:
        found = [e for e in run.errors if e.resource_type == rtype]
        assert found and all(e.message.startswith(reason) for e in found), (rtype, found)
    errored = {f["rule_id"] for f in run.findings if f["status"] == "error"}
    assert errored and not any(f["status"] == "pass" for f in run.findings
                               if f["rule_id"] in errored and f["resource_id"].startswith("annexa:collection/"))


def test_unregistered_provider_is_not_enabled(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                              tmp_path: Path) -> None:
    fake, tenant, ids = acme_world
    tenant.unregistered.add((acme.SANDBOX, "microsoft.security"))
    run = run_azure(tmp_path, fake)
    found = [e for e in run.errors if e.account == acme.SANDBOX]
    assert {e.resource_type for e in found} == {"azure.security.pricing", "azure.security.contacts"}
    assert all(e.message.startswith("not_enabled: MissingSubscriptionRegistration") for e in found)
    assert run.status("azure.security.contact_email", ids[f"contacts_{acme.PROD}"]) == "pass"


def test_graph_is_told_what_to_select(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                      tmp_path: Path) -> None:
    fake, _tenant, _ids = acme_world
    run_azure(tmp_path, fake)
    users = fake.calls("GET", r"^/v1\.0/users$")[0]
    assert "signInActivity" in users.query["$select"][0].split(",") and users.query["$top"] == ["999"]
    signins = fake.calls("GET", r"^/v1\.0/auditLogs/signIns$")[0]
    assert re.fullmatch(r"createdDateTime ge \S+Z and createdDateTime le \S+Z", signins.query["$filter"][0])
    audits = fake.calls("GET", r"directoryAudits$")[0]
    assert audits.query["$filter"][0].endswith("and category eq 'RoleManagement'")
    activity = fake.calls("GET", r"eventtypes/management/values$")[0]
    assert re.fullmatch(r"eventTimestamp ge '\S+Z' and eventTimestamp le '\S+Z'", activity.query["$filter"][0])
    assert activity.query["api-version"] == ["2015-04-01"]
    roles = fake.calls("GET", r"/roleManagement/directory/roleAssignments$")[0]
    assert roles.query["$expand"] == ["principal"]
    custom = fake.calls("GET", r"Microsoft\.Authorization/roleDefinitions$")[0]
    assert custom.query["$filter"] == ["type eq 'CustomRole'"]
