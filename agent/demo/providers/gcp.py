"""A simulated Google Cloud organisation for `annexa demo`: acme.example with two projects.

acme-web-prod (in the "production" folder) holds the violations next to compliant twins: a public
bucket beside a locked-down one, SSH open to the internet beside HTTPS, a Cloud SQL instance open to
0.0.0.0/0 beside a private one, a key that never rotates beside one that does, an Owner grant to a
Gmail account. acme-data-dev is mostly clean. Between the two demo runs the team closes SSH, takes
the bucket off the internet and removes the Gmail owner.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from agent.fakeapi import FakeApi
from agent.fakeapi import gcp as fake_gcp
from agent.fakeapi.gcp_world import GcpProject, GcpWorld, audit_config, binding, policy

TOKEN_ENV = "ANNEXA_DEMO_GCP_TOKEN"
CP = "https://www.googleapis.com/auth/cloud-platform"


def build(world: GcpWorld, now: datetime) -> tuple[GcpProject, GcpProject]:
    folder = world.add_folder("310000000001", "production")
    prod = world.add_project("acme-web-prod", "710000000001", parent=folder.name, labels={"env": "prod"})
    dev = world.add_project("acme-data-dev", "710000000002", labels={"env": "dev"})
    app = f"web-app@{prod.project_id}.iam.gserviceaccount.com"
    world.org_iam = policy([binding("roles/resourcemanager.organizationAdmin", "group:platform@acme.example")],
                           [audit_config("allServices", "DATA_READ", "DATA_WRITE")])
    world.org_policies["iam.allowedPolicyMemberDomains"] = {"rules": [{"values": {"allowedValues": ["is:C01abcd2e"]}}]}
    world.org_policies["storage.uniformBucketLevelAccess"] = {"rules": [{"enforce": True}]}
    prod.iam = policy([binding("roles/owner", "group:platform@acme.example", "user:freelancer@gmail.com"),
                       binding("roles/editor", f"serviceAccount:{prod.compute_sa}"),
                       binding("roles/storage.objectAdmin", f"serviceAccount:{app}")])
    dev.iam = policy([binding("roles/viewer", "group:data@acme.example")])
    for project in (prod, dev):
        world.add_service_account(project, "compute", email=project.compute_sa)
    world.add_service_account(prod, "web-app")
    world.add_sa_key(prod, app, now - timedelta(days=400))
    world.add_bucket(prod, "acme-web-assets", iamConfiguration={"uniformBucketLevelAccess": {"enabled": False},
                                                                "publicAccessPrevention": "inherited"},
                     versioning={"enabled": False}, iam=policy([binding("roles/storage.objectViewer", "allUsers")]))
    world.add_bucket(prod, "acme-audit-archive", retentionPolicy={"retentionPeriod": str(400 * 86400),
                                                                  "effectiveTime": "2024-01-15T09:30:00.000Z",
                                                                  "isLocked": True})
    world.add_bucket(dev, "acme-data-dev-scratch")
    prod.sinks.append(world.sink("audit-archive", "storage.googleapis.com/acme-audit-archive",
                                 parent_number=prod.number))
    world.set_project_metadata(prod, **{"enable-oslogin": "TRUE"})
    world.add_network(prod, "web-vpc")
    world.add_network(dev, "default")
    world.add_firewall(prod, "allow-ssh-anywhere", allowed=[{"IPProtocol": "tcp", "ports": ["22"]}],
                       source_ranges=["0.0.0.0/0"], logConfig={"enable": False})
    world.add_firewall(prod, "allow-https", allowed=[{"IPProtocol": "tcp", "ports": ["443"]}],
                       source_ranges=["0.0.0.0/0"])
    world.add_instance(prod, "europe-west1-b", "web-1", service_account=app, scopes=[CP])
    world.add_instance(prod, "europe-west1-c", "jumpbox", external_ip="34.76.10.20",
                       metadata={"serial-port-enable": "TRUE"},
                       shieldedInstanceConfig={"enableSecureBoot": False})
    world.add_instance(dev, "europe-west1-b", "notebook", scopes=[CP])
    world.add_sql_instance(prod, "orders-db")
    world.add_sql_instance(prod, "legacy-reporting", "MYSQL_8_0", settings={
        "ipConfiguration": {"ipv4Enabled": True, "requireSsl": False, "sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED",
                            "authorizedNetworks": [{"value": "0.0.0.0/0", "name": "anywhere", "kind": "sql#aclEntry"}]},
        "backupConfiguration": {"enabled": False, "binaryLogEnabled": False}})
    for project in (prod, dev):
        project.kms_locations = ["global", "europe-west1"]
    world.add_crypto_key(prod, "europe-west1", "web", "customer-data", rotation_days=90)
    world.add_crypto_key(prod, "europe-west1", "web", "old-backups", rotation_days=None)
    world.audit_entry(prod, now - timedelta(days=3), "SetIamPolicy", service="cloudresourcemanager.googleapis.com",
                      resource=f"projects/{prod.project_id}", principal="alex@acme.example",
                      binding_deltas=[{"action": "ADD", "role": "roles/owner", "member": "user:freelancer@gmail.com"}])
    world.audit_entry(dev, now - timedelta(days=1), "SetIamPolicy", service="cloudresourcemanager.googleapis.com",
                      resource=f"projects/{dev.project_id}", principal="alex@acme.example",
                      binding_deltas=[{"action": "ADD", "role": "roles/viewer", "member": "group:data@acme.example"}])
    return prod, dev


class GcpDemo:
    source = "demo-gcp"
    title = "Google Cloud: organisation acme.example, 2 projects (simulated Google APIs on loopback)"

    def __init__(self) -> None:
        self.world: GcpWorld | None = None
        self.fake: FakeApi | None = None
        self.token = "ya29.demo-" + secrets.token_urlsafe(16)
        self.prod: GcpProject | None = None

    def start(self, folder: Path, today: date) -> None:
        now = datetime.combine(today, time(12, 0), tzinfo=UTC)
        now = min(now, datetime.now(UTC))
        self.world = GcpWorld(domain="acme.example")
        self.world.tokens.add(self.token)
        self.prod, _ = build(self.world, now)
        self.fake = fake_gcp.start(self.world)

    def source_yaml(self) -> str:
        assert self.fake is not None
        return (f"- name: {self.source}\n  type: gcp\n  organization: \"{self.world.org_id if self.world else ''}\"\n"
                f"  endpoint: {self.fake.url}   # the simulated Google APIs\n  token_env: {TOKEN_ENV}\n"
                "  kms_locations: [global, europe-west1]\n")

    def env(self) -> dict[str, str]:
        return {TOKEN_ENV: self.token}

    def apply_fixes(self) -> list[str]:
        assert self.world is not None and self.prod is not None
        prod = self.prod
        prod.firewalls = [f for f in prod.firewalls if f["name"] != "allow-ssh-anywhere"]
        prod.bucket_iam["acme-web-assets"]["bindings"] = [
            b for b in prod.bucket_iam["acme-web-assets"]["bindings"] if "allUsers" not in b["members"]]
        for item in prod.iam["bindings"]:
            item["members"] = [m for m in item["members"] if m != "user:freelancer@gmail.com"]
        return ["GCP: deleted firewall rule allow-ssh-anywhere in acme-web-prod",
                "GCP: removed allUsers from bucket acme-web-assets",
                "GCP: removed the Owner grant of freelancer@gmail.com on acme-web-prod"]

    def stop(self) -> None:
        if self.fake is not None:
            self.fake.stop()
            self.fake = None

    def __repr__(self) -> str:
        return f"GcpDemo({self.fake.url if self.fake else 'stopped'})"


PROVIDER = GcpDemo
