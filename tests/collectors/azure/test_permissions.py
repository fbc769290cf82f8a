"""Every request the Azure collector makes is covered by the documented least-privilege assignment
(deploy/azure): ARM reads by the built-in Reader role, Graph reads by the listed application permissions.

Full runs against the Acme fake (every service, a management group, a tenant without premium features
so the per-user fallback runs) record each request; each one must match an entry of
deploy/azure/permissions.json, whose ARM action must be a read granted by a documented role and whose
Graph permission must be in the documented grant. Entries no run needs are stale and fail the test too.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from agent.fakeapi.azure import acme, infra, serve
from collectors.azure import AzureCollector
from tests.collectors.azure.conftest import TOKEN, collect

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "azure"
TABLE = json.loads((DEPLOY / "permissions.json").read_text())


def pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", path)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$", re.I)


def granted_by_role(action: str) -> list[str]:
    out = []
    for role in TABLE["azure_roles"]:
        allowed = any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in role["actions"])
        denied = any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in role["notActions"])
        if allowed and not denied:
            out.append(role["name"])
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Counter[tuple[str, str, str]]:
    mp = pytest.MonkeyPatch()
    mp.setenv("AZURE_TEST_TOKEN", TOKEN)
    calls: Counter[tuple[str, str, str]] = Counter()
    try:
        for licence, options in (("P2", {}), ("free", {"management_group": "acme-root"})):
            tenant, _ids = acme.build()
            tenant.licence = licence
            tenant.static_tokens[TOKEN] = None
            tenant.management_groups["acme-root"] = [
                infra.management_group_descendant(acme.PROD, "Acme Production", "acme-root", subscription_=True)]
            fake = serve(tenant)
            try:
                _resources, errors, _ = collect(fake, **options)
            finally:
                fake.stop()
            unexpected = [e for e in errors if not e.message.startswith("licence")]
            assert unexpected == [], unexpected
            assert AzureCollector.calls is not None
            calls.update(AzureCollector.calls.calls)
    finally:
        mp.undo()
    return calls


def test_every_arm_request_is_a_read_granted_by_reader(recorded: Counter[tuple[str, str, str]]) -> None:
    used: set[str] = set()
    for (api, method, path), _count in recorded.items():
        if api != "arm":
            continue
        assert method == "GET", (method, path)
        matches = [e for e in TABLE["arm"] if pattern(e["path"]).match(path)]
        assert len(matches) == 1, f"{path}: {len(matches)} entries in deploy/azure/permissions.json"
        entry = matches[0]
        used.add(entry["path"])
        assert entry["action"].lower().endswith("/read"), entry  # never an action such as listKeys
        assert "Reader" in granted_by_role(entry["action"]), entry
    stale = {e["path"] for e in TABLE["arm"]} - used
    assert stale == set(), f"entries no run needed: {sorted(stale)}"


def test_arm_actions_follow_the_resource_path(recorded: Counter[tuple[str, str, str]]) -> None:
    """The documented action is the provider's resource type plus /read (two documented exceptions)."""
    exceptions = {"/subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values":
                  "Microsoft.Insights/eventtypes/values/read",
                  "/subscriptions": "Microsoft.Resources/subscriptions/read"}
    for entry in TABLE["arm"]:
        if entry["path"] in exceptions:
            assert entry["action"] == exceptions[entry["path"]]
            continue
        segments = entry["path"].split("/")
        at = len(segments) - 1 - segments[::-1].index("providers")
        kinds = [s for n, s in enumerate(segments[at + 2:]) if n % 2 == 0]
        assert entry["action"] == f"{segments[at + 1]}/{'/'.join(kinds)}/read", entry


def test_every_graph_request_is_covered_by_the_granted_permissions(recorded: Counter[tuple[str, str, str]]) -> None:
    granted = {p["name"] for p in TABLE["graph_application_permissions"]}
    used: set[str] = set()
    for (api, method, path), _count in recorded.items():
        if api != "graph":
            continue
        kind = "GET" if method == "BATCHED" else method
        matches = [e for e in TABLE["graph"] if e["method"] == kind and pattern(e["path"]).match(path)]
        assert len(matches) == 1, f"{method} {path}: not documented in deploy/azure/permissions.json"
        entry = matches[0]
        used.add(entry["path"])
        if entry["any_of"]:
            assert set(entry["any_of"]) & granted, entry
        assert set(entry.get("also", [])) <= granted, entry
    stale = {e["path"] for e in TABLE["graph"]} - used
    assert stale == set(), f"entries no run needed: {sorted(stale)}"
    assert ("graph", "BATCHED", f"/users/{acme.build()[1]['user_alice']}/authentication/methods") in recorded


def test_the_template_assigns_the_documented_roles() -> None:
    template = json.loads((DEPLOY / "annexa-role-assignments.json").read_text())
    assert template["$schema"].endswith("managementGroupDeploymentTemplate.json#")
    roles = {v for v in template["variables"].values()}
    assert roles == {r["id"] for r in TABLE["azure_roles"]}
    for resource in template["resources"]:
        assert resource["type"] == "Microsoft.Authorization/roleAssignments"
        assert resource["properties"]["principalId"] == "[parameters('principalId')]"
    assert {r["id"] for r in TABLE["azure_roles"]} == {infra.READER, infra.SECURITY_READER}


def test_the_script_grants_what_the_table_lists() -> None:
    script = (DEPLOY / "grant-annexa.sh").read_text()
    assert "permissions.json" in script and "set -euo pipefail" in script
    assert "--method POST" in script and "appRoleAssignments" in script  # the only writes: the grant itself
    readme = (DEPLOY / "README.md").read_text()
    for permission in TABLE["graph_application_permissions"]:
        assert permission["name"] in readme
    for role in TABLE["azure_roles"]:
        assert role["name"] in readme


