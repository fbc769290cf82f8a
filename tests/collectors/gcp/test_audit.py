"""Cloud Audit Logs read incrementally with `entries:list`: windows, cursor, batches, paging, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.fakeapi import FakeApi
from agent.fakeapi.gcp_world import GcpWorld
from collectors.gcp import audit
from tests.collectors.gcp.conftest import collect, run_gcp

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ONLY_AUDIT = {"services": ["audit"]}
ACTIVITY = "//logging.googleapis.com/projects/{}/logs/cloudaudit.googleapis.com%2Factivity"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    now = [T0]
    monkeypatch.setattr(audit, "utcnow", lambda: now[0])
    return now


def sink_delete(world: GcpWorld, project_id: str, when: datetime) -> dict:
    project = world.project(project_id)
    assert project is not None
    return world.audit_entry(project, when, "google.logging.v2.ConfigServiceV2.DeleteSink",
                             service="logging.googleapis.com", resource=f"projects/{project_id}/sinks/s",
                             principal="mallory@acme.example")


def test_first_run_reads_the_lookback_window_and_judges_categories(world: GcpWorld, fake: FakeApi, clock: list,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    project = world.add_project("acme-prod", "1001")
    sink_delete(world, "acme-prod", T0 - timedelta(days=2))
    world.audit_entry(project, T0 - timedelta(days=40), "google.iam.admin.v1.CreateServiceAccountKey",
                      service="iam.googleapis.com", resource="projects/-/serviceAccounts/a@x")  # before the lookback
    failed = world.audit_entry(project, T0 - timedelta(days=1), "SetIamPolicy",
                               service="cloudresourcemanager.googleapis.com", resource="projects/acme-prod",
                               binding_deltas=[{"action": "ADD", "role": "roles/owner", "member": "user:x@gmail.com"}])
    failed["protoPayload"]["status"] = {"code": 7, "message": "PERMISSION_DENIED"}  # refused: changed nothing
    got = collect(fake, monkeypatch, ONLY_AUDIT)
    assert got.errors == []
    (request,) = world.entries_requests
    assert request["resourceNames"] == ["projects/acme-prod"] and request["orderBy"] == "timestamp asc"
    assert f'timestamp>="{audit.iso(T0 - timedelta(days=30))}"' in request["filter"]
    assert f'timestamp<="{audit.iso(T0)}"' in request["filter"]
    assert 'protoPayload.methodName:("SetIamPolicy" OR' in request["filter"]
    (event,) = [r for r in got.resources if r.type == audit.EVENT]
    assert event.data["categories"] == ["sink_change", "sink_deleted_or_disabled"]
    assert event.id.startswith("//logging.googleapis.com/projects/acme-prod/logs/cloudaudit.googleapis.com%2F"
                               "activity/entries/")
    summary = got.one(audit.ACTIVITY, ACTIVITY.format("acme-prod")).data
    assert summary["categories"]["sink_deleted_or_disabled"]["count"] == 1
    assert summary["categories"]["risky_grant"]["count"] == 0
    assert summary["categories"]["service_account_key_created"]["last"] is None
    assert summary["observedSince"] == audit.iso(T0 - timedelta(days=30))
    assert got.cursor["audit/acme-prod"]["until"] == audit.iso(T0)


def test_next_run_reads_only_the_new_window_and_keeps_the_history(world: GcpWorld, fake: FakeApi, clock: list,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_project("acme-prod", "1001")
    sink_delete(world, "acme-prod", T0 - timedelta(days=2))
    first = collect(fake, monkeypatch, ONLY_AUDIT)
    clock[0] = T0 + timedelta(hours=6)
    sink_delete(world, "acme-prod", T0 - timedelta(minutes=10))  # delivered late, inside the overlap
    sink_delete(world, "acme-prod", T0 + timedelta(hours=1))
    second = collect(fake, monkeypatch, ONLY_AUDIT, cursor=first.cursor)
    assert f'timestamp>="{audit.iso(T0 - audit.OVERLAP)}"' in world.entries_requests[-1]["filter"]
    summary = second.one(audit.ACTIVITY, ACTIVITY.format("acme-prod")).data
    assert summary["categories"]["sink_change"]["count"] == 3
    assert summary["observedSince"] == audit.iso(T0 - timedelta(days=30))
    third = collect(fake, monkeypatch, ONLY_AUDIT, cursor=second.cursor)  # same window again: nothing new
    again = third.one(audit.ACTIVITY, ACTIVITY.format("acme-prod")).data
    assert again == summary  # nothing new, and nothing in the summary changes per run: no new interval


def test_projects_are_read_in_batches_and_a_denied_one_does_not_hide_the_others(
        world: GcpWorld, fake: FakeApi, clock: list, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        world.add_project(f"p-{i}", str(1000 + i))
        sink_delete(world, f"p-{i}", T0 - timedelta(hours=i + 1))
    world.project("p-3").denied["^/v2/entries:list$"] = "logging.logEntries.list"  # type: ignore[union-attr]
    world.page_limit = 1
    got = collect(fake, monkeypatch, {**ONLY_AUDIT, "audit_log_batch": 2})
    summaries = {r.account: r.data for r in got.resources if r.type == audit.ACTIVITY}
    assert sorted(summaries) == ["p-0", "p-1", "p-2", "p-4"]
    assert all(s["categories"]["sink_deleted_or_disabled"]["count"] == 1 for s in summaries.values())
    assert {(e.resource_type, e.account) for e in got.errors} == {(audit.EVENT, "p-3"), (audit.ACTIVITY, "p-3")}
    assert got.errors[0].message.startswith("denied: entries:list p-3:")
    assert "audit/p-3" not in got.cursor  # read again next time
    names = [tuple(r["resourceNames"]) for r in world.entries_requests]
    assert ("projects/p-0", "projects/p-1") in names and ("projects/p-2", "projects/p-3") in names
    assert ("projects/p-2",) in names and ("projects/p-3",) in names  # the failed batch, one by one
    assert any("pageToken" in r for r in world.entries_requests)  # one entry per page: paged by body token


def test_calls_are_paced_to_the_configured_rate(world: GcpWorld, fake: FakeApi, clock: list,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    for i in range(3):
        world.add_project(f"p-{i}", str(1000 + i))
    began = time.monotonic()
    collect(fake, monkeypatch, {**ONLY_AUDIT, "audit_log_batch": 1, "audit_log_calls_per_minute": 600})
    calls = fake.calls(path="^/v2/entries:list$")
    assert len(calls) == 3
    assert calls[-1].at - calls[0].at >= 0.18 and time.monotonic() - began >= 0.18


def test_the_cursor_survives_between_real_runs(world: GcpWorld, fake: FakeApi, clock: list, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    world.add_project("acme-prod", "1001")
    sink_delete(world, "acme-prod", T0 - timedelta(days=1))
    options = "    services: [audit]\n"
    first = run_gcp(tmp_path, fake, monkeypatch, options, now=T0)
    activity = ACTIVITY.format("acme-prod")
    assert first.status("gcp.logging.no_log_sink_removed", activity) == "fail"
    clock[0] = T0 + timedelta(days=1)
    second = run_gcp(tmp_path, fake, monkeypatch, options, now=clock[0])
    assert f'timestamp>="{audit.iso(T0 - audit.OVERLAP)}"' in world.entries_requests[-1]["filter"]
    assert second.status("gcp.logging.no_log_sink_removed", activity) == "fail"  # carried in the cursor
    clock[0] = T0 + timedelta(days=100)
    third = run_gcp(tmp_path, fake, monkeypatch, options, now=clock[0])
    assert third.status("gcp.logging.no_log_sink_removed", activity) == "pass"  # outside the 90-day window
