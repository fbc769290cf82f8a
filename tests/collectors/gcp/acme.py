"""A test organisation with a passing and a failing resource for every GCP rule, named by full resource name.

acme.example (organisation 100000000001) > folder 200 "prod" > project acme-prod (1001);
project acme-dev (1002) sits directly under the organisation. `EXPECTED` lists, per rule, the
full resource names that must pass and fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agent.fakeapi.gcp_world import GcpWorld, audit_config, binding, policy

ORG = "100000000001"
RM = "//cloudresourcemanager.googleapis.com/"
PROD, DEV = "acme-prod", "acme-dev"
NOW = datetime.now(UTC).replace(microsecond=0)
CP = "https://www.googleapis.com/auth/cloud-platform"


@dataclass
class Acme:
    world: GcpWorld
    expected: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)  # rule -> (pass, fail)
    ids: dict[str, str] = field(default_factory=dict)

    def expect(self, rule: str, passing: list[str], failing: list[str]) -> None:
        self.expected[rule] = (passing, failing)


def sa_id(project: str, email: str) -> str:
    return f"//iam.googleapis.com/projects/{project}/serviceAccounts/{email}"


def bucket_id(name: str) -> str:
    return f"//storage.googleapis.com/projects/_/buckets/{name}"


def compute_id(project: str, path: str) -> str:
    return f"//compute.googleapis.com/projects/{project}/{path}"


def build(world: GcpWorld) -> Acme:
    acme = Acme(world)
    w = world
    folder = w.add_folder("200", "prod")
    prod = w.add_project(PROD, "1001", parent=folder.name, labels={"env": "prod"})
    dev = w.add_project(DEV, "1002")
    prod_app = f"app@{PROD}.iam.gserviceaccount.com"
    w.org_iam = policy([binding("roles/resourcemanager.organizationAdmin", "group:platform@acme.example")],
                       [audit_config("allServices", "ADMIN_READ")])
    folder.iam = policy([binding("roles/viewer", "allAuthenticatedUsers")],
                        [audit_config("allServices", "DATA_READ", "DATA_WRITE")])
    prod.iam = policy([
        binding("roles/owner", "user:bob@acme.example"),
        binding("roles/editor", f"serviceAccount:{prod.compute_sa}", "user:contractor@gmail.com"),
        binding("roles/iam.serviceAccountUser", "user:ci@acme.example", "user:ops@acme.example"),
        binding("roles/iam.serviceAccountAdmin", "user:ops@acme.example"),
        binding("roles/cloudkms.admin", "user:keys@acme.example"),
        binding("roles/cloudkms.cryptoKeyEncrypterDecrypter", "user:keys@acme.example"),
        binding("roles/storage.admin", f"serviceAccount:{prod_app}"),
        binding("roles/viewer", f"serviceAccount:old@{PROD}.iam.gserviceaccount.com"),
        binding("roles/owner", "user:temp@acme.example",
                condition={"title": "until-2030", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}),
    ])
    dev.iam = policy([
        binding("roles/viewer", "group:devs@acme.example", "user:pat@partner.example"),
        binding("roles/editor", "serviceAccount:1002@cloudservices.gserviceaccount.com"),
        binding("roles/iam.serviceAccountTokenCreator",
                "serviceAccount:service-1002@gcp-sa-pubsub.iam.gserviceaccount.com"),
        binding("roles/cloudkms.cryptoKeyEncrypterDecrypter", "user:app-owner@acme.example"),
    ], [audit_config("storage.googleapis.com", "DATA_READ", exempted={"DATA_READ": ["user:batch@acme.example"]})])
    p_prod, p_dev, p_org, p_folder = RM + "projects/1001", RM + "projects/1002", RM + f"organizations/{ORG}", \
        RM + "folders/200"
    acme.expect("gcp.iam.no_basic_roles_for_people", [p_dev, p_org], [p_prod])
    acme.expect("gcp.iam.no_public_principals", [p_dev, p_prod, p_org], [p_folder])
    acme.expect("gcp.iam.no_broad_service_account_impersonation", [p_dev], [p_prod])
    acme.expect("gcp.iam.service_accounts_not_admin", [p_dev], [p_prod])
    acme.expect("gcp.iam.separate_service_account_admin_and_user", [p_dev], [p_prod])
    acme.expect("gcp.iam.separate_kms_admin_and_crypto", [p_dev], [p_prod])
    acme.expect("gcp.iam.members_in_company_domains", [p_dev, p_org], [p_prod])
    acme.expect("gcp.logging.data_access_logs_enabled", [p_prod], [p_dev])
    acme.expect("gcp.logging.audit_logs_without_exemptions", [p_prod], [p_dev])

    # -- service accounts and keys ---------------------------------------------------------
    w.add_service_account(prod, "app", display_name="Application")
    w.add_service_account(prod, "old", disabled=True)
    w.add_service_account(prod, "compute", email=prod.compute_sa, display_name="Compute Engine default")
    w.add_service_account(dev, "runner")
    w.add_service_account(dev, "retired", disabled=True)
    w.add_service_account(dev, "compute", email=dev.compute_sa, display_name="Compute Engine default")
    old_key = w.add_sa_key(prod, prod_app, NOW - timedelta(days=200))
    new_key = w.add_sa_key(prod, prod_app, NOW - timedelta(days=10))
    w.add_sa_key(prod, prod_app, NOW - timedelta(days=400), disabled=True)
    acme.expect("gcp.iam.default_service_account_not_editor", [sa_id(DEV, dev.compute_sa)],
                [sa_id(PROD, prod.compute_sa)])
    acme.expect("gcp.iam.service_account_no_user_managed_keys", [sa_id(DEV, f"runner@{DEV}.iam.gserviceaccount.com")],
                [sa_id(PROD, prod_app)])
    acme.expect("gcp.iam.disabled_service_account_unbound", [sa_id(DEV, f"retired@{DEV}.iam.gserviceaccount.com")],
                [sa_id(PROD, f"old@{PROD}.iam.gserviceaccount.com")])
    acme.expect("gcp.iam.service_account_key_rotated", ["//iam.googleapis.com/" + new_key["name"]],
                ["//iam.googleapis.com/" + old_key["name"]])
    acme.ids["old_key"] = "//iam.googleapis.com/" + old_key["name"]

    # -- Cloud Storage ---------------------------------------------------------------------
    w.add_bucket(prod, "acme-prod-logs", retentionPolicy={"retentionPeriod": str(400 * 86400),
                                                           "effectiveTime": "2024-01-15T09:30:00.000Z",
                                                           "isLocked": True})
    w.add_bucket(prod, "acme-prod-data", iamConfiguration={"uniformBucketLevelAccess": {"enabled": False},
                                                           "bucketPolicyOnly": {"enabled": False},
                                                           "publicAccessPrevention": "inherited"},
                 versioning={"enabled": False},
                 iam=policy([binding("roles/storage.objectViewer", "allUsers")]))
    w.add_bucket(dev, "acme-dev-scratch", iamConfiguration={"publicAccessPrevention": "inherited"})
    w.add_bucket(dev, "acme-dev-archive", retentionPolicy={"retentionPeriod": str(30 * 86400),
                                                            "effectiveTime": "2024-01-15T09:30:00.000Z"})
    dev.org_policies["storage.publicAccessPrevention"] = {"rules": [{"enforce": True}]}
    acme.expect("gcp.storage.uniform_bucket_level_access", [bucket_id("acme-prod-logs")], [bucket_id("acme-prod-data")])
    acme.expect("gcp.storage.public_access_prevention", [bucket_id("acme-prod-logs"), bucket_id("acme-dev-scratch")],
                [bucket_id("acme-prod-data")])
    acme.expect("gcp.storage.bucket_not_public", [bucket_id("acme-prod-logs")], [bucket_id("acme-prod-data")])
    acme.expect("gcp.storage.versioning_enabled", [bucket_id("acme-prod-logs")], [bucket_id("acme-prod-data")])
    acme.expect("gcp.logging.sink_bucket_retention_locked", [bucket_id("acme-prod-logs")],
                [bucket_id("acme-dev-archive")])

    # -- Compute Engine --------------------------------------------------------------------
    w.set_project_metadata(prod, **{"enable-oslogin": "TRUE", "startup-script": "echo secret-canary-123"})
    w.add_network(prod, "prod-vpc")
    w.add_network(dev, "default")
    w.add_network(dev, "old-net", legacy=True)
    world_ranges = ["0.0.0.0/0"]
    w.add_firewall(prod, "allow-ssh-world", allowed=[{"IPProtocol": "tcp", "ports": ["22"]}],
                   source_ranges=world_ranges, logConfig={"enable": False})
    w.add_firewall(prod, "allow-https-world", allowed=[{"IPProtocol": "tcp", "ports": ["443"]}],
                   source_ranges=world_ranges)
    w.add_firewall(prod, "allow-pg-world", allowed=[{"IPProtocol": "tcp", "ports": ["5432"]}],
                   source_ranges=world_ranges)
    w.add_firewall(prod, "allow-range-v6", allowed=[{"IPProtocol": "tcp", "ports": ["1000-4000"]}],
                   source_ranges=["::/0"])
    w.add_firewall(prod, "allow-all-internal", allowed=[{"IPProtocol": "all"}], source_ranges=["10.0.0.0/8"])
    w.add_firewall(prod, "deny-egress", allowed=[], direction="EGRESS", destinationRanges=["0.0.0.0/0"],
                   denied=[{"IPProtocol": "all"}], sourceRanges=None)
    w.add_firewall(dev, "disabled-ssh", allowed=[{"IPProtocol": "tcp", "ports": ["22"]}], source_ranges=world_ranges,
                   disabled=True)
    fw = lambda p, n: compute_id(p, f"global/firewalls/{n}")  # noqa: E731
    acme.expect("gcp.compute.firewall_no_public_admin_ports", [fw(PROD, "allow-https-world")],
                [fw(PROD, "allow-ssh-world"), fw(PROD, "allow-range-v6")])
    acme.expect("gcp.compute.firewall_no_public_database_ports", [fw(PROD, "allow-https-world")],
                [fw(PROD, "allow-pg-world")])
    acme.expect("gcp.compute.firewall_logging_enabled", [fw(PROD, "allow-https-world")], [fw(PROD, "allow-ssh-world")])
    acme.ids["internal_fw"] = fw(PROD, "allow-all-internal")
    acme.ids["disabled_fw"] = fw(DEV, "disabled-ssh")
    acme.expect("gcp.compute.project_os_login_enabled", [compute_id(PROD, "")[:-1]], [compute_id(DEV, "")[:-1]])
    web = w.add_instance(prod, "europe-west1-b", "web-1", external_ip="34.77.1.2",
                         service_account=prod_app, scopes=[CP])
    w.add_instance(prod, "europe-west1-c", "legacy-1",
                   metadata={"enable-oslogin": "FALSE", "serial-port-enable": "1", "ssh-keys": "bob:ssh-rsa AAAA"},
                   canIpForward=True, shieldedInstanceConfig={"enableSecureBoot": False, "enableVtpm": False})
    w.add_instance(dev, "us-central1-a", "dev-box", scopes=[CP], metadata={"block-project-ssh-keys": "false"})
    w.add_instance(dev, "us-central1-a", "gke-pool-1-abcd", external_ip="34.1.1.1")
    vm = lambda p, z, n: compute_id(p, f"zones/{z}/instances/{n}")  # noqa: E731
    web_id, legacy_id = vm(PROD, "europe-west1-b", "web-1"), vm(PROD, "europe-west1-c", "legacy-1")
    devbox_id, gke_id = vm(DEV, "us-central1-a", "dev-box"), vm(DEV, "us-central1-a", "gke-pool-1-abcd")
    assert web["name"] == "web-1"
    acme.ids.update(web=web_id, legacy=legacy_id, devbox=devbox_id, gke=gke_id)
    acme.expect("gcp.compute.instance_os_login_enabled", [web_id], [legacy_id, devbox_id])
    acme.expect("gcp.compute.instance_serial_port_disabled", [web_id, devbox_id], [legacy_id])
    acme.expect("gcp.compute.instance_blocks_project_ssh_keys", [web_id], [legacy_id, devbox_id])
    acme.expect("gcp.compute.instance_no_public_ip", [legacy_id, devbox_id], [web_id])
    acme.expect("gcp.compute.instance_shielded_vm", [web_id], [legacy_id])
    acme.expect("gcp.compute.instance_secure_boot", [web_id], [legacy_id])
    acme.expect("gcp.compute.instance_no_default_sa_full_access", [web_id, legacy_id], [devbox_id])
    acme.expect("gcp.compute.instance_ip_forwarding_disabled", [web_id], [legacy_id])
    acme.expect("gcp.compute.no_default_network", [compute_id(PROD, "global/networks/prod-vpc")],
                [compute_id(DEV, "global/networks/default")])
    acme.expect("gcp.compute.no_legacy_network", [compute_id(PROD, "global/networks/prod-vpc")],
                [compute_id(DEV, "global/networks/old-net")])

    # -- Cloud SQL (not enabled in acme-dev) -----------------------------------------------
    dev.disabled_apis.add("sqladmin.googleapis.com")
    w.add_sql_instance(prod, "orders-db")
    w.add_sql_instance(prod, "reports-db", "MYSQL_8_0", settings={
        "ipConfiguration": {"ipv4Enabled": True, "requireSsl": False, "sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED",
                            "authorizedNetworks": [{"value": "0.0.0.0/0", "name": "anywhere", "kind": "sql#aclEntry"}]},
        "backupConfiguration": {"enabled": False, "binaryLogEnabled": False}})
    w.add_sql_instance(prod, "reports-db-replica", "MYSQL_8_0", instanceType="READ_REPLICA_INSTANCE",
                       masterInstanceName=f"{PROD}:reports-db",
                       settings={"backupConfiguration": {"enabled": False, "binaryLogEnabled": False}})
    sql = lambda n: f"//cloudsql.googleapis.com/projects/{PROD}/instances/{n}"  # noqa: E731
    acme.ids["replica"] = sql("reports-db-replica")
    for rule in ("gcp.sql.no_public_authorized_networks", "gcp.sql.ssl_required", "gcp.sql.automated_backups",
                 "gcp.sql.point_in_time_recovery", "gcp.sql.no_public_ip"):
        acme.expect(rule, [sql("orders-db")], [sql("reports-db")])

    # -- Cloud KMS -------------------------------------------------------------------------
    w.add_crypto_key(prod, "europe-west1", "app", "data", rotation_days=90)
    w.add_crypto_key(prod, "europe-west1", "app", "legacy", rotation_days=None,
                     iam=policy([binding("roles/cloudkms.cryptoKeyDecrypter", "allAuthenticatedUsers")]))
    w.add_crypto_key(prod, "europe-west1", "app", "signing", rotation_days=None, purpose="ASYMMETRIC_SIGN")
    w.add_crypto_key(dev, "global", "dev", "yearly", rotation_days=365)
    w.add_crypto_key(dev, "europe-west1", "dev", "ekm", rotation_days=None,
                     versionTemplate={"protectionLevel": "EXTERNAL", "algorithm": "EXTERNAL_SYMMETRIC_ENCRYPTION"})
    key = lambda p, loc, r, k: f"//cloudkms.googleapis.com/projects/{p}/locations/{loc}/keyRings/{r}/cryptoKeys/{k}"  # noqa: E731
    acme.ids["signing"] = key(PROD, "europe-west1", "app", "signing")
    acme.ids["ekm"] = key(DEV, "europe-west1", "dev", "ekm")
    acme.expect("gcp.kms.key_rotation", [key(PROD, "europe-west1", "app", "data")],
                [key(PROD, "europe-west1", "app", "legacy"), key(DEV, "global", "dev", "yearly")])
    acme.expect("gcp.kms.key_not_public", [key(PROD, "europe-west1", "app", "data")],
                [key(PROD, "europe-west1", "app", "legacy")])

    # -- Logging ---------------------------------------------------------------------------
    prod.sinks.append(w.sink("audit-export", "storage.googleapis.com/acme-prod-logs", parent_number="1001"))
    dev.sinks.append(w.sink("archive", "storage.googleapis.com/acme-dev-archive", parent_number="1002",
                            filter_='severity>=WARNING'))
    w.org_sinks.append(w.sink("org-security", "bigquery.googleapis.com/projects/acme-prod/datasets/security",
                              filter_='logName:"cloudaudit"', include_children=True))
    acme.expect("gcp.logging.project_logs_exported", [p_prod], [p_dev])
    lb = lambda p, b: f"//logging.googleapis.com/projects/{p}/locations/global/buckets/{b}"  # noqa: E731
    acme.expect("gcp.logging.bucket_retention", [lb(PROD, "_Required")], [lb(PROD, "_Default")])

    # -- organisation policies -------------------------------------------------------------
    w.org_policies.update({
        "iam.allowedPolicyMemberDomains": {"rules": [{"values": {"allowedValues": ["is:C01abcd2e"]}}]},
        "storage.uniformBucketLevelAccess": {"rules": [{"enforce": True}]},
        "iam.disableServiceAccountKeyCreation": {"rules": [{"enforce": True}]},
        "compute.skipDefaultNetworkCreation": {"rules": [{"enforce": True}]},
    })
    prod.org_policies.update({"iam.allowedPolicyMemberDomains": {"rules": [{"allowAll": True}]},
                              "iam.disableServiceAccountKeyCreation": {"rules": [{"enforce": False}]},
                              "compute.requireOsLogin": {"rules": [{"enforce": True}]}})
    dev.org_policies.update({"storage.uniformBucketLevelAccess": {"rules": [{"enforce": False}]},
                             "compute.skipDefaultNetworkCreation": {"rules": [{"enforce": False}]}})
    op = lambda scope, c: f"//orgpolicy.googleapis.com/{scope}/policies/{c}"  # noqa: E731
    org_scope, prod_scope, dev_scope = f"organizations/{ORG}", "projects/1001", "projects/1002"
    acme.expect("gcp.orgpolicy.domain_restricted_sharing", [op(org_scope, "iam.allowedPolicyMemberDomains")],
                [op(prod_scope, "iam.allowedPolicyMemberDomains")])
    acme.expect("gcp.orgpolicy.uniform_bucket_access_enforced", [op(org_scope, "storage.uniformBucketLevelAccess")],
                [op(dev_scope, "storage.uniformBucketLevelAccess")])
    acme.expect("gcp.orgpolicy.public_access_prevention_enforced", [op(dev_scope, "storage.publicAccessPrevention")],
                [op(prod_scope, "storage.publicAccessPrevention")])
    acme.expect("gcp.orgpolicy.service_account_key_creation_disabled",
                [op(org_scope, "iam.disableServiceAccountKeyCreation")],
                [op(prod_scope, "iam.disableServiceAccountKeyCreation")])
    acme.expect("gcp.orgpolicy.require_os_login", [op(prod_scope, "compute.requireOsLogin")],
                [op(dev_scope, "compute.requireOsLogin")])
    acme.expect("gcp.orgpolicy.skip_default_network", [op(org_scope, "compute.skipDefaultNetworkCreation")],
                [op(dev_scope, "compute.skipDefaultNetworkCreation")])

    # -- Cloud Audit Logs ------------------------------------------------------------------
    w.audit_entry(prod, NOW - timedelta(days=5), "google.logging.v2.ConfigServiceV2.DeleteSink",
                  service="logging.googleapis.com", resource=f"projects/{PROD}/sinks/old-export",
                  principal="mallory@acme.example", request={"sinkName": f"projects/{PROD}/sinks/old-export"})
    w.audit_entry(prod, NOW - timedelta(days=3), "google.iam.admin.v1.CreateServiceAccountKey",
                  service="iam.googleapis.com", resource=f"projects/-/serviceAccounts/{prod_app}",
                  response={"name": f"projects/{PROD}/serviceAccounts/{prod_app}/keys/abc",
                            "privateKeyData": "c2VjcmV0LWtleS1jYW5hcnk=", "keyAlgorithm": "KEY_ALG_RSA_2048"})
    w.audit_entry(prod, NOW - timedelta(days=2), "SetIamPolicy", service="cloudresourcemanager.googleapis.com",
                  resource=f"projects/{PROD}", binding_deltas=[
                      {"action": "ADD", "role": "roles/viewer", "member": "allUsers"}])
    w.audit_entry(dev, NOW - timedelta(days=1), "SetIamPolicy", service="cloudresourcemanager.googleapis.com",
                  resource=f"projects/{DEV}", binding_deltas=[
                      {"action": "ADD", "role": "roles/viewer", "member": "group:devs@acme.example"}])
    w.audit_entry(dev, NOW - timedelta(hours=5), "google.logging.v2.ConfigServiceV2.UpdateSink",
                  service="logging.googleapis.com", resource=f"projects/{DEV}/sinks/archive",
                  request={"sink": {"name": "archive", "disabled": False}})
    activity = lambda p: f"//logging.googleapis.com/projects/{p}/logs/cloudaudit.googleapis.com%2Factivity"  # noqa: E731
    acme.ids["prod_activity"], acme.ids["dev_activity"] = activity(PROD), activity(DEV)
    for rule in ("gcp.logging.no_log_sink_removed", "gcp.iam.no_recent_service_account_key_creation",
                 "gcp.iam.no_risky_grants_recorded"):
        acme.expect(rule, [activity(DEV)], [activity(PROD)])
    return acme
