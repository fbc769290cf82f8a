"""Every Azure rule, a passing and a failing resource, asserted by id after a full pipeline run.

The Acme tenant holds each violation beside a compliant twin; tenant-wide Entra ID settings pass in
the compliant twin tenant. A meta-test makes sure no shipped Azure rule is left out of the table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.fakeapi.azure import acme
from tests.collectors.azure.conftest import AzureRun, builtin_rules, run_azure, started

GRAPH = "https://graph.microsoft.com/v1.0"
P, D, S = acme.PROD, acme.DEV, acme.SANDBOX

# rule -> (passing id, failing id); ids are keys of acme.build()'s id map, or literal ids. Tenant-wide
# rules pass in the compliant twin (marked "twin:").
MATRIX: dict[str, tuple[str, str]] = {
    "azure.storage.https_only": ("storage_good", "storage_bad"),
    "azure.storage.minimum_tls_12": ("storage_good", "storage_bad"),
    "azure.storage.no_public_blob_access": ("storage_good", "storage_bad"),
    "azure.storage.shared_key_access_disabled": ("storage_good", "storage_bad"),
    "azure.storage.infrastructure_encryption": ("storage_good", "storage_bad"),
    "azure.storage.blob_soft_delete": ("storage_good", "storage_bad"),
    "azure.storage.blob_versioning": ("storage_good", "storage_bad"),
    "azure.storage.network_restricted": ("storage_good", "storage_bad"),
    "azure.keyvault.soft_delete": ("kv_good", "kv_bad"),
    "azure.keyvault.purge_protection": ("kv_good", "kv_bad"),
    "azure.keyvault.rbac_authorization": ("kv_good", "kv_bad"),
    "azure.keyvault.network_restricted": ("kv_good", "kv_bad"),
    "azure.keyvault.key_expiry_set": ("key_good", "key_bad"),
    "azure.keyvault.secret_expiry_set": ("secret_good", "secret_bad"),
    "azure.network.nsg_ssh_not_open_to_internet": ("nsg_good", "nsg_bad"),
    "azure.network.nsg_rdp_not_open_to_internet": ("nsg_good", "nsg_bad"),
    "azure.network.nsg_database_ports_not_open_to_internet": ("nsg_good", "nsg_bad"),
    "azure.network.nsg_flow_logs_enabled": ("nsg_good", "nsg_bad"),
    "azure.network.flow_log_retention": ("flow_log_good", "flow_log_bad"),
    "azure.compute.vm_managed_disks": ("vm_good", "vm_bad"),
    "azure.compute.vm_disk_encryption": ("vm_good", "vm_bad"),
    "azure.compute.vm_endpoint_protection": ("vm_good", "vm_bad"),
    "azure.compute.vm_no_public_ip": ("vm_good", "vm_bad"),
    "azure.compute.disk_not_exportable": ("disk_good", "disk_bad"),
    "azure.sql.server_auditing_enabled": ("sql_good", "sql_bad"),
    "azure.sql.server_entra_admin": ("sql_good", "sql_bad"),
    "azure.sql.server_public_network_access_disabled": ("sql_good", "sql_bad"),
    "azure.sql.server_firewall_not_open_to_internet": ("sql_good", "sql_bad"),
    "azure.sql.server_no_allow_all_azure_services": ("sql_good", "sql_bad"),
    "azure.sql.server_minimum_tls_12": ("sql_good", "sql_bad"),
    "azure.sql.database_tde_enabled": ("db_good", "db_bad"),
    "azure.monitor.activity_log_exported": (f"export_{P}", f"export_{D}"),
    "azure.monitor.activity_log_retained": (f"export_{P}", f"export_{S}"),
    "azure.security.defender_plan_enabled": ("pricing_good", "pricing_bad"),
    "azure.security.contact_email": (f"contacts_{P}", f"contacts_{D}"),
    "azure.security.alert_notifications": (f"contacts_{P}", f"contacts_{D}"),
    "azure.authorization.owner_count": (f"access_{P}", f"access_{D}"),
    "azure.authorization.no_classic_coadministrators": (f"access_{P}", f"access_{D}"),
    "azure.authorization.no_external_privileged_roles": ("assignment_alice", "assignment_guest"),
    "azure.authorization.no_orphaned_assignments": ("assignment_alice", "assignment_orphan"),
    "azure.authorization.custom_role_no_wildcard": ("custom_role_good", "custom_role_bad"),
    "azure.web.https_only": ("web_good", "web_bad"),
    "azure.web.minimum_tls_12": ("web_good", "web_bad"),
    "azure.web.ftps_only_or_disabled": ("web_good", "web_bad"),
    "azure.web.managed_identity": ("web_good", "web_bad"),
    "azure.entra.user_mfa_registered": ("user:alice", "user:dave"),
    "azure.entra.admin_mfa_registered": ("user:alice", "user:mallory"),
    "azure.entra.user_recently_active": ("user:alice", "user:carol"),
    "azure.entra.report_only_policy_not_forgotten": ("ca:ca_recent", "ca:ca_stale"),
    "azure.entra.no_guest_directory_roles": ("dra:dra_alice", "dra:dra_mallory"),
    "azure.entra.app_credential_lifetime": ("app:app_good", "app:app_bad"),
    "azure.entra.app_credential_not_expiring": ("app:app_good", "app:app_expiring"),
    "azure.entra.service_principal_credential_lifetime": ("sp:sp_good", "sp:sp_bad"),
    "azure.activitylog.no_diagnostic_setting_deleted": (f"activity_{P}", f"activity_{D}"),
    "azure.activitylog.no_policy_assignment_deleted": (f"activity_{P}", f"activity_{D}"),
    "azure.activitylog.privileged_role_grants_reviewed": (f"activity_{P}", f"activity_{D}"),
    # tenant-wide: the Acme tenant fails, the compliant twin passes
    "azure.entra.mfa_required_for_all_users": ("twin:tenant", "tenant"),
    "azure.entra.mfa_required_for_admins": ("twin:tenant", "tenant"),
    "azure.entra.legacy_authentication_blocked": ("twin:tenant", "tenant"),
    "azure.entra.guest_invitations_restricted": ("twin:tenant", "tenant"),
    "azure.entra.guest_access_restricted": ("twin:tenant", "tenant"),
    "azure.entra.users_cannot_register_apps": ("twin:tenant", "tenant"),
    "azure.entra.global_admin_count": ("twin:roles", "roles"),
    "azure.entra.privileged_roles_not_standing": ("twin:roles", "roles"),
    "azure.entra.no_signin_without_mfa": ("twin:signins", "signins"),
    "azure.entra.no_legacy_authentication_signin": ("twin:signins", "signins"),
    "azure.entra.no_role_grant_outside_pim": ("twin:audits", "audits"),
    "azure.entra.privileged_role_grants_reviewed": ("twin:audits", "audits"),
}
GRAPH_KINDS = {"user": "users", "ca": "identity/conditionalAccess/policies",
               "dra": "roleManagement/directory/roleAssignments", "app": "applications", "sp": "servicePrincipals"}
TENANT_WIDE = {"tenant": "organization/{tenant}", "roles": "roleManagement/directory", "signins": "auditLogs/signIns",
               "audits": "auditLogs/directoryAudits"}


def resolve(key: str, ids: dict[str, str], tenant_id: str) -> str:
    if key in TENANT_WIDE:
        return f"{GRAPH}/{TENANT_WIDE[key].format(tenant=tenant_id)}"
    kind, _, name = key.partition(":")
    if name and kind in GRAPH_KINDS:
        return f"{GRAPH}/{GRAPH_KINDS[kind]}/{ids[name if kind != 'user' else 'user_' + name]}"
    return ids[key]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[AzureRun, AzureRun, dict[str, str], str]:
    mp = pytest.MonkeyPatch()
    mp.setenv("AZURE_TEST_TOKEN", "test-token-not-a-secret")
    tenant, ids = acme.build()
    twin = acme.compliant_directory()
    fake, fake_twin = started(tenant), started(twin)
    try:
        acme_run = run_azure(tmp_path_factory.mktemp("acme"), fake)
        twin_run = run_azure(tmp_path_factory.mktemp("twin"), fake_twin,
                             "    services: [entra_users, entra_roles, entra_policies, entra_apps, entra_logs]\n")
    finally:
        fake.stop()
        fake_twin.stop()
        mp.undo()
    return acme_run, twin_run, ids, twin.tenant_id


def test_every_azure_rule_is_in_the_matrix() -> None:
    shipped = {r.id for r in builtin_rules() if r.provider == "azure"}
    assert len(shipped) >= 30
    assert shipped == set(MATRIX), sorted(shipped ^ set(MATRIX))


@pytest.mark.parametrize("rule", sorted(MATRIX))
def test_rule_passes_and_fails_on_its_twins(runs: tuple[AzureRun, AzureRun, dict[str, str], str], rule: str) -> None:
    acme_run, twin_run, ids, twin_tenant = runs
    good, bad = MATRIX[rule]
    if good.startswith("twin:"):
        assert twin_run.status(rule, resolve(good[5:], ids, twin_tenant)) == "pass", twin_run.by_rule(rule)
    else:
        good_id = resolve(good, ids, acme.TENANT)
        assert acme_run.status(rule, good_id) == "pass", acme_run.message(rule, good_id)
    bad_id = resolve(bad, ids, acme.TENANT)
    assert acme_run.status(rule, bad_id) == "fail", acme_run.message(rule, bad_id)


def test_the_acme_run_reads_everything(runs: tuple[AzureRun, AzureRun, dict[str, str], str]) -> None:
    acme_run, twin_run, _ids, _ = runs
    assert acme_run.errors == [], acme_run.errors
    assert not [f for f in acme_run.findings if f["status"] == "error"]
    assert twin_run.errors == []


def test_ids_are_matched_as_azure_returns_them(runs: tuple[AzureRun, AzureRun, dict[str, str], str]) -> None:
    """ARM mixes `resourceGroups` and `resourcegroups`: the stored id is the provider's own, and the
    flow log naming the network in lower case still covers the NSG."""
    acme_run, _, ids, _ = runs
    stored = {f["resource_id"] for f in acme_run.findings}
    assert ids["nsg_bad"] in stored and "/resourcegroups/RG-NET/" in ids["nsg_bad"]
    assert acme_run.status("azure.network.nsg_flow_logs_enabled", ids["nsg_good"].upper().replace(
        "/SUBSCRIPTIONS/", "/subscriptions/")) == "pass"


def test_messages_name_the_evidence(runs: tuple[AzureRun, AzureRun, dict[str, str], str]) -> None:
    acme_run, _, ids, _ = runs
    assert "rdp-and-more" in acme_run.message("azure.network.nsg_rdp_not_open_to_internet", ids["nsg_bad"])
    assert "sql-range" in acme_run.message("azure.network.nsg_database_ports_not_open_to_internet", ids["nsg_bad"])
    assert "everyone" in acme_run.message("azure.sql.server_firewall_not_open_to_internet", ids["sql_bad"])
    tenant_id = resolve("tenant", ids, acme.TENANT)
    assert "Require MFA for all users" in acme_run.message("azure.entra.mfa_required_for_all_users", tenant_id)
    # the disabled secret and the master database are not judged
    assert ids["secret_disabled"] not in acme_run.by_rule("azure.keyvault.secret_expiry_set")
    assert ids["db_master"] not in acme_run.by_rule("azure.sql.database_tde_enabled")


def test_a_graph_only_source_reads_no_subscription(tmp_path: Path) -> None:
    """The twin tenant restricted to Entra services reads no subscription and reports no ARM error."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AZURE_TEST_TOKEN", "test-token-not-a-secret")
    fake = started(acme.compliant_directory())
    try:
        run = run_azure(tmp_path, fake, "    services: [entra_policies]\n")
    finally:
        fake.stop()
        mp.undo()
    assert run.errors == []
    assert not [c for c in fake.log if c.path.startswith("/subscriptions")]
