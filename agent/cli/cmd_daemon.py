"""`annexa daemon`: scheduled collection, metrics and health endpoints in one long-running process."""

from __future__ import annotations

import sys

import click

from agent.cli.app import App
from agent.cli.cmd_metrics import service_logging
from agent.config import DEFAULT_SCHEDULE


@click.command("daemon")
@click.option("--listen", help="HOST:PORT for /metrics, /healthz, /readyz (default: metrics.listen).")
@click.option("--once", is_flag=True,
              help="Run every enabled source once (same locks, in parallel), then exit: 0, or 3 if any "
                   "source was partial, failed or interrupted. Serves no HTTP.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable).")
@click.option("--jitter", type=click.IntRange(min=0), default=60, show_default=True,
              help="Delay each scheduled run by a random 0..N seconds.")
@click.option("--default-schedule", default=DEFAULT_SCHEDULE, show_default=True,
              help="Cron schedule (UTC) for sources that have no `schedule`.")
@click.option("--misfire-grace", "misfire_grace", type=click.IntRange(min=1), default=600, show_default=True,
              help="A run that could not start on time is still started within this many seconds, "
                   "then skipped until its next time.")
@click.option("--workers", type=click.IntRange(min=1, max=16), default=4, show_default=True,
              help="Sources collected at the same time by this process.")
@click.option("--run-at-start", is_flag=True, help="Also run every source right after starting.")
@click.pass_context
def daemon(ctx: click.Context, listen: str | None, once: bool, sources: tuple[str, ...], jitter: int,
           default_schedule: str, misfire_grace: int, workers: int, run_at_start: bool) -> None:
    """Collect each source on its cron `schedule` (UTC) and serve /metrics, /healthz and /readyz.

    Several daemons may share one store: a source being collected by one is skipped by the others.
    SIGTERM or Ctrl-C stops the running collections after their current item (they are stored as
    `incomplete`) and exits 0.
    """
    service_logging(ctx)
    app = ctx.find_object(App)
    assert app is not None  # set by the top-level group
    from agent.daemon import Daemon, DaemonOptions

    options = DaemonOptions(listen=listen, jitter=jitter, default_schedule=default_schedule,
                            misfire_grace_time=misfire_grace, workers=workers, run_at_start=run_at_start,
                            sources=sources)
    worker = Daemon(app, options)
    worker.install_signal_handlers()  # from here on, SIGTERM means "stop cleanly"
    app.active_rules()  # a broken rule pack or config fails now (exit 2), not at the first firing
    worker.plan()
    sys.exit(worker.run_once() if once else worker.serve())


COMMANDS = [daemon]
