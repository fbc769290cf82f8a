"""A small but varied store for the metrics tests, produced by real runs of the test collector.

Three sources: `kit-a` (failing and passing widgets), `kit-b` (passing widgets), `kit-c` (people
and accounts, but the people cannot be collected: partial runs with a collection error, run
twice). An SoA excludes A.7.4, and A.5.1 has a current policy document with an expiry. Resulting
control statuses include each of passing, failing, unknown, manual and not_applicable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.cli.app import App
from tests.conftest import SUPPORT
from tests.support import testkit  # noqa: F401  (registers the test collector, also for module fixtures)

EXPECTED = {"A.5.17": "passing", "A.8.24": "failing", "A.8.20": "failing", "A.5.18": "unknown",
            "A.5.1": "manual", "A.7.4": "not_applicable", "A.8.1": "unknown"}
MANUAL_VALID_DAYS = 20
FRESH_KEY = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")

WORLDS: dict[str, dict[str, Any]] = {
    "kit-a": {"resources": [
        {"type": "testkit.widget", "id": "arn:widget:a1", "name": "a1", "region": "r1",
         "data": {"encryption": {"enabled": False}, "kind": "server", "key_created": FRESH_KEY,
                  "rules": [{"cidr": "0.0.0.0/0", "port": 22}]}},
        {"type": "testkit.widget", "id": "arn:widget:a2", "name": "a2", "region": "r1",
         "data": {"encryption": {"enabled": True}, "kind": "server", "key_created": FRESH_KEY,
                  "rules": [{"cidr": "10.0.0.0/8", "port": 22}]}},
        {"type": "testkit.widget", "id": "arn:widget:a3", "name": "a3", "region": "r2",
         "data": {"encryption": {"enabled": False}, "kind": "client"}},
    ]},
    "kit-b": {"resources": [
        {"type": "testkit.widget", "id": f"arn:widget:b{i}", "name": f"b{i}", "region": "r1",
         "data": {"encryption": {"enabled": True}, "kind": "server", "key_created": FRESH_KEY, "rules": []}}
        for i in range(4)
    ]},
    "kit-c": {"resources": [
        {"type": "testkit.account", "id": "https://idp.example/u/ann", "name": "ann",
         "data": {"email": "ann@example.com", "active": True}},
    ], "fail": [{"type": "testkit.person", "message": "AccessDenied: hr roster"}]},
}


def write_demo_config(folder: Path, store_url: str, *, plugins_extra: str = "") -> Path:
    """World files, an SoA and annexa.yaml for the three sources."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = ""
    for name, world in WORLDS.items():
        path = folder / f"world-{name}.json"
        path.write_text(json.dumps(world))
        sources += f"  - name: {name}\n    type: testkit\n    world: {path}\n"
    (folder / "soa.yaml").write_text(
        "controls:\n  A.7.4: {applicable: false, justification: \"Fully remote company, no premises\"}\n")
    config = folder / "annexa.yaml"
    config.write_text(f"store:\n  url: {store_url}\n  evidence: {folder / 'evidence'}\n"
                      f"soa: soa.yaml\nrules:\n  paths: [{SUPPORT / 'rules'}]\n"
                      f"metrics:\n  listen: 127.0.0.1:9464\nsources:\n{sources}{plugins_extra}")
    return config


def populate(config: Path) -> None:
    """Run every source (kit-c twice) and upload one policy document, all in this process."""
    from agent.cli.cmd_run import execute_run
    from agent.manual import add_evidence

    app = App(str(config))
    store = app.store()
    try:
        execute_run(app, ("kit-a", "kit-b", "kit-c"), quiet=True, store=store)
        execute_run(app, ("kit-c",), quiet=True, store=store)
        policy = config.parent / "infosec-policy.pdf"
        policy.write_bytes(b"%PDF-1.4 information security policy\n")
        add_evidence(store, "A.5.1", policy, valid_for=timedelta(days=MANUAL_VALID_DAYS), note="v3")
    finally:
        store.close()


def build(folder: Path, store_url: str) -> Path:
    config = write_demo_config(folder, store_url)
    populate(config)
    return config
