"""The in-memory Google Cloud organisation behind the GCP fake: objects in the exact JSON shape the APIs return.

Builders (`add_project`, `add_bucket`, `add_instance`, ...) fill every field the real API sends with
realistic defaults; keyword overrides change what a test or the demo needs. The routes that serve
this world live in `agent.fakeapi.gcp`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

COMPUTE_LINK = "https://www.googleapis.com/compute/v1"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TIME = "2024-01-15T09:30:00.000Z"
_ids = itertools.count(4_100_000_000_000_000_000)


def next_id() -> str:
    return str(next(_ids))


def etag(seed: str) -> str:
    """A base64 etag like the ones Google sends (client libraries decode IAM etags as bytes)."""
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()[:8]).decode()


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`: nested objects merge, `None` removes a key."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def policy(bindings: list[dict[str, Any]] | None = None, audit_configs: list[dict[str, Any]] | None = None,
           seed: str = "") -> dict[str, Any]:
    """An IAM policy (google.iam.v1.Policy JSON): version 3 when a binding has a condition."""
    bindings = bindings or []
    out: dict[str, Any] = {"version": 3 if any("condition" in b for b in bindings) else 1,
                           "etag": etag(seed or repr(bindings)), "bindings": bindings}
    if audit_configs:
        out["auditConfigs"] = audit_configs
    return out


def binding(role: str, *members: str, condition: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"role": role, "members": list(members)}
    if condition:
        out["condition"] = condition
    return out


def audit_config(service: str, *log_types: str, exempted: dict[str, list[str]] | None = None) -> dict[str, Any]:
    configs = []
    for log_type in log_types:
        entry: dict[str, Any] = {"logType": log_type}
        if exempted and exempted.get(log_type):
            entry["exemptedMembers"] = exempted[log_type]
        configs.append(entry)
    return {"service": service, "auditLogConfigs": configs}


@dataclass
class GcpFolder:
    folder_id: str
    parent: str
    display_name: str
    iam: dict[str, Any] = field(default_factory=policy)
    sinks: list[dict[str, Any]] = field(default_factory=list)
    hidden: bool = False  # the credentials cannot see it (search skips it, reads are denied)

    @property
    def name(self) -> str:
        return f"folders/{self.folder_id}"

    def body(self) -> dict[str, Any]:
        return {"name": self.name, "parent": self.parent, "displayName": self.display_name, "state": "ACTIVE",
                "createTime": DEFAULT_TIME, "updateTime": DEFAULT_TIME, "etag": f"W/\"{etag(self.name)}\""}


@dataclass
class GcpProject:
    project_id: str
    number: str
    parent: str
    display_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    state: str = "ACTIVE"
    iam: dict[str, Any] = field(default_factory=policy)
    disabled_apis: set[str] = field(default_factory=set)   # e.g. {"sqladmin.googleapis.com"}
    denied: dict[str, str] = field(default_factory=dict)    # path regex -> permission named in the 403
    service_accounts: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # e-mail -> keys (all types)
    buckets: list[dict[str, Any]] = field(default_factory=list)
    bucket_iam: dict[str, dict[str, Any]] = field(default_factory=dict)
    compute: dict[str, Any] = field(default_factory=dict)
    firewalls: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    zones: list[str] = field(default_factory=lambda: ["europe-west1-b", "europe-west1-c", "us-central1-a"])
    instances: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unreachable_zones: list[str] = field(default_factory=list)
    sql: list[dict[str, Any]] = field(default_factory=list)
    kms_locations: list[str] = field(default_factory=lambda: ["global", "europe-west1", "us-central1", "europe"])
    key_rings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)     # location -> key rings
    crypto_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # key ring name -> keys
    key_iam: dict[str, dict[str, Any]] = field(default_factory=dict)
    sinks: list[dict[str, Any]] = field(default_factory=list)
    log_buckets: list[dict[str, Any]] = field(default_factory=list)
    org_policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # constraint -> effective spec
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"projects/{self.number}"

    def body(self) -> dict[str, Any]:
        return {"name": self.name, "parent": self.parent, "projectId": self.project_id, "state": self.state,
                "displayName": self.display_name or self.project_id, "createTime": DEFAULT_TIME,
                "updateTime": DEFAULT_TIME, "etag": f"W/\"{etag(self.name)}\"", "labels": dict(self.labels)}

    @property
    def compute_sa(self) -> str:
        return f"{self.number}-compute@developer.gserviceaccount.com"


class GcpWorld:
    """One organisation (optional), its folders and projects, and the tokens the fake accepts."""

    def __init__(self, org_id: str | None = "100000000001", domain: str = "acme.example",
                 customer_id: str = "C01abcd2e"):
        self.org_id = org_id
        self.domain = domain
        self.customer_id = customer_id
        self.org_iam: dict[str, Any] = policy()
        self.org_sinks: list[dict[str, Any]] = []
        self.org_policies: dict[str, dict[str, Any]] = {}
        self.org_denied = False
        self.folders: list[GcpFolder] = []
        self.projects: list[GcpProject] = []
        self.tokens: set[str] = set()
        self.signing_keys: dict[str, Any] = {}      # service-account key id -> public key (JWT check)
        self.refresh_tokens: set[str] = set()
        self.entries_requests: list[dict[str, Any]] = []
        self.page_limit: int | None = None  # serve at most this many items per page (servers may send fewer)

    # -- hierarchy -------------------------------------------------------------------------
    @property
    def org_name(self) -> str | None:
        return f"organizations/{self.org_id}" if self.org_id else None

    def org_body(self) -> dict[str, Any]:
        return {"name": self.org_name, "displayName": self.domain, "directoryCustomerId": self.customer_id,
                "state": "ACTIVE", "createTime": "2020-03-01T08:00:00.000Z", "updateTime": DEFAULT_TIME,
                "etag": f"W/\"{etag(str(self.org_name))}\""}

    def add_folder(self, folder_id: str, display_name: str, parent: str | None = None) -> GcpFolder:
        folder = GcpFolder(folder_id, parent or str(self.org_name), display_name)
        self.folders.append(folder)
        return folder

    def add_project(self, project_id: str, number: str, parent: str | None = None, **kw: Any) -> GcpProject:
        project = GcpProject(project_id, number, parent or str(self.org_name), **kw)
        project.compute = {
            "kind": "compute#project", "id": next_id(), "creationTimestamp": "2024-01-15T01:30:00.000-08:00",
            "name": project_id, "commonInstanceMetadata": {"kind": "compute#metadata",
                                                           "fingerprint": etag(project_id), "items": []},
            "selfLink": f"{COMPUTE_LINK}/projects/{project_id}", "defaultServiceAccount": project.compute_sa,
            "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS", "defaultNetworkTier": "PREMIUM",
            "vmDnsSetting": "ZONAL_ONLY"}
        project.log_buckets = [
            self._log_bucket(project, "global", "_Required", 400, locked=True, description="Audit bucket"),
            self._log_bucket(project, "global", "_Default", 30, description="Default bucket")]
        project.sinks = [
            {"name": "_Required", "destination": f"logging.googleapis.com/projects/{project_id}/locations/global/"
             "buckets/_Required", "filter": 'LOG_ID("cloudaudit.googleapis.com/activity") OR '
             'LOG_ID("externalaudit.googleapis.com/activity") OR LOG_ID("cloudaudit.googleapis.com/system_event")',
             "writerIdentity": "serviceAccount:service-" + project.number + "@gcp-sa-logging.iam.gserviceaccount.com",
             "createTime": DEFAULT_TIME, "updateTime": DEFAULT_TIME},
            {"name": "_Default", "destination": f"logging.googleapis.com/projects/{project_id}/locations/global/"
             "buckets/_Default", "filter": 'NOT LOG_ID("cloudaudit.googleapis.com/activity") AND NOT '
             'LOG_ID("externalaudit.googleapis.com/activity")',
             "writerIdentity": "serviceAccount:service-" + project.number + "@gcp-sa-logging.iam.gserviceaccount.com",
             "createTime": DEFAULT_TIME, "updateTime": DEFAULT_TIME}]
        self.projects.append(project)
        return project

    def project(self, key: str) -> GcpProject | None:
        """A project by id, number or `projects/<id or number>`."""
        key = key.removeprefix("projects/")
        return next((p for p in self.projects if key in (p.project_id, p.number)), None)

    def folder(self, key: str) -> GcpFolder | None:
        key = key.removeprefix("folders/")
        return next((f for f in self.folders if f.folder_id == key), None)

    # -- IAM -------------------------------------------------------------------------------
    def add_service_account(self, project: GcpProject, account_id: str, *, email: str | None = None,
                            display_name: str = "", disabled: bool = False) -> dict[str, Any]:
        email = email or f"{account_id}@{project.project_id}.iam.gserviceaccount.com"
        unique = next_id()[:21]
        sa: dict[str, Any] = {"name": f"projects/{project.project_id}/serviceAccounts/{email}",
                              "projectId": project.project_id, "uniqueId": unique, "email": email,
                              "displayName": display_name or account_id, "etag": "MDEwMjE5MjA=",
                              "oauth2ClientId": unique}
        if disabled:
            sa["disabled"] = True
        project.service_accounts.append(sa)
        project.keys.setdefault(email, []).append(self._key(sa, "SYSTEM_MANAGED", datetime.now(UTC)))
        return sa

    def add_sa_key(self, project: GcpProject, email: str, created: datetime, *, disabled: bool = False,
                   key_type: str = "USER_MANAGED") -> dict[str, Any]:
        sa = next(s for s in project.service_accounts if s["email"] == email)
        key = self._key(sa, key_type, created)
        if disabled:
            key["disabled"] = True
        project.keys.setdefault(email, []).append(key)
        return key

    @staticmethod
    def _key(sa: dict[str, Any], key_type: str, created: datetime) -> dict[str, Any]:
        key_id = hashlib.sha1(f"{sa['email']}{created.isoformat()}{key_type}{next_id()}".encode()).hexdigest()
        until = "9999-12-31T23:59:59Z" if key_type == "USER_MANAGED" else iso(created + timedelta(days=14))
        return {"name": f"{sa['name']}/keys/{key_id}", "validAfterTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "validBeforeTime": until, "keyAlgorithm": "KEY_ALG_RSA_2048",
                "keyOrigin": "GOOGLE_PROVIDED", "keyType": key_type}

    # -- Cloud Storage ---------------------------------------------------------------------
    def add_bucket(self, project: GcpProject, name: str, *, iam: dict[str, Any] | None = None,
                   **overrides: Any) -> dict[str, Any]:
        bucket = {
            "kind": "storage#bucket", "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}", "id": name,
            "name": name, "projectNumber": project.number, "generation": "1705311000000000",
            "metageneration": "1", "location": "EU", "storageClass": "STANDARD", "etag": "CAE=",
            "timeCreated": DEFAULT_TIME, "updated": DEFAULT_TIME,
            "softDeletePolicy": {"retentionDurationSeconds": "604800", "effectiveTime": DEFAULT_TIME},
            "iamConfiguration": {"bucketPolicyOnly": {"enabled": True, "lockedTime": "2024-04-14T09:30:00.000Z"},
                                 "uniformBucketLevelAccess": {"enabled": True,
                                                              "lockedTime": "2024-04-14T09:30:00.000Z"},
                                 "publicAccessPrevention": "enforced"},
            "locationType": "multi-region", "versioning": {"enabled": True}, "rpo": "DEFAULT"}
        bucket = deep_merge(bucket, overrides)
        project.buckets.append(bucket)
        bucket_policy = iam or policy([
            binding("roles/storage.legacyBucketOwner", f"projectEditor:{project.project_id}",
                    f"projectOwner:{project.project_id}"),
            binding("roles/storage.legacyBucketReader", f"projectViewer:{project.project_id}")], seed=name)
        project.bucket_iam[name] = {"kind": "storage#policy", "resourceId": f"projects/_/buckets/{name}",
                                    **bucket_policy}
        return bucket

    # -- Compute Engine --------------------------------------------------------------------
    def add_network(self, project: GcpProject, name: str, *, legacy: bool = False) -> dict[str, Any]:
        link = f"{COMPUTE_LINK}/projects/{project.project_id}/global/networks/{name}"
        network: dict[str, Any] = {"kind": "compute#network", "id": next_id(),
                                   "creationTimestamp": "2024-01-15T01:30:00.000-08:00", "name": name,
                                   "selfLink": link, "selfLinkWithId": link,
                                   "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL"}
        if legacy:
            network.update({"IPv4Range": "10.240.0.0/16", "gatewayIPv4": "10.240.0.1"})
        else:
            network.update({"autoCreateSubnetworks": name == "default", "routingConfig": {"routingMode": "REGIONAL"},
                            "subnetworks": [f"{COMPUTE_LINK}/projects/{project.project_id}/regions/europe-west1/"
                                            f"subnetworks/{name}"]})
        project.networks.append(network)
        return network

    def add_firewall(self, project: GcpProject, name: str, *, allowed: list[dict[str, Any]] | None = None,
                     source_ranges: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
        link = f"{COMPUTE_LINK}/projects/{project.project_id}/global/firewalls/{name}"
        rule: dict[str, Any] = {
            "kind": "compute#firewall", "id": next_id(), "creationTimestamp": "2024-01-15T01:30:00.000-08:00",
            "name": name, "description": "", "network": f"{COMPUTE_LINK}/projects/{project.project_id}/global/"
            "networks/default", "priority": 1000, "sourceRanges": source_ranges or ["10.0.0.0/8"],
            "allowed": allowed if allowed is not None else [{"IPProtocol": "tcp", "ports": ["443"]}],
            "direction": "INGRESS", "logConfig": {"enable": True, "metadata": "INCLUDE_ALL_METADATA"},
            "disabled": False, "selfLink": link}
        rule = deep_merge(rule, overrides)
        project.firewalls.append(rule)
        return rule

    def add_instance(self, project: GcpProject, zone: str, name: str, *, metadata: dict[str, str] | None = None,
                     external_ip: str | None = None, service_account: str | None = "",
                     scopes: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
        base = f"{COMPUTE_LINK}/projects/{project.project_id}"
        region = zone.rsplit("-", 1)[0]
        nic: dict[str, Any] = {"kind": "compute#networkInterface", "network": f"{base}/global/networks/default",
                               "subnetwork": f"{base}/regions/{region}/subnetworks/default",
                               "networkIP": "10.132.0.2", "name": "nic0", "fingerprint": etag(name),
                               "stackType": "IPV4_ONLY"}
        if external_ip:
            nic["accessConfigs"] = [{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                                     "name": "External NAT", "natIP": external_ip, "networkTier": "PREMIUM"}]
        instance: dict[str, Any] = {
            "kind": "compute#instance", "id": next_id(), "creationTimestamp": "2024-02-01T02:00:00.000-08:00",
            "name": name, "tags": {"fingerprint": "42WmSpB8rSM="},
            "machineType": f"{base}/zones/{zone}/machineTypes/e2-medium", "status": "RUNNING",
            "zone": f"{base}/zones/{zone}", "canIpForward": False, "networkInterfaces": [nic],
            "disks": [{"kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE",
                       "source": f"{base}/zones/{zone}/disks/{name}", "deviceName": "persistent-disk-0",
                       "index": 0, "boot": True, "autoDelete": True, "interface": "SCSI",
                       "diskSizeGb": "10", "architecture": "X86_64"}],
            "metadata": {"kind": "compute#metadata", "fingerprint": etag(name + "md"),
                         "items": [{"key": k, "value": v} for k, v in (metadata or {}).items()]},
            "selfLink": f"{base}/zones/{zone}/instances/{name}",
            "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False,
                           "provisioningModel": "STANDARD"},
            "cpuPlatform": "Intel Broadwell", "labelFingerprint": "42WmSpB8rSM=",
            "startRestricted": False, "deletionProtection": False,
            "shieldedInstanceConfig": {"enableSecureBoot": True, "enableVtpm": True,
                                       "enableIntegrityMonitoring": True},
            "shieldedInstanceIntegrityPolicy": {"updateAutoLearnPolicy": True},
            "fingerprint": etag(name + "fp"), "lastStartTimestamp": "2024-02-01T02:00:10.000-08:00"}
        if service_account is not None:
            instance["serviceAccounts"] = [{"email": service_account or project.compute_sa,
                                            "scopes": scopes or ["https://www.googleapis.com/auth/devstorage.read_only",
                                                                 "https://www.googleapis.com/auth/logging.write"]}]
        instance = deep_merge(instance, overrides)
        project.instances.setdefault(zone, []).append(instance)
        if zone not in project.zones:
            project.zones.append(zone)
        return instance

    def set_project_metadata(self, project: GcpProject, **items: str) -> None:
        md = project.compute["commonInstanceMetadata"]
        kept = [i for i in md["items"] if i["key"] not in items]
        md["items"] = kept + [{"key": k, "value": v} for k, v in items.items()]

    # -- Cloud SQL -------------------------------------------------------------------------
    def add_sql_instance(self, project: GcpProject, name: str, version: str = "POSTGRES_15",
                         region: str = "europe-west1", **overrides: Any) -> dict[str, Any]:
        instance = {
            "kind": "sql#instance", "state": "RUNNABLE", "databaseVersion": version,
            "settings": {"authorizedGaeApplications": [], "tier": "db-custom-2-7680", "kind": "sql#settings",
                         "availabilityType": "ZONAL", "pricingPlan": "PER_USE", "replicationType": "SYNCHRONOUS",
                         "activationPolicy": "ALWAYS",
                         "ipConfiguration": {"authorizedNetworks": [], "ipv4Enabled": False,
                                             "privateNetwork": f"projects/{project.project_id}/global/networks/"
                                             "default", "requireSsl": True, "sslMode": "ENCRYPTED_ONLY"},
                         "locationPreference": {"zone": f"{region}-b", "kind": "sql#locationPreference"},
                         "dataDiskType": "PD_SSD",
                         "backupConfiguration": {"startTime": "02:00", "kind": "sql#backupConfiguration",
                                                 "location": "eu", "enabled": True,
                                                 "backupRetentionSettings": {"retentionUnit": "COUNT",
                                                                             "retainedBackups": 7},
                                                 "transactionLogRetentionDays": 7,
                                                 **({"binaryLogEnabled": True} if version.startswith("MYSQL")
                                                    else {"pointInTimeRecoveryEnabled": True})},
                         "settingsVersion": "4", "storageAutoResizeLimit": "0", "storageAutoResize": True,
                         "dataDiskSizeGb": "10", "deletionProtectionEnabled": True, "edition": "ENTERPRISE"},
            "etag": etag(name), "ipAddresses": [{"type": "PRIVATE", "ipAddress": "10.20.0.3"}],
            "instanceType": "CLOUD_SQL_INSTANCE", "project": project.project_id,
            "serviceAccountEmailAddress": f"p{project.number}-abcd12@gcp-sa-cloud-sql.iam.gserviceaccount.com",
            "backendType": "SECOND_GEN",
            "selfLink": f"https://sqladmin.googleapis.com/v1/projects/{project.project_id}/instances/{name}",
            "connectionName": f"{project.project_id}:{region}:{name}", "name": name, "region": region,
            "gceZone": f"{region}-b", "createTime": "2024-02-10T10:00:00.000Z"}
        instance = deep_merge(instance, overrides)
        project.sql.append(instance)
        return instance

    # -- Cloud KMS -------------------------------------------------------------------------
    def add_crypto_key(self, project: GcpProject, location: str, ring: str, key: str, *,
                       rotation_days: float | None = 90, purpose: str = "ENCRYPT_DECRYPT",
                       iam: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        ring_name = f"projects/{project.project_id}/locations/{location}/keyRings/{ring}"
        rings = project.key_rings.setdefault(location, [])
        if not any(r["name"] == ring_name for r in rings):
            rings.append({"name": ring_name, "createTime": "2024-01-20T10:00:00.000000Z"})
        name = f"{ring_name}/cryptoKeys/{key}"
        algorithm = "GOOGLE_SYMMETRIC_ENCRYPTION" if purpose == "ENCRYPT_DECRYPT" else "RSA_SIGN_PSS_2048_SHA256"
        crypto_key: dict[str, Any] = {
            "name": name, "primary": {"name": f"{name}/cryptoKeyVersions/1", "state": "ENABLED",
                                      "createTime": "2024-01-20T10:00:00.000000Z",
                                      "protectionLevel": "SOFTWARE", "algorithm": algorithm,
                                      "generateTime": "2024-01-20T10:00:00.000000Z"},
            "purpose": purpose, "createTime": "2024-01-20T10:00:00.000000Z",
            "versionTemplate": {"protectionLevel": "SOFTWARE", "algorithm": algorithm},
            "destroyScheduledDuration": "2592000s"}
        if purpose != "ENCRYPT_DECRYPT":
            crypto_key.pop("primary")
        if rotation_days is not None:
            crypto_key["rotationPeriod"] = f"{int(rotation_days * 86400)}s"
            crypto_key["nextRotationTime"] = "2026-04-20T10:00:00Z"
        crypto_key = deep_merge(crypto_key, overrides)
        project.crypto_keys.setdefault(ring_name, []).append(crypto_key)
        project.key_iam[name] = iam or policy([binding("roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                                       f"serviceAccount:{project.compute_sa}")], seed=name)
        return crypto_key

    # -- Cloud Logging ---------------------------------------------------------------------
    @staticmethod
    def _log_bucket(project: GcpProject, location: str, bucket_id: str, days: int, *, locked: bool = False,
                    description: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {"name": f"projects/{project.project_id}/locations/{location}/buckets/{bucket_id}",
                               "retentionDays": days, "lifecycleState": "ACTIVE", "createTime": DEFAULT_TIME,
                               "updateTime": DEFAULT_TIME, "description": description}
        if locked:
            out["locked"] = True
        return out

    def add_log_bucket(self, project: GcpProject, bucket_id: str, days: int, *, location: str = "global",
                       locked: bool = False) -> dict[str, Any]:
        bucket = self._log_bucket(project, location, bucket_id, days, locked=locked)
        project.log_buckets.append(bucket)
        return bucket

    def set_log_retention(self, project: GcpProject, bucket_id: str, days: int) -> None:
        for bucket in project.log_buckets:
            if bucket["name"].endswith(f"/buckets/{bucket_id}"):
                bucket["retentionDays"] = days

    @staticmethod
    def sink(name: str, destination: str, *, filter_: str = "", parent_number: str = "0",
             include_children: bool | None = None, disabled: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "destination": destination,
                               "writerIdentity": f"serviceAccount:service-{parent_number}@gcp-sa-logging."
                                                 "iam.gserviceaccount.com",
                               "createTime": DEFAULT_TIME, "updateTime": DEFAULT_TIME}
        if filter_:
            out["filter"] = filter_
        if include_children is not None:
            out["includeChildren"] = include_children
        if disabled:
            out["disabled"] = True
        return out

    def audit_entry(self, project: GcpProject, when: datetime, method: str, *, service: str, resource: str,
                    principal: str = "alice@acme.example", binding_deltas: list[dict[str, str]] | None = None,
                    request: dict[str, Any] | None = None, response: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
        """One Admin Activity audit log entry (google.cloud.audit.AuditLog in protoPayload)."""
        insert_id = hashlib.sha1(f"{project.project_id}{method}{when.isoformat()}{resource}".encode()).hexdigest()
        payload: dict[str, Any] = {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog", "status": {},
            "authenticationInfo": {"principalEmail": principal},
            "requestMetadata": {"callerIp": "203.0.113.7", "callerSuppliedUserAgent": "google-cloud-sdk gcloud/470.0.0",
                                "requestAttributes": {}, "destinationAttributes": {}},
            "serviceName": service, "methodName": method,
            "authorizationInfo": [{"resource": resource, "permission": f"{service.split('.')[0]}.setIamPolicy",
                                   "granted": True, "resourceAttributes": {}}],
            "resourceName": resource}
        if binding_deltas is not None:
            payload["serviceData"] = {"@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
                                      "policyDelta": {"bindingDeltas": binding_deltas}}
        if request is not None:
            payload["request"] = request
        if response is not None:
            payload["response"] = response
        entry = {"protoPayload": payload, "insertId": insert_id[:12],
                 "resource": {"type": "project", "labels": {"project_id": project.project_id}},
                 "timestamp": iso(when), "severity": "NOTICE",
                 "logName": f"projects/{project.project_id}/logs/cloudaudit.googleapis.com%2Factivity",
                 "receiveTimestamp": iso(when + timedelta(seconds=2))}
        project.entries.append(entry)
        return entry
