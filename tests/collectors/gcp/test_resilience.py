"""Errors, throttling, paging and partial answers: what cannot be read becomes an `error`, never a pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.fakeapi import FakeApi, Reply
from agent.fakeapi.errors import google_error, google_exhausted
from agent.fakeapi.gcp_world import GcpWorld, binding, policy
from tests.collectors.gcp.conftest import collect, run_gcp

PROD, DEV = "acme-prod", "acme-dev"


def two_projects(world: GcpWorld) -> None:
    prod = world.add_project(PROD, "1001")
    dev = world.add_project(DEV, "1002")
    for project in (prod, dev):
        world.add_bucket(project, f"{project.project_id}-data")
        world.add_firewall(project, "allow-https")
        world.add_instance(project, "europe-west1-b", "vm-1")
        world.add_sql_instance(project, "db")
        world.add_service_account(project, "app")


def test_disabled_api_is_not_enabled_for_that_project_only(world: GcpWorld, fake: FakeApi,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    two_projects(world)
    world.project(DEV).disabled_apis.add("compute.googleapis.com")  # type: ignore[union-attr]
    got = collect(fake, monkeypatch)
    compute_errors = [e for e in got.errors if e.resource_type.startswith("gcp.compute.")]
    assert {(e.resource_type, e.account) for e in compute_errors} == {
        ("gcp.compute.project", DEV), ("gcp.compute.firewall", DEV), ("gcp.compute.network", DEV),
        ("gcp.compute.instance", DEV)}
    assert all(e.message.startswith("not_enabled: ") and "SERVICE_DISABLED" in e.message for e in compute_errors)
    assert all(e.resource_type.startswith("gcp.compute.") for e in got.errors)
    assert got.ids("gcp.compute.instance") == {
        f"//compute.googleapis.com/projects/{PROD}/zones/europe-west1-b/instances/vm-1"}
    assert got.ids("gcp.storage.bucket") == {f"//storage.googleapis.com/projects/_/buckets/{p}-data"
                                             for p in (PROD, DEV)}
    # once Compute said SERVICE_DISABLED in acme-dev, it is not asked again there
    assert len(fake.calls(path=f"^/compute/v1/projects/{DEV}")) == 1


def test_permission_denied_is_an_error_with_the_google_reason(world: GcpWorld, fake: FakeApi,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    two_projects(world)
    world.project(DEV).denied["^/storage/v1/b$"] = "storage.buckets.list"  # type: ignore[union-attr]
    world.project(DEV).denied["/serviceAccounts$"] = "iam.serviceAccounts.list"  # type: ignore[union-attr]
    run = run_gcp(tmp_path, fake, monkeypatch)
    errors = {(e.resource_type, e.account): e.message for e in run.errors}
    assert errors[("gcp.storage.bucket", DEV)].startswith("denied: buckets.list: GET ")
    denied = errors[("gcp.storage.bucket", DEV)]
    assert "403 PERMISSION_DENIED (forbidden): Required 'storage.buckets.list' permission" in denied
    assert "PERMISSION_DENIED (IAM_PERMISSION_DENIED)" in errors[("gcp.iam.service_account", DEV)]
    assert run.result.status == "partial"
    scope = f"annexa:collection/gcp-main/{DEV}/-/gcp.storage.bucket"
    assert run.status("gcp.storage.bucket_not_public", scope) == "error"
    prod_bucket = f"//storage.googleapis.com/projects/_/buckets/{PROD}-data"
    assert run.status("gcp.storage.bucket_not_public", prod_bucket) == "pass"


def test_resource_exhausted_is_backed_off_and_retried(world: GcpWorld, fake: FakeApi,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    two_projects(world)
    fake.fail(r"/global/firewalls$", lambda req: google_exhausted(0, req), times=2)
    fake.fail(r"^/v3/projects:search$", lambda req: google_exhausted(0, req), times=1)  # through api-core retry
    got = collect(fake, monkeypatch)
    assert got.errors == []
    assert len(got.ids("gcp.compute.firewall")) == 2
    assert len([c for c in fake.calls(path="/global/firewalls$") if c.status == 429]) == 2
    assert [c.status for c in fake.calls(path=r"^/v3/projects:search$")] == [429, 200]


def test_throttling_that_does_not_end_is_a_throttled_error(world: GcpWorld, fake: FakeApi,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    two_projects(world)
    fake.fail(rf"^/v1/projects/{DEV}/instances$", lambda req: google_exhausted(0, req), times=50)
    got = collect(fake, monkeypatch, {"max_retries": 1})
    (error,) = [e for e in got.errors if e.resource_type == "gcp.sql.instance"]
    assert error.account == DEV and error.message.startswith("throttled: ")
    assert "429 RESOURCE_EXHAUSTED (rateLimitExceeded)" in error.message
    assert len(got.ids("gcp.sql.instance")) == 1


def test_server_errors_and_broken_answers(world: GcpWorld, fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    two_projects(world)
    fake.fail(rf"^/compute/v1/projects/{PROD}/global/networks$",
              google_error(500, "Internal error encountered.", reason="backendError"), times=50)
    fake.fail(rf"^/v1/projects/{DEV}/serviceAccounts$", Reply(200, "<html>proxy error</html>",
                                                               {"Content-Type": "text/html"}), times=50)
    fake.fail(rf"^/v2/projects/{DEV}/locations/-/buckets$", Reply(200, {"buckets": {"not": "a list"}}), times=50)
    got = collect(fake, monkeypatch, {"max_retries": 1})
    messages = {(e.resource_type, e.account): e.message for e in got.errors}
    assert messages[("gcp.compute.network", PROD)].startswith("unavailable: networks.list:")
    assert "500 INTERNAL (backendError)" in messages[("gcp.compute.network", PROD)]
    assert messages[("gcp.iam.service_account", DEV)].startswith("invalid_response: ")
    assert "invalid JSON" in messages[("gcp.iam.service_account", DEV)]
    assert messages[("gcp.logging.bucket", DEV)].startswith("invalid_response: ")


def test_aggregated_list_pages_zone_warnings_and_unreachable_zones(world: GcpWorld, fake: FakeApi,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    project = world.add_project(PROD, "1001")
    project.zones = ["asia-east1-a", "europe-west1-b", "europe-west1-c", "us-central1-a", "us-east1-b"]
    for i in range(5):
        world.add_instance(project, "europe-west1-b", f"eu-{i}")
    world.add_instance(project, "us-central1-a", "us-0")
    project.unreachable_zones = ["us-east1-b"]
    world.page_limit = 2
    got = collect(fake, monkeypatch, {"services": ["compute"], "audit_logs": False})
    assert len(got.ids("gcp.compute.instance")) == 6
    (error,) = [e for e in got.errors if e.resource_type == "gcp.compute.instance"]
    assert error.region == "us-east1-b" and error.message.startswith("unavailable: ")
    calls = fake.calls(path="/aggregated/instances$")
    assert len(calls) == 3 and calls[0].query["returnPartialSuccess"] == ["true"]
    assert all("pageToken" in c.query for c in calls[1:])


def test_every_list_is_read_across_pages(world: GcpWorld, fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = world.add_folder("200", "prod")
    projects = [world.add_project(f"p-{i}", str(2000 + i), parent=folder.name) for i in range(3)]
    project = projects[0]
    for i in range(3):
        world.add_bucket(project, f"bucket-{i}")
        world.add_firewall(project, f"fw-{i}")
        world.add_network(project, f"net-{i}")
        world.add_sql_instance(project, f"db-{i}")
        world.add_service_account(project, f"sa-{i}")
        world.add_crypto_key(project, "europe-west1", f"ring-{i}", "k1")
        world.add_crypto_key(project, "europe-west1", "ring-0", f"key-{i}")
        project.sinks.append(world.sink(f"sink-{i}", "storage.googleapis.com/x"))
        world.add_log_bucket(project, f"logs-{i}", 30)
    world.add_folder("201", "more")
    world.page_limit = 1
    got = collect(fake, monkeypatch, {"audit_logs": False})
    assert got.errors == []
    assert len([r for r in got.resources if r.type == "gcp.project"]) == 3
    assert len(got.ids("gcp.folder")) == 2
    for type_, count in (("gcp.storage.bucket", 3), ("gcp.compute.firewall", 3), ("gcp.compute.network", 3),
                         ("gcp.sql.instance", 3), ("gcp.iam.service_account", 3), ("gcp.kms.crypto_key", 6),
                         ("gcp.logging.sink", 3 * 2 + 3), ("gcp.logging.bucket", 3 * 2 + 3)):
        assert len(got.ids(type_)) == count, type_
    for path in ("^/v3/projects:search$", "^/v3/folders:search$", "^/storage/v1/b$", "/global/firewalls$",
                 "/serviceAccounts$", "/instances$", "/keyRings$", "/cryptoKeys$", "/sinks$", "/locations$",
                 "/buckets$"):
        assert any("pageToken" in c.query for c in fake.calls(path=path)), path
    assert fake.calls(path="^/storage/v1/b$")[0].query["maxResults"] == ["1000"]


def test_conditional_bindings_are_read_with_policy_version_3(world: GcpWorld, fake: FakeApi,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    project = world.add_project(PROD, "1001")
    condition = {"title": "expires", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}
    project.iam = policy([binding("roles/owner", "user:temp@acme.example", condition=condition)])
    world.add_bucket(project, "cond", iam=policy([binding("roles/storage.objectViewer", "allUsers",
                                                          condition=condition)]))
    got = collect(fake, monkeypatch, {"services": ["project", "storage"], "audit_logs": False})
    project_policy = got.one("gcp.iam.policy", "//cloudresourcemanager.googleapis.com/projects/1001").data
    assert project_policy["policy"]["bindings"][0]["role"] == "roles/owner"  # not renamed "_withcond_"
    assert project_policy["members"][0]["conditionalRoles"] == [{"role": "roles/owner", "condition": "expires"}]
    assert project_policy["conditionalBindings"] == 1
    bucket = got.one("gcp.storage.bucket", "//storage.googleapis.com/projects/_/buckets/cond").data
    assert bucket["publicGrants"] == [{"member": "allUsers", "role": "roles/storage.objectViewer",
                                       "conditional": True}]


def test_projects_in_parallel_within_the_concurrency_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.fakeapi import gcp as fake_gcp
    from tests.collectors.gcp.conftest import new_world

    world = new_world()
    for i in range(8):
        world.add_project(f"p-{i}", str(3000 + i))
    api = fake_gcp.start(world, latency=0.03)
    try:
        got = collect(api, monkeypatch, {"services": ["compute", "sql", "storage"], "audit_logs": False},
                      max_concurrency=6)
    finally:
        api.stop()
    assert got.errors == []
    assert 3 <= api.max_in_flight <= 6


def test_explicit_projects_and_one_that_cannot_be_read(world: GcpWorld, fake: FakeApi,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    two_projects(world)
    got = collect(fake, monkeypatch, {"projects": [PROD, "acme-gone"], "services": ["project", "storage"],
                                      "audit_logs": False})
    assert got.ids("gcp.project") == {"//cloudresourcemanager.googleapis.com/projects/1001"}
    assert {e.account for e in got.errors} == {"acme-gone"}
    assert all(e.message.startswith("denied: project acme-gone: 403") for e in got.errors)
    assert not fake.calls(path="^/v3/projects:search$")


def test_organization_limits_the_projects(world: GcpWorld, fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    two_projects(world)
    world.add_project("other-org-project", "1009", parent="organizations/999")
    hidden = world.add_folder("300", "restricted")
    hidden.hidden = True
    world.add_project("behind-hidden-folder", "1010", parent=hidden.name)
    got = collect(fake, monkeypatch, {"organization": world.org_id, "services": ["project"], "audit_logs": False})
    assert {r.data["projectId"] for r in got.resources if r.type == "gcp.project"} == {
        PROD, DEV, "behind-hidden-folder"}
    assert [c.path for c in fake.calls(path=":getAncestry$")] == ["/v1/projects/behind-hidden-folder:getAncestry"]
    policy = got.one("gcp.iam.policy", "//cloudresourcemanager.googleapis.com/projects/1010").data
    assert policy["ancestors"] == ["folders/300", f"organizations/{world.org_id}"]
    assert policy["inheritedPolicyErrors"][0].startswith("folders/300: not visible")
