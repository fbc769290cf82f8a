"""`annexa runs`: the recent runs, their status and place in the hash chain."""

from __future__ import annotations

import click

from agent.cli.app import App, pass_app
from agent.cli.output import emit


@click.command("runs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@pass_app
def runs(app: App, limit: int, fmt: str) -> None:
    """Recent runs: status (complete, partial, incomplete, running), sources and chain hash."""
    from agent.store.timeutil import ts_text

    rows = []
    if not app.store_exists():
        click.echo("no evidence store yet: run `annexa run` (or `annexa demo`) first", err=True)
    for run in (app.store().runs(limit) if app.store_exists() else []):
        manifest = run["manifest"] or {}
        rows.append({
            "id": run["id"], "seq": run["seq"], "status": run["status"], "started_at": ts_text(run["started_at"]),
            "finished_at": ts_text(run["finished_at"]), "sources": list(run["sources"] or []),
            "shard": run["shard"], "resources": sum(s.get("resources", 0) for s in manifest.get("sources", [])),
            "errors": sum(len(s.get("errors") or []) for s in manifest.get("sources", [])),
            "hash": run["hash"],
        })
    emit(rows, fmt, table_columns=["id", "status", "started_at", "sources", "resources", "errors", "hash"],
         csv_columns=list(rows[0]) if rows else ["id"], title="Runs")


COMMANDS = [runs]
