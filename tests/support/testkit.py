"""A test-only collector that emits resources described in a JSON file.

The file is re-read on every run, so a test changes "the world" between runs by rewriting it:
{"resources": [{"type": "testkit.widget", "id": "...", "name": "...", "data": {...}}],
 "fail": [{"type": "testkit.widget", "message": "AccessDenied", "region": "r1"}],
 "crash": false, "sleep": 0.0, "generate": 0}
sleep: seconds before each resource (a slow source); generate: N widgets made on the fly.
Registered through ANNEXA_PLUGINS=tests.support.testkit (the same path third-party plugins use).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

from agent.model import Resource
from collectors.base import Collector, CollectorOptions
from collectors.registry import register


class TestkitOptions(CollectorOptions):
    world: str


@register
class TestkitCollector(Collector):
    type = "testkit"
    resource_types = {
        "testkit.widget": "a configurable widget",
        "testkit.person": "a person from an HR roster",
        "testkit.account": "an account in an identity provider",
        "identity.account": "an account in the shared identity shape (agent/identity/shape.py)",
    }
    Options = TestkitOptions

    def collect(self) -> Iterator[Resource]:
        world = json.loads(Path(self.ctx.options.world).read_text())
        if world.get("crash"):
            raise RuntimeError("simulated collector crash")
        for err in world.get("fail", []):
            self.ctx.report_error(err["type"], err["message"], account=err.get("account"),
                                  region=err.get("region"))
        seen = self.ctx.cursor.get("seen", 0)
        delay = float(world.get("sleep", 0))
        for item in world.get("resources", []):
            if delay:
                time.sleep(delay)
            self.ctx.progress.update(f"reading {item['id']}")
            yield Resource(type=item["type"], id=item["id"], name=item.get("name", item["id"]),
                           data=item.get("data", {}), account=item.get("account"), region=item.get("region"))
        for i in range(int(world.get("generate", 0))):  # lazily made widgets, for memory tests
            yield Resource(type="testkit.widget", id=f"gen-{i}", name=f"gen-{i}", region="r1",
                           data={"kind": "db", "encryption": {"enabled": i % 2 == 0}, "pad": "x" * 200})
        self.ctx.cursor.set("seen", seen + len(world.get("resources", [])))
