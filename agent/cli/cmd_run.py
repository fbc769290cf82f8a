"""`annexa run`: one collection and evaluation pass over the configured sources."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from agent.cli.app import App, pass_app
from agent.cli.output import emit_json
from agent.cli.progress import RichObserver, make_observer
from agent.errors import AnnexaError
from agent.runtypes import Terminated

if TYPE_CHECKING:
    from agent.runner import RunResult

def parse_shard(value: str | None) -> tuple[int, int] | None:
    """(K, N) of a `--shard` value (None: not sharded); a bad value is a one-line usage error (exit 2)."""
    if value is None:
        return None
    from agent.sharding import parse_shard_text

    try:
        part = parse_shard_text(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--shard'") from None
    return part.index, part.count


def _shard_option(value: str | None) -> str | None:
    parse_shard(value)  # checked before the configuration is read or the store opened
    return value


class RunTerminated(AnnexaError):
    """SIGTERM or Ctrl-C ended `annexa run`: the run was sealed `incomplete` on the way out.
    Exit 143 (128 + SIGTERM) or 130 (128 + SIGINT)."""

    def __init__(self, signal_name: str = "SIGTERM", cause: BaseException | None = None) -> None:
        self.exit_code = 143 if signal_name == "SIGTERM" else 130
        verb = "terminated" if signal_name == "SIGTERM" else "interrupted"
        super().__init__(f"{verb} ({signal_name}): {self.outcome(cause)}")

    @staticmethod
    def outcome(cause: BaseException | None) -> str:
        """What the signal left behind, as the runner reported it on the exception (agent.runner)."""
        run = getattr(cause, "annexa_run", None)
        if run is None:
            return "no run had begun; nothing was stored"
        run_id, sealed = run
        if sealed:
            return f"run {run_id} was sealed as incomplete"
        return f"run {run_id} could not be sealed; the next run will seal it as incomplete"


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While running, SIGTERM (what Kubernetes sends a pod) unwinds like Ctrl-C, so the run is sealed;
    either signal ends the command with one line and exit 143 or 130.

    Only the first signal unwinds: a second one while the run is being sealed is ignored (Kubernetes
    follows with SIGKILL after its grace period; the next run then seals the orphan).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except Terminated as exc:
        raise RunTerminated("SIGTERM", exc) from None
    except KeyboardInterrupt as exc:  # said here, before click turns it into a bare "Aborted"
        raise RunTerminated("SIGINT", exc) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


class NothingToRun(Exception):
    """Not an error: this shard has no sources, or another process is collecting every chosen source."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def execute_run(app: App, sources: tuple[str, ...] = (), shard: str | None = None, quiet: bool = False,
                store=None) -> RunResult:  # type: ignore[no-untyped-def]
    """Run the configured sources once (used by `run` and `demo`).

    Each source is collected under the same cross-process lock as the daemon's, so a manual run,
    a CronJob pod and a daemon never collect one source at once: a busy source is skipped. A shard's
    part of a partitioned source has a lock of its own, so the N shards of one source run together.
    """
    from contextlib import ExitStack

    from agent.locks import SourceLocks
    from agent.runner import partition_of

    cfg = app.config
    chosen = select_sources_for(app, sources, shard)
    preflight(chosen)
    app.rules  # noqa: B018  (load and check the rule packs before the store is opened or created)
    store = store or app.store()
    with ExitStack() as held:
        locks = SourceLocks(store)
        runnable = []
        for src in chosen:
            part = partition_of(src, shard)
            if held.enter_context(locks.hold(src.name if part is None else part.lock_name(src.name))):
                runnable.append(src)
            else:
                click.echo(f"source {src.name} is being collected by another process: skipped", err=True)
        if not runnable:
            raise NothingToRun("busy", "every chosen source is being collected by another process")
        return _run(app, cfg, store, runnable, shard, quiet)


def preflight(chosen: list) -> None:  # type: ignore[type-arg]
    """Each collector checks its local inputs (e.g. a roster file) before anything is written: exit 2."""
    from collectors.registry import get_collector

    for src in chosen:
        collector = get_collector(src.type)
        collector.preflight(collector.Options.model_validate(src.options()), src)


def select_sources_for(app: App, sources: tuple[str, ...], shard: str | None) -> list:  # type: ignore[type-arg]
    from agent.runner import select_sources

    chosen = select_sources(app.config, list(sources) or None, parse_shard(shard))
    if not chosen and shard:
        raise NothingToRun("empty-shard", f"shard {shard}: no sources fall in this shard; nothing to do")
    if not chosen:
        raise click.UsageError("no sources to run: add sources to the config (or check --source/--shard)")
    return chosen


def _run(app: App, cfg, store, chosen, shard, quiet) -> RunResult:  # type: ignore[no-untyped-def]
    from agent.runner import Runner

    hook = None
    try:
        from agent.exceptions import finding_hook_from_config
    except ImportError:
        pass
    else:
        from agent import clock

        hook = finding_hook_from_config(cfg, rules=app.rules, now=clock.now())
    observer = make_observer(quiet)
    runner = Runner(cfg, store, app.rule_set(), observer=observer, finding_hook=hook)
    if isinstance(observer, RichObserver):
        with observer:
            return runner.run(chosen, shard)
    return runner.run(chosen, shard)


def summary_rows(result: RunResult) -> list[dict[str, object]]:
    return [{"source": s.name, "type": s.type, "status": s.status, "resources": s.resources,
             "pass": s.findings.get("pass", 0), "fail": s.findings.get("fail", 0),
             "error": s.findings.get("error", 0), "excepted": s.findings.get("excepted", 0),
             "collection_errors": len(s.errors), "seconds": round(s.seconds, 2)}
            for s in result.sources.values()]


def _http_url(value: str | None, param: click.Parameter) -> str | None:
    """An http(s) URL with a host, or a one-line usage error (never a ValueError from deep in urllib)."""
    from urllib.parse import urlsplit

    if value is None:
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        ok = False
    if not ok:
        raise click.BadParameter("expected an http(s) URL such as http://pushgateway:9091", param=param)
    return value


@click.command("run")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--shard", callback=lambda ctx, param, value: _shard_option(value),
              help="K/N (0 <= K < N <= 1024): run the K-th of N shares, for sharded CronJobs. AWS accounts x "
              "Regions, Azure subscriptions, GCP projects and GitHub repositories are split between the shards; "
              "other sources are dealt out whole. A shard with nothing to do exits 0.")
@click.option("--fail-on", type=click.Choice(["fail", "error"]), help="Exit 1 if any finding has this status.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option("--push-gateway", help="Push this run's metrics to a Prometheus Pushgateway URL.",
              callback=lambda ctx, param, value: _http_url(value, param))
@pass_app
def run(app: App, sources: tuple[str, ...], shard: str | None, fail_on: str | None, fmt: str, quiet: bool,
        push_gateway: str | None) -> None:
    """Collect, evaluate and store once. Exit 3 if a source or resource type could not be collected."""
    try:
        with terminate_as_interrupt():
            result = execute_run(app, sources, shard, quiet=quiet or fmt == "json")
    except NothingToRun as nothing:
        if fmt == "json":
            emit_json({"run_id": None, "status": nothing.status, "shard": shard, "sources": [], "errors": []})
        click.echo(str(nothing), err=True)
        sys.exit(0)
    rows = summary_rows(result)
    if push_gateway:
        from agent.metrics.push import push_run_metrics

        push_run_metrics(push_gateway, result)
    if fmt == "json":
        emit_json({"run_id": result.run_id, "status": result.status, "hash": result.manifest.get("hash"),
                   "sources": rows, "errors": [
                       {"source": e.source, "resource_type": e.resource_type, "account": e.account,
                        "region": e.region, "message": e.message}
                       for s in result.sources.values() for e in s.errors]})
    else:
        from agent.cli.output import emit_table

        emit_table(rows, ["source", "status", "resources", "pass", "fail", "error", "excepted", "seconds"],
                   title=f"run {result.run_id}: {result.status}")
        for s in result.sources.values():
            for e in s.errors[:20]:
                scope = "/".join(x for x in (e.account, e.region) if x)
                click.echo(f"collection error: {s.name} {e.resource_type}{' ' + scope if scope else ''}: "
                           f"{e.message}", err=True)
    sys.exit(result.exit_code(fail_on))


COMMANDS = [run]
