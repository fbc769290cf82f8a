"""`annexa metrics serve` (the exporter alone) and `annexa metrics show` (one exposition on stdout)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click

from agent.cli.app import App, pass_app

log = logging.getLogger("annexa.metrics")


def service_logging(ctx: click.Context) -> None:
    """Long-running services log their lifecycle at info unless --log-level was given."""
    from click.core import ParameterSource

    root = ctx.find_root()
    if root.get_parameter_source("log_level") in (ParameterSource.DEFAULT, None):
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


@click.group("metrics")
def metrics() -> None:
    """Prometheus metrics computed from the evidence store."""


@metrics.command("serve")
@click.option("--listen", help="HOST:PORT to serve on (default: metrics.listen in the config, 127.0.0.1:9464).")
@click.option("--cache-seconds", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Reuse one computation for scrapes within this many seconds.")
@click.pass_context
def serve(ctx: click.Context, listen: str | None, cache_seconds: float) -> None:
    """Serve /metrics, /healthz and /readyz until SIGTERM or Ctrl-C. Reads the store, never writes it."""
    from agent.metrics.collector import StoreMetrics, store_registry
    from agent.metrics.server import MetricsServer

    service_logging(ctx)
    app = ctx.find_object(App)
    assert app is not None  # set by the top-level group
    store_metrics = StoreMetrics(app, cache_seconds=cache_seconds)
    server = MetricsServer(listen or app.config.metrics.listen, store_registry(store_metrics), store_metrics.ping)
    stop = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    server.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        store_metrics.close()


@metrics.command("show")
@pass_app
def show(app: App) -> None:
    """Print the current metrics once, in the Prometheus text format."""
    from prometheus_client import generate_latest

    from agent.metrics.collector import StoreMetrics, store_registry

    store_metrics = StoreMetrics(app, cache_seconds=0)
    try:
        click.echo(generate_latest(store_registry(store_metrics, process=False)).decode(), nl=False)
    finally:
        store_metrics.close()


COMMANDS = [metrics]
