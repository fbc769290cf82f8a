"""deploy/gcp grants every permission a full collection needs, and nothing else.

A full run against the fake (organisation, folders, a folder the credentials cannot see, an explicit
project list, every service and the audit logs) records each request; each must match exactly one
row of deploy/gcp/permissions.json, whose permission must be in the custom role and whose predefined
role must be granted by both the Terraform module and the gcloud script.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from agent.fakeapi import FakeApi
from agent.fakeapi.gcp_world import GcpWorld
from collectors.gcp import GcpCollector
from tests.collectors.gcp import acme
from tests.collectors.gcp.conftest import collect

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "gcp"
TABLE = json.loads((DEPLOY / "permissions.json").read_text())["endpoints"]
CUSTOM = yaml.safe_load((DEPLOY / "annexa-reader-role.yaml").read_text())


def pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/:]+", re.escape(path)) + "$")


def recorded(fake: FakeApi) -> set[tuple[str, str]]:
    assert GcpCollector.calls is not None
    out = set()
    for call in GcpCollector.calls:
        method, url = call.split(" ", 1)
        assert url.startswith(fake.url), url
        out.add((method, url[len(fake.url):]))
    return out


@pytest.fixture
def calls(world: GcpWorld, fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    acme.build(world)
    hidden = world.add_folder("300", "restricted")
    hidden.hidden = True
    world.add_project("acme-hidden", "1003", parent=hidden.name)
    seen = set()
    got = collect(fake, monkeypatch, {"organization": acme.ORG})
    assert got.resources
    seen |= recorded(fake)
    collect(fake, monkeypatch, {"projects": ["acme-prod"], "services": ["project"], "audit_logs": False})
    return seen | recorded(fake)


def test_every_request_of_a_full_run_is_in_the_permission_table(calls: set[tuple[str, str]]) -> None:
    rows = [(row, pattern(row["path"])) for row in TABLE]
    used: set[str] = set()
    for method, path in sorted(calls):
        matches = [row for row, rx in rows if row["method"] == method and rx.match(path)]
        assert len(matches) == 1, f"{method} {path} matches {len(matches)} rows of deploy/gcp/permissions.json"
        used.add(f"{matches[0]['method']} {matches[0]['path']}")
    assert used == {f"{row['method']} {row['path']}" for row in TABLE}, "rows no request used"


def test_the_custom_role_holds_exactly_the_table_permissions() -> None:
    assert sorted(CUSTOM["includedPermissions"]) == sorted({row["permission"] for row in TABLE})
    assert all(p.split(".")[-1].startswith(("get", "list")) for p in CUSTOM["includedPermissions"])


def test_terraform_and_gcloud_grant_exactly_the_table_roles() -> None:
    roles = {row["role"] for row in TABLE}
    terraform = (DEPLOY / "main.tf").read_text()
    block = re.search(r"reader_roles = \[(.*?)\]", terraform, re.S)
    assert block is not None
    assert set(re.findall(r'"(roles/[\w.]+)"', block.group(1))) == roles
    script = (DEPLOY / "grant-roles.sh").read_text()
    assert set(re.findall(r"^\s+(roles/[\w.]+)", script, re.M)) == roles
    assert "yamldecode(file(\"${path.module}/annexa-reader-role.yaml\"))" in terraform
    assert "annexa-reader-role.yaml" in script
