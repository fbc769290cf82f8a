"""Run the demo: build the simulated organisation, run the real pipeline on it twice, attach documents,
export the auditor bundle. Printing is left to the CLI (`agent.cli.cmd_demo`).

The pipeline is exactly `annexa run` (`agent.cli.cmd_run.execute_run`) over the demo folder's own
annexa.yaml, so everything a user then does with `--config DIR/annexa.yaml` sees the same store.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.demo import folder as demo_folder
from agent.demo.sandbox import require_moto, simulated_aws
from agent.demo.world import REGIONS, World

if TYPE_CHECKING:
    from agent.cli.app import App
    from agent.runner import RunResult

log = logging.getLogger("annexa.demo")

SOURCE = "demo-aws"
DEFAULT_DIR = "annexa-demo"
# Settings that would point the demo at something other than its own folder.
PRIVATE_ENV = ("ANNEXA_STORE_URL",)


@dataclass
class DemoResult:
    folder: Path
    config: Path
    app: App
    world: World
    runs: list[RunResult] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    bundle: Path | None = None
    bundle_note: str | None = None
    ignored_env: list[str] = field(default_factory=list)
    seconds: float = 0.0


@contextmanager
def _collector_logs_summarised() -> Iterator[None]:
    """The demo prints collection errors itself, grouped; at the default log level the collector's own
    per-scope warnings would repeat them line by line. With --log-level info/debug they are kept."""
    collector = logging.getLogger("annexa.collector")
    before = collector.level
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        collector.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        collector.setLevel(before)


@contextmanager
def _simulated_tenants(folder: Path, today: Any) -> Iterator[list[Any]]:
    """Start every simulated SaaS/cloud tenant (agent.demo.providers), with loopback never proxied."""
    from agent.demo.providers import discover

    providers = discover()
    saved = {k: os.environ.get(k) for k in ("NO_PROXY", "no_proxy")}
    started: list[Any] = []
    try:
        loopback = "127.0.0.1,localhost"
        for key, value in saved.items():
            os.environ[key] = f"{value},{loopback}" if value else loopback
        for provider in providers:
            provider.start(folder / demo_folder.SOURCES / provider.source, today)
            started.append(provider)
            for key, value in provider.env().items():
                saved.setdefault(key, os.environ.get(key))
                os.environ[key] = value
        yield started
    finally:
        for provider in started:
            provider.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _without(names: tuple[str, ...]) -> Iterator[list[str]]:
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield sorted(saved)
    finally:
        os.environ.update(saved)


def run_demo(directory: Path, *, say: Callable[[str], None] = lambda _m: None, runs: int = 2,
             quiet: bool = True) -> DemoResult:
    """The whole demo in `directory` (created, or recreated if a previous demo wrote it)."""
    from agent.cli.app import App
    from agent.cli.cmd_run import execute_run
    from agent.demo.policies import attach_documents
    from agent.demo.world import apply_fixes, seed
    from agent.store.timeutil import utcnow

    began, started_at = time.monotonic(), utcnow()
    require_moto()
    directory = Path(directory)
    demo_folder.prepare(directory)
    with _without(PRIVATE_ENV) as ignored, _simulated_tenants(directory, started_at.date()) as tenants:
        config_path = demo_folder.write_config(directory, SOURCE, REGIONS,
                                               extra_sources=[t.source_yaml() for t in tenants])
        app = App(str(config_path.resolve()))
        store = app.store()
        try:
            with simulated_aws():
                say("building the simulated AWS organisation (moto, in this process, offline)")
                world = seed(REGIONS)
                result = DemoResult(directory, config_path, app, world, ignored_env=ignored,
                                    tenants=[t.title for t in tenants])
                for n in range(runs):
                    if n:
                        result.changes.extend(apply_fixes(world))
                        for tenant in tenants:
                            result.changes.extend(tenant.apply_fixes())
                        for change in result.changes:
                            say(f"the platform team fixed something: {change}")
                    say(f"run {n + 1} of {runs}: collecting and evaluating (the same code as `annexa run`)")
                    with _collector_logs_summarised():
                        run = execute_run(app, quiet=quiet, store=store)
                    if run is not None:  # None only for an empty --shard, which the demo never uses
                        result.runs.append(run)
            result.attached = attach_documents(store, directory / demo_folder.POLICIES)
            result.bundle, result.bundle_note = _export(app, store, directory / demo_folder.BUNDLE,
                                                        started_at - timedelta(minutes=1), say)
        finally:
            store.close()
    result.seconds = time.monotonic() - began
    return result


def _export(app: App, store: Any, out: Path, since: Any, say: Callable[[str], None]) -> tuple[Path | None, str | None]:
    """Write the auditor bundle through the exporter's API, if this installation has it."""
    try:
        from agent.export.bundle import export_bundle
        from agent.export.history import Period
        from agent.soa import configured_soa
    except ImportError:
        return None, "the export module is not installed in this build; no bundle written"
    from agent.store.timeutil import utcnow

    say("writing the auditor bundle")
    period = Period(since, utcnow() + timedelta(seconds=1))
    exported = export_bundle(store=store, catalogue=app.catalogue, rules=app.active_rules(),
                             soa=configured_soa(app.config, app.catalogue), out=out, period=period)
    return exported.path, (f"{exported.files} files, {exported.runs} runs, {exported.findings} finding intervals, "
                           f"{exported.evidence_files} evidence snapshots, {exported.manual_files} documents")
