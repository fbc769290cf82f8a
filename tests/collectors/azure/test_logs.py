"""Activity Log, sign-in and directory audit logs: read incrementally with the source cursor, nothing
skipped or counted twice, the licence that hides sign-in logs reported as an error with that reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.fakeapi import FakeApi
from agent.fakeapi.azure import AzureTenant, acme, directory, platform
from agent.fakeapi.errors import arm_error
from tests.collectors.azure.conftest import collect, run_azure

LOGS = ["activitylog", "entra_logs"]


def summary(resources: list[Any], rtype: str, account: str | None = None) -> dict[str, Any]:
    return next(r.data for r in resources if r.type == rtype and (account is None or r.account == account))


def test_runs_count_each_event_once_and_keep_what_they_saw(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                            tmp_path: Path) -> None:
    fake, tenant, ids = acme_world
    first, errors, cursor = collect(fake, services=LOGS)
    assert errors == []
    dev = summary(first, "azure.activitylog.activity", acme.DEV)
    assert dev["Categories"]["diagnostic_setting_deleted"]["Count"] == 1
    assert dev["Categories"]["privileged_role_granted"]["Count"] == 1  # "Started" and "Succeeded": one operation
    events = [r for r in first if r.type == "azure.activitylog.event"]
    assert {e.data["Categories"][0] for e in events} >= {"role_assignment_change", "diagnostic_setting_change",
                                                        "policy_change"}
    assert not any("claims" in e.data or "httpRequest" in e.data for e in events)
    # a second run re-reads the overlap and finds the same events: nothing is counted twice
    now = datetime.now(UTC) - timedelta(seconds=5)
    tenant.add_event(acme.DEV, platform.activity_event(acme.DEV, acme.TENANT, "Microsoft.Insights/diagnosticSettings/"
                                                       "delete", f"/subscriptions/{acme.DEV}/providers/microsoft."
                                                       "insights/diagnosticSettings/second", now))
    signin_user = tenant.users[3]
    tenant.sign_ins.append(directory.sign_in(signin_user, now, mfa=False))
    fake.reset_log()
    second, errors, _ = collect(fake, cursor=cursor.pending, services=LOGS)
    assert errors == []
    dev = summary(second, "azure.activitylog.activity", acme.DEV)
    assert dev["Categories"]["diagnostic_setting_deleted"]["Count"] == 2
    assert dev["Categories"]["privileged_role_granted"]["Count"] == 1
    signins = summary(second, "azure.entra.signin_activity")
    before = summary(first, "azure.entra.signin_activity")["Categories"]["signin_without_mfa"]["Count"]
    assert before == 2 and signins["Categories"]["signin_without_mfa"]["Count"] == 3  # one new sign-in
    assert signins["ObservedSince"] == summary(first, "azure.entra.signin_activity")["ObservedSince"]
    # the window starts at the last run's end minus the overlap, not at the lookback again
    query = fake.calls("GET", r"eventtypes/management/values$")[0].query["$filter"][0]
    start = datetime.fromisoformat(query.split("'")[1].replace("Z", "+00:00"))
    assert now - start < timedelta(hours=1)
    assert ids["dev"] == acme.DEV


def test_the_first_run_looks_back_the_configured_days(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]]
                                                      ) -> None:
    fake, tenant, _ids = acme_world
    old = datetime.now(UTC) - timedelta(days=10)
    tenant.add_event(acme.PROD, platform.activity_event(acme.PROD, acme.TENANT, "Microsoft.Authorization/"
                                                        "policyAssignments/delete", f"/subscriptions/{acme.PROD}/x",
                                                        old))
    short, _, _ = collect(fake, services=["activitylog"], logs_lookback_days=7)
    assert "policy_assignment_deleted" not in summary(short, "azure.activitylog.activity", acme.PROD)["Categories"]
    long, _, _ = collect(fake, services=["activitylog"], logs_lookback_days=30)
    assert summary(long, "azure.activitylog.activity", acme.PROD)["Categories"]["policy_assignment_deleted"][
        "Count"] == 1


def test_a_failed_read_keeps_the_cursor_where_it_was(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                                     tmp_path: Path) -> None:
    fake, _tenant, ids = acme_world
    first = run_azure(tmp_path, fake, "    services: [activitylog]\n")
    assert first.status("azure.activitylog.no_diagnostic_setting_deleted", ids[f"activity_{acme.DEV}"]) == "fail"
    saved = first.store.cursor_value("az", f"activity/{acme.DEV}")
    fake.fail(rf"/subscriptions/{acme.DEV}/providers/Microsoft\.Insights/eventtypes", arm_error(
        403, "AuthorizationFailed", "The client does not have authorization to perform action "
        "'Microsoft.Insights/eventtypes/values/read'."), times=1)
    second = run_azure(tmp_path, fake, "    services: [activitylog]\n")
    assert second.status("azure.activitylog.no_diagnostic_setting_deleted", ids[f"activity_{acme.DEV}"]) == "error"
    assert second.store.cursor_value("az", f"activity/{acme.DEV}") == saved  # the partial source saved nothing
    third = run_azure(tmp_path, fake, "    services: [activitylog]\n")
    assert third.status("azure.activitylog.no_diagnostic_setting_deleted", ids[f"activity_{acme.DEV}"]) == "fail"


def test_sign_in_logs_need_a_premium_licence(acme_world: tuple[FakeApi, AzureTenant, dict[str, str]],
                                             tmp_path: Path) -> None:
    fake, tenant, _ids = acme_world
    tenant.licence = "free"
    run = run_azure(tmp_path, fake, "    services: [entra_logs]\n")
    signin_errors = [e for e in run.errors if e.resource_type == "azure.entra.signin_activity"]
    assert signin_errors and signin_errors[0].message.startswith(
        "licence: Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    assert "P1 or P2" in signin_errors[0].message
    statuses = {f["rule_id"]: f["status"] for f in run.findings}
    assert statuses["azure.entra.no_signin_without_mfa"] == "error"
    assert statuses["azure.entra.no_role_grant_outside_pim"] == "fail"  # audit logs are in every edition


def test_what_counts_as_multifactor_and_legacy() -> None:
    from collectors.azure.services.entra_logs import audit_categories, signin_categories

    user = directory.user("u@acme.example")
    now = datetime.now(UTC)
    assert signin_categories(directory.sign_in(user, now)) == []
    assert signin_categories(directory.sign_in(user, now, mfa=False)) == ["signin_without_mfa"]
    assert signin_categories(directory.sign_in(user, now, client_app="POP3")) == ["legacy_authentication"]
    assert signin_categories(directory.sign_in(user, now, success=False, mfa=False, client_app="SMTP")) == []
    assert signin_categories(directory.sign_in(user, now, mfa=False, interactive=False)) == []
    beta = {**directory.sign_in(user, now, mfa=False), "authenticationRequirement": "multiFactorAuthentication"}
    assert signin_categories(beta) == []  # the beta field, when present, decides
    grant = directory.directory_audit("Add member to role", now, user, "Global Administrator")
    assert audit_categories(grant) == ["privileged_role_granted"]
    reader = directory.directory_audit("Add member to role", now, user, "Directory Readers")
    assert audit_categories(reader) == []
    outside = directory.directory_audit("Add member to role outside of PIM (permanent)", now, user, "Reports Reader")
    assert audit_categories(outside) == ["role_granted_outside_pim"]
    failed = directory.directory_audit("Add member to role", now, user, "Global Administrator", result="failure")
    assert audit_categories(failed) == []
