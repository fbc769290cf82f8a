"""A test-only collector that takes its time: for daemon tests (locks between processes, SIGTERM mid-run).

Type `slowkit`, option `world` (a JSON file re-read on every run):
{"resources": [{"type": "testkit.widget", "id": "...", "data": {...}}], "sleep": 0.5}
Before each resource it sleeps `sleep` seconds and appends "<pid> <source> <resource id>" to the
file named by `trace` (if set), so a test can see which process collected what, and when.
Registered through ANNEXA_PLUGINS=tests.support.slowkit.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from agent.model import Resource
from collectors.base import Collector, CollectorOptions
from collectors.registry import register


class SlowkitOptions(CollectorOptions):
    world: str
    trace: str | None = None


@register
class SlowkitCollector(Collector):
    type = "slowkit"
    resource_types = {"testkit.widget": "a configurable widget, delivered slowly"}
    Options = SlowkitOptions

    def collect(self) -> Iterator[Resource]:
        world = json.loads(Path(self.ctx.options.world).read_text())
        delay = float(world.get("sleep", 0))
        for item in world.get("resources", []):
            time.sleep(delay)
            if self.ctx.options.trace:
                with open(self.ctx.options.trace, "a") as fh:
                    fh.write(f"{os.getpid()} {self.ctx.source.name} {item['id']}\n")
            yield Resource(type=item["type"], id=item["id"], name=item.get("name", item["id"]),
                           data=item.get("data", {}), region=item.get("region"))
