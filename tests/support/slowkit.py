"""A test-only collector that takes its time: for daemon tests (locks between processes, SIGTERM mid-run).

Type `slowkit`, option `world` (a JSON file re-read on every run):
{"resources": [{"type": "testkit.widget", "id": "...", "data": {...}}], "sleep": 0.5,
 "gate": "/tmp/x/go", "gate_after": 2}
Before each resource it sleeps `sleep` seconds and appends "<pid> <source> <resource id>" to the
file named by `trace` (if set), so a test can see which process collected what. With `gate`, it
stops after `gate_after` resources until that file exists (at most a minute): a test decides
exactly how long a run lasts.
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
        gate = world.get("gate")
        for index, item in enumerate(world.get("resources", [])):
            if gate and index == int(world.get("gate_after", 0)):
                deadline = time.monotonic() + 60
                while not os.path.exists(gate) and time.monotonic() < deadline:
                    time.sleep(0.05)
            time.sleep(delay)
            if self.ctx.options.trace:
                with open(self.ctx.options.trace, "a") as fh:
                    fh.write(f"{os.getpid()} {self.ctx.source.name} {item['id']}\n")
            yield Resource(type=item["type"], id=item["id"], name=item.get("name", item["id"]),
                           data=item.get("data", {}), region=item.get("region"))
