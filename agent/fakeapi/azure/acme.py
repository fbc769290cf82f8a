"""Acme's simulated Azure tenant: violations beside compliant twins, for the demo, the tests and the bench.

`build(now)` gives the tenant and the ids of what is in it (so tests assert findings by id):
three subscriptions — Production (compliant twins), Development (violations), Sandbox (a complete
Activity Log export kept too briefly) — and the Entra ID directory of the shared Acme cast: alice
(Global Administrator with MFA), bob, carol (has left, account still enabled, stale), dave (no MFA,
User Administrator), erin, and the guest mallory@contractor.example (Security Administrator, Owner
of a resource group). `compliant_directory(now)` is the twin tenant whose tenant-wide settings all
pass. `synthetic(count, now)` is the benchmark's tenant of `count` subscriptions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.fakeapi.azure import directory as d
from agent.fakeapi.azure import infra as i
from agent.fakeapi.azure import platform as p
from agent.fakeapi.azure.tenant import AzureTenant

TENANT = "7c3a5e1d-2b4f-4c6a-9e8d-ace000000001"
PROD = "11111111-aaaa-4bbb-8ccc-000000000001"
DEV = "22222222-aaaa-4bbb-8ccc-000000000002"
SANDBOX = "33333333-aaaa-4bbb-8ccc-000000000003"
DELETED_USER = "9f9f9f9f-0000-4000-8000-00000000dead"


def _cast(tenant: AzureTenant, now: datetime) -> dict[str, dict[str, Any]]:
    day = timedelta(days=1)
    people = {
        "alice": tenant.add_user(d.user("alice@acme.example", display_name="Alice Admin", last_sign_in=now - day),
                                 mfa=True, admin=True),
        "bob": tenant.add_user(d.user("bob@acme.example", display_name="Bob Builder", last_sign_in=now - 3 * day),
                               mfa=True),
        "carol": tenant.add_user(d.user("carol@acme.example", display_name="Carol Left",
                                        last_sign_in=now - 200 * day, created=now - 800 * day), mfa=True),
        "dave": tenant.add_user(d.user("dave@acme.example", display_name="Dave NoMFA", last_sign_in=now - 5 * day),
                                mfa=False, admin=True),
        "erin": tenant.add_user(d.user("erin@acme.example", display_name="Erin Engineer",
                                       last_sign_in=now - 2 * day), mfa=True),
        "mallory": tenant.add_user(d.user("mallory@contractor.example", display_name="Mallory Contractor",
                                          guest=True, last_sign_in=now - 10 * day), mfa=False, admin=True),
    }
    return people


def _storage_and_vaults(t: AzureTenant, ids: dict[str, str], now: datetime) -> None:
    good = i.storage_account(PROD, "rg-data", "acmeprodlogs")
    bad = i.storage_account(DEV, "RG-Dev", "acmedevshare", https_only=False, min_tls="TLS1_0",
                            allow_blob_public=True, allow_shared_key=None, infrastructure_encryption=False,
                            default_action="Allow")
    t.put(good, i.blob_service(good["id"]), bad, i.blob_service(bad["id"], soft_delete_days=None, versioning=False))
    ids.update(storage_good=good["id"], storage_bad=bad["id"])
    kv_good = i.key_vault(PROD, "rg-security", "acme-prod-kv", TENANT)
    kv_bad = i.key_vault(DEV, "RG-Dev", "acme-dev-kv", TENANT, soft_delete=False, purge_protection=None, rbac=False,
                         public_network_access="Enabled", default_action="Allow")
    key_good = i.vault_key(kv_good, "payments-cmk", expires=now + timedelta(days=300))
    key_bad = i.vault_key(kv_bad, "legacy-signing", expires=None)
    secret_good = i.vault_secret(kv_good, "db-password", expires=now + timedelta(days=60))
    secret_bad = i.vault_secret(kv_bad, "api-token", expires=None, content_type="text/plain")
    retired = i.vault_secret(kv_bad, "retired-token", expires=None, enabled=False)
    t.put(kv_good, kv_bad, key_good, key_bad, secret_good, secret_bad, retired)
    ids.update(kv_good=kv_good["id"], kv_bad=kv_bad["id"], key_good=key_good["id"], key_bad=key_bad["id"],
               secret_good=secret_good["id"], secret_bad=secret_bad["id"], secret_disabled=retired["id"])


def _network(t: AzureTenant, ids: dict[str, str]) -> None:
    vnet = i.rid(PROD, "rg-net", "Microsoft.Network/virtualNetworks", "vnet-prod")
    good = i.nsg(PROD, "rg-net", "nsg-web", [
        i.security_rule("allow-https", 100, ports="443", source="Internet"),
        i.security_rule("deny-admin-internet", 110, ports=["22", "3389"], source="*", access="Deny", protocol="*"),
        i.security_rule("allow-ssh-everyone", 200, ports=["22", "3389"], source="0.0.0.0/0"),
        i.security_rule("allow-db-from-app", 120, ports="5432", source="10.1.0.0/16"),
    ])
    good["properties"]["subnets"] = [{"id": f"{vnet}/subnets/web"}]
    bad = i.nsg(DEV, "RG-NET", "nsg-open", [
        i.security_rule("ssh", 100, ports="22", source="Internet"),
        i.security_rule("rdp-and-more", 110, ports=["3389", "5000-5100"], source=["0.0.0.0/0"]),
        i.security_rule("sql-range", 120, ports="1430-1440", source="*"),
    ], rg_word="resourcegroups")
    watcher_prod, watcher_dev = i.network_watcher(PROD), i.network_watcher(DEV)
    storage = i.rid(PROD, "rg-data", "Microsoft.Storage/storageAccounts", "acmeprodlogs")
    # A VNet flow log naming the network in lower case, as Network Watcher often returns target ids.
    vnet_log = i.flow_log(watcher_prod, "vnet-prod-flows", {"id": vnet.lower()}, storage, retention_days=90)
    short = i.flow_log(watcher_dev, "dev-flows", {"id": i.rid(DEV, "rg-other", "Microsoft.Network/virtualNetworks",
                                                                "vnet-dev")}, storage, retention_days=7)
    t.put(good, bad, watcher_prod, watcher_dev, vnet_log, short)
    ids.update(nsg_good=good["id"], nsg_bad=bad["id"], flow_log_good=vnet_log["id"], flow_log_bad=short["id"])


def _compute(t: AzureTenant, ids: dict[str, str]) -> None:
    nic_good = i.network_interface(PROD, "rg-app", "vm-app-nic")
    vm_good = i.virtual_machine(PROD, "rg-app", "vm-app", [nic_good["id"]], encryption_at_host=True)
    disk_good = i.disk(PROD, "rg-app", "vm-app_OsDisk_1", managed_by=vm_good["id"])
    ip = i.public_ip(DEV, "RG-Dev", "vm-jump-ip", "20.50.60.70")
    nic_bad = i.network_interface(DEV, "RG-Dev", "vm-jump-nic", public_ip_id=ip["id"].replace("RG-Dev", "rg-dev"))
    vm_bad = i.virtual_machine(DEV, "RG-Dev", "vm-jump", [nic_bad["id"]], managed_disks=False, os_type="Windows")
    nic_good["properties"]["virtualMachine"] = {"id": vm_good["id"]}
    nic_bad["properties"]["virtualMachine"] = {"id": vm_bad["id"]}
    disk_bad = i.disk(DEV, "RG-Dev", "scratch-export", managed_by=None, network_access="AllowAll",
                      public_network_access="Enabled")
    t.put(nic_good, vm_good, disk_good, ip, nic_bad, vm_bad, disk_bad,
          i.vm_extension(vm_good, "MDE.Linux", "Microsoft.Azure.AzureDefenderForServers", "MDE.Linux"),
          i.vm_extension(vm_bad, "BGInfo", "Microsoft.Compute", "BGInfo"))
    ids.update(vm_good=vm_good["id"], vm_bad=vm_bad["id"], disk_good=disk_good["id"], disk_bad=disk_bad["id"])


def _sql(t: AzureTenant, ids: dict[str, str]) -> None:
    good = p.sql_server(PROD, "rg-data", "acme-prod-sql")
    bad = p.sql_server(DEV, "RG-Dev", "acme-dev-sql", public_network_access="Enabled", min_tls="1.0")
    db_good, master = p.sql_database(good, "payments"), p.sql_database(good, "master")
    db_bad = p.sql_database(bad, "scratch")
    t.put(good, p.sql_auditing(good), p.sql_entra_admin(good, "sql-admins", i.guid("group", "sql"), TENANT),
          p.sql_firewall_rule(good, "office", "203.0.113.0", "203.0.113.255"),
          bad, p.sql_auditing(bad, enabled=False),
          p.sql_firewall_rule(bad, "everyone", "0.0.0.0", "255.255.255.255"),
          p.sql_firewall_rule(bad, "AllowAllWindowsAzureIps", "0.0.0.0", "0.0.0.0"),
          db_good, p.sql_tde(db_good), master, p.sql_tde(master), db_bad, p.sql_tde(db_bad, enabled=False))
    ids.update(sql_good=good["id"], sql_bad=bad["id"], db_good=db_good["id"], db_bad=db_bad["id"],
               db_master=master["id"])


def _monitor_and_defender(t: AzureTenant, ids: dict[str, str]) -> None:
    workspace = p.log_analytics_workspace(PROD, "rg-logs", "acme-logs", retention_days=400)
    brief = p.log_analytics_workspace(SANDBOX, "rg-logs", "sandbox-logs", retention_days=30)
    t.put(workspace, brief,
          p.activity_log_setting(PROD, "to-central-logs", workspace_id=workspace["id"]),
          p.activity_log_setting(DEV, "admin-only", workspace_id=workspace["id"], categories=("Administrative",)),
          p.activity_log_setting(SANDBOX, "sandbox", workspace_id=brief["id"]))
    for sub in (PROD, DEV, SANDBOX):
        ids[f"export_{sub}"] = f"/subscriptions/{sub}/providers/Microsoft.Insights/diagnosticSettings"
        ids[f"contacts_{sub}"] = f"/subscriptions/{sub}/providers/Microsoft.Security/securityContacts"
        ids[f"access_{sub}"] = f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments"
        ids[f"activity_{sub}"] = f"/subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values"
    for plan in p.DEFENDER_PLANS:
        t.put(p.pricing(PROD, plan, standard=True), p.pricing(DEV, plan, standard=plan != "VirtualMachines"),
              p.pricing(SANDBOX, plan, standard=False))
    t.put(p.security_contact(PROD))
    ids.update(pricing_good=f"/subscriptions/{PROD}/providers/Microsoft.Security/pricings/VirtualMachines",
               pricing_bad=f"/subscriptions/{DEV}/providers/Microsoft.Security/pricings/VirtualMachines")


def _rbac(t: AzureTenant, ids: dict[str, str], people: dict[str, dict[str, Any]]) -> None:
    prod, dev = f"/subscriptions/{PROD}", f"/subscriptions/{DEV}"
    alice_owner = p.role_assignment(prod, PROD, i.OWNER, people["alice"]["id"])
    bob_owner = p.role_assignment(prod, PROD, i.OWNER, people["bob"]["id"])
    dave_owner = p.role_assignment(dev, DEV, i.OWNER, people["dave"]["id"])
    guest_owner = p.role_assignment(f"{dev}/resourceGroups/RG-Dev", DEV, i.OWNER, people["mallory"]["id"])
    orphan = p.role_assignment(prod, PROD, i.READER, DELETED_USER)
    data_reader = p.role_assignment(i.rid(PROD, "rg-data", "Microsoft.Storage/storageAccounts", "acmeprodlogs"), PROD,
                                    i.STORAGE_BLOB_DATA_READER, people["erin"]["id"])
    wildcard = p.role_definition(DEV, i.guid("role", "ops"), "Acme Ops Everything", actions=["*"], custom=True,
                                 assignable=[dev])
    narrow = p.role_definition(PROD, i.guid("role", "reader"), "Acme Log Reader", custom=True,
                               actions=["Microsoft.Insights/logs/read", "Microsoft.OperationalInsights/*/read"],
                               assignable=[prod])
    t.put(alice_owner, bob_owner, dave_owner, guest_owner, orphan, data_reader, wildcard, narrow,
          p.classic_administrator(DEV, "old-admin@acme.example"),
          p.classic_administrator(PROD, "billing@acme.example", "ServiceAdministrator;AccountAdministrator"))
    ids.update(assignment_alice=alice_owner["id"], assignment_guest=guest_owner["id"], assignment_orphan=orphan["id"],
               assignment_data_reader=data_reader["id"],
               custom_role_bad=wildcard["id"], custom_role_good=narrow["id"])


def _apps(t: AzureTenant, ids: dict[str, str], now: datetime) -> None:
    good = p.web_app(PROD, "rg-app", "acme-payments")
    bad = p.web_app(DEV, "RG-Dev", "acme-legacy-portal", https_only=False, identity=False)
    t.put(good, p.web_config(good), bad, p.web_config(bad, min_tls="1.0", ftps_state="AllAllowed"))
    ids.update(web_good=good["id"], web_bad=bad["id"])
    year = timedelta(days=365)
    app_good = d.application("payments-api", keys=[d.key_credential("payments-api", now - timedelta(days=30),
                                                                   now + timedelta(days=300))])
    app_bad = d.application("legacy-sync", passwords=[d.password_credential("forever", now - timedelta(days=30),
                                                                          now + 2 * year)])
    app_expiring = d.application("reporting", passwords=[d.password_credential("rotate-me", now - timedelta(days=350),
                                                                              now + timedelta(days=10))])
    sp_good = d.service_principal(app_good, TENANT, passwords=[d.password_credential("sp", now, now + year / 2)])
    sp_bad = d.service_principal(app_bad, TENANT, passwords=[d.password_credential("sp", now, now + 3 * year)])
    t.applications += [app_good, app_bad, app_expiring]
    t.service_principals += [sp_good, sp_bad]
    ids.update(app_good=app_good["id"], app_bad=app_bad["id"], app_expiring=app_expiring["id"],
               sp_good=sp_good["id"], sp_bad=sp_bad["id"])


def _directory(t: AzureTenant, ids: dict[str, str], people: dict[str, dict[str, Any]], now: datetime) -> None:
    ga = d.role_assignment(people["alice"], d.GLOBAL_ADMINISTRATOR)
    sec = d.role_assignment(people["mallory"], d.SECURITY_ADMINISTRATOR)
    users_admin = d.role_assignment(people["dave"], d.USER_ADMINISTRATOR)
    t.role_assignments += [ga, sec, users_admin]
    t.schedule_instances += [d.schedule_instance(a) for a in (ga, sec, users_admin)]
    t.ca_policies += [
        d.ca_policy("Require MFA for all users", state="enabledForReportingButNotEnforced",
                    exclude_users=[people["alice"]["id"]], modified=now - timedelta(days=100)),
        d.ca_policy("Block legacy authentication (pilot)", state="enabledForReportingButNotEnforced",
                    client_app_types=["exchangeActiveSync", "other"], grant=["block"],
                    modified=now - timedelta(days=5)),
    ]
    t.authorization_policy = d.authorization_policy(invites="everyone", guest_role=d.MEMBER_LIKE_GUEST_ROLE,
                                                    users_create_apps=True)
    t.sign_ins += [d.sign_in(people["dave"], now - timedelta(hours=30), mfa=False),
                   d.sign_in(people["erin"], now - timedelta(hours=20), client_app="IMAP4", mfa=False),
                   d.sign_in(people["alice"], now - timedelta(hours=10))]
    t.directory_audits.append(d.directory_audit("Add member to role outside of PIM (permanent)",
                                                now - timedelta(days=2), people["dave"], "User Administrator",
                                                service="PIM"))
    for name in ("alice", "bob", "carol", "dave", "erin", "mallory"):
        ids[f"user_{name}"] = people[name]["id"]
    ids.update(dra_alice=ga["id"], dra_mallory=sec["id"],
               ca_stale=t.ca_policies[0]["id"], ca_recent=t.ca_policies[1]["id"])


def _activity(t: AzureTenant, now: datetime, people: dict[str, dict[str, Any]]) -> None:
    dev = f"/subscriptions/{DEV}"
    body = json.dumps({"Id": "x", "Properties": {"PrincipalId": people["mallory"]["id"], "PrincipalType": "User",
                                                "RoleDefinitionId": f"{dev}/providers/Microsoft.Authorization/"
                                                                    f"roleDefinitions/{i.OWNER}",
                                                "Scope": f"{dev}/resourceGroups/RG-Dev"}})
    grant = f"{dev}/resourceGroups/RG-Dev/providers/Microsoft.Authorization/roleAssignments/{d.guid('grant')}"
    for status in ("Started", "Succeeded"):
        t.add_event(DEV, p.activity_event(DEV, TENANT, "Microsoft.Authorization/roleAssignments/write", grant,
                                          now - timedelta(days=3), caller="dave@acme.example", status=status,
                                          properties={"requestbody": body}))
    t.add_event(DEV, p.activity_event(DEV, TENANT, "Microsoft.Insights/diagnosticSettings/delete",
                                      f"{dev}/providers/microsoft.insights/diagnosticSettings/to-central-logs",
                                      now - timedelta(days=1), caller="dave@acme.example"))
    t.add_event(DEV, p.activity_event(DEV, TENANT, "Microsoft.Authorization/policyAssignments/delete",
                                      f"{dev}/providers/Microsoft.Authorization/policyAssignments/allowed-locations",
                                      now - timedelta(days=2), caller="dave@acme.example", category="Policy"))
    t.add_event(PROD, p.activity_event(PROD, TENANT, "Microsoft.Storage/storageAccounts/write",
                                       i.rid(PROD, "rg-data", "Microsoft.Storage/storageAccounts", "acmeprodlogs"),
                                       now - timedelta(days=1)))


def build(now: datetime | None = None) -> tuple[AzureTenant, dict[str, str]]:
    """The Acme tenant (violations and compliant twins) and the ids of what is in it."""
    now = now or datetime.now(UTC)
    t = AzureTenant(tenant_id=TENANT)
    t.add_subscription(PROD, "Acme Production")
    t.add_subscription(DEV, "Acme Development")
    t.add_subscription(SANDBOX, "Acme Sandbox")
    ids: dict[str, str] = {"tenant": TENANT, "prod": PROD, "dev": DEV, "sandbox": SANDBOX}
    people = _cast(t, now)
    _storage_and_vaults(t, ids, now)
    _network(t, ids)
    _compute(t, ids)
    _sql(t, ids)
    _monitor_and_defender(t, ids)
    _rbac(t, ids, people)
    _apps(t, ids, now)
    _directory(t, ids, people, now)
    _activity(t, now, people)
    return t, ids


def compliant_directory(now: datetime | None = None) -> AzureTenant:
    """A tenant whose tenant-wide Entra ID settings and logs all pass (the twin of `build`'s directory)."""
    now = now or datetime.now(UTC)
    t = AzureTenant(tenant_id="8d4b6f2e-3c5a-4d7b-8f9e-ace000000002", name="Acme Twin")
    alice = t.add_user(d.user("alice@acme.example", last_sign_in=now - timedelta(days=1)), mfa=True, admin=True)
    bob = t.add_user(d.user("bob@acme.example", last_sign_in=now - timedelta(days=1)), mfa=True, admin=True)
    ga = d.role_assignment(alice, d.GLOBAL_ADMINISTRATOR)
    t.role_assignments.append(ga)
    t.schedule_instances.append(d.schedule_instance(ga))
    t.eligibilities.append(d.eligibility(bob, d.GLOBAL_ADMINISTRATOR))
    t.ca_policies += [d.ca_policy("Require MFA for all users", exclude_users=[i.guid("breakglass")]),
                      d.ca_policy("Block legacy authentication", client_app_types=["exchangeActiveSync", "other"],
                                  grant=["block"])]
    t.sign_ins += [d.sign_in(alice, now - timedelta(hours=3)), d.sign_in(bob, now - timedelta(hours=2))]
    return t


def fix(t: AzureTenant, ids: dict[str, str]) -> list[str]:
    """What Acme's platform team fixes between the demo's two runs."""
    nsg = t.arm[ids["nsg_bad"].lower()]
    nsg["properties"]["securityRules"] = [r for r in nsg["properties"]["securityRules"] if r["name"] != "ssh"]
    policy = next(c for c in t.ca_policies if c["id"] == ids["ca_stale"])
    policy["state"] = "enabled"
    for reg in t.registrations:
        if reg["id"] == ids["user_dave"]:
            reg.update(isMfaRegistered=True, isMfaCapable=True, methodsRegistered=["microsoftAuthenticatorPush"])
    return ["Azure: removed the NSG rule opening SSH to the Internet (nsg-open)",
            "Entra ID: switched the 'Require MFA for all users' Conditional Access policy from report-only to on",
            "Entra ID: dave registered an authenticator app"]


def synthetic(count: int, now: datetime | None = None, *, per_type: int = 2) -> AzureTenant:
    """`count` subscriptions with `per_type` resources of each collected kind (the benchmark's tenant)."""
    now = now or datetime.now(UTC)
    t = AzureTenant(tenant_id=TENANT)
    people = _cast(t, now)
    for n in range(count):
        sub = f"{n:08d}-0000-4000-8000-{n:012d}"
        t.add_subscription(sub, f"Bench {n:02d}")
        for k in range(per_type):
            rg = f"rg-{k}"
            sa = i.storage_account(sub, rg, f"bench{n:02d}sa{k}")
            kv = i.key_vault(sub, rg, f"bench{n:02d}kv{k}", TENANT)
            nic = i.network_interface(sub, rg, f"vm{k}-nic")
            vm = i.virtual_machine(sub, rg, f"vm{k}", [nic["id"]], encryption_at_host=True)
            sql = p.sql_server(sub, rg, f"bench{n:02d}sql{k}")
            db = p.sql_database(sql, "app")
            site = p.web_app(sub, rg, f"bench{n:02d}app{k}")
            t.put(sa, i.blob_service(sa["id"]), kv, i.vault_key(kv, "k", expires=now + timedelta(days=90)),
                  i.vault_secret(kv, "s", expires=now + timedelta(days=90)),
                  i.nsg(sub, rg, f"nsg{k}", [i.security_rule("https", 100, ports="443", source="Internet")]),
                  nic, vm, i.disk(sub, rg, f"vm{k}_OsDisk_1", managed_by=vm["id"]),
                  i.vm_extension(vm, "MDE.Linux", "Microsoft.Azure.AzureDefenderForServers", "MDE.Linux"),
                  sql, p.sql_auditing(sql), p.sql_entra_admin(sql, "dba", "x", TENANT), db, p.sql_tde(db),
                  site, p.web_config(site))
        watcher = i.network_watcher(sub)
        t.put(watcher, p.activity_log_setting(sub, "central"), p.security_contact(sub),
              p.role_assignment(f"/subscriptions/{sub}", sub, i.OWNER, people["alice"]["id"]),
              *(p.pricing(sub, plan, standard=True) for plan in p.DEFENDER_PLANS[:4]))
        t.add_event(sub, p.activity_event(sub, TENANT, "Microsoft.Authorization/roleAssignments/write",
                                          f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments/x",
                                          now - timedelta(days=1)))
    t.role_assignments.append(d.role_assignment(people["alice"], d.GLOBAL_ADMINISTRATOR))
    return t
