"""A store with four runs spread over 45 days (a fake clock moves the store's timestamps), for the
point-in-time, remediation and per-control export tests.

Timeline (T0 = 2026-01-01T00:00Z), source `kit`, rules of tests/support/rules/testkit.yaml:
  run 1 @ T0      w-fix and w-late unencrypted (fail, high), w-ok encrypted (pass), w-srv opens port 22
                  to the world (fail, critical; encrypted: pass)
  run 2 @ T0+10d  w-fix encrypted (fixed after 10 days, within the 30-day SLA); testkit.widget cannot be
                  read in region r9 (collection error -> error findings)
  run 3 @ T0+20d  the collection error is gone
  run 4 @ T0+45d  w-late encrypted (fixed after 45 days: late); w-srv still failing (open, past 7 days)
NOW = T0+50d is what the tests pass as ANNEXA_NOW.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tests.support.testkit  # noqa: F401  (registers the test collector in this process)
from agent.cli.app import App
from agent.cli.cmd_run import execute_run
from agent.store import timeutil
from tests.conftest import World, write_config

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN_DAYS = (0, 10, 20, 45)
NOW = T0 + timedelta(days=50)
HOSTILE = '=HYPERLINK("http://evil.example","x")'
SOA = """controls:
  A.7.4: {applicable: false, justification: "No premises of our own"}
"""


@dataclass
class SamplingStore:
    folder: Path
    config: Path
    run_times: list[datetime]


@contextmanager
def fake_clock(at: list[datetime]) -> Iterator[None]:
    """Every loaded module's `utcnow` (agent.store.timeutil's) returns at[0] plus the real time elapsed."""
    real = timeutil.utcnow
    base = datetime.now(UTC)

    def fake() -> datetime:
        return at[0] + (real() - base)

    patched = [m for m in list(sys.modules.values())
               if m is not None and getattr(m, "utcnow", None) is real]
    for module in patched:
        module.utcnow = fake  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.utcnow = real  # type: ignore[attr-defined]


def _widget(encrypted: bool, **extra: object) -> dict[str, object]:
    return {"encryption": {"enabled": encrypted}, **extra}


def build(folder: Path, store_url: str | None = None) -> SamplingStore:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "soa.yaml").write_text(SOA)
    world = World(folder / "world.json")
    config = write_config(folder, world, store_url,
                          extra="soa: soa.yaml\nremediation:\n  sla_days: {critical: 7, high: 30}\n")
    import agent.store.recorder  # (loaded before the clock is patched)
    import agent.store.store  # noqa: F401

    app = App(str(config))
    store = app.store()
    clock = [T0]
    times: list[datetime] = []
    try:
        with fake_clock(clock):
            def run(day: int) -> None:
                clock[0] = T0 + timedelta(days=day)
                execute_run(app, quiet=True, store=store)
                times.append(clock[0])

            world.add("testkit.widget", "w-fix", _widget(False), name=HOSTILE, region="r1", account="111")
            world.add("testkit.widget", "w-late", _widget(False), region="r1", account="111")
            world.add("testkit.widget", "w-ok", _widget(True), region="r1", account="111")
            world.add("testkit.widget", "w-srv", _widget(True, kind="server", rules=[{"cidr": "0.0.0.0/0",
                                                                                     "port": 22}]),
                      region="r1", account="111")
            run(RUN_DAYS[0])
            world.add("testkit.widget", "w-fix", _widget(True), name=HOSTILE, region="r1", account="111")
            world.fail = [{"type": "testkit.widget", "message": "AccessDenied", "region": "r9"}]
            world.save()
            run(RUN_DAYS[1])
            world.fail = []
            world.save()
            run(RUN_DAYS[2])
            world.add("testkit.widget", "w-late", _widget(True), region="r1", account="111")
            run(RUN_DAYS[3])
    finally:
        store.close()
    return SamplingStore(folder=folder, config=config, run_times=times)
