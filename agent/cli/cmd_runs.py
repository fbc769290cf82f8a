"""`annexa runs`: the recent runs, their status, each source's outcome and place in the hash chain."""

from __future__ import annotations

from typing import Any

import click

from agent.cli.app import App, pass_app
from agent.cli.output import emit


def source_outcomes(manifest: dict[str, Any], sources: list[str]) -> dict[str, str | None]:
    """{source: ok | degraded | failed} from a sealed run's manifest; None while running or if interrupted."""
    from agent.health import outcome

    out: dict[str, str | None] = {name: None for name in sources}
    for s in manifest.get("sources", []):
        out[s["name"]] = outcome(s.get("status"), s.get("errors"), s.get("resources"))
    return out


def _outcomes_text(outcomes: dict[str, str | None]) -> str:
    return ", ".join(f"{name}: {result or 'n/a'}" for name, result in outcomes.items())


@click.command("runs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@pass_app
def runs(app: App, limit: int, fmt: str) -> None:
    """Recent runs: status (complete, partial, incomplete, running), each source's outcome (ok, degraded,
    failed) and chain hash."""
    from agent.health import real_errors
    from agent.store.timeutil import ts_text

    rows = []
    if not app.store_exists():
        click.echo("no evidence store yet: run `annexa run` (or `annexa demo`) first", err=True)
    for run in (app.store().runs(limit) if app.store_exists() else []):
        manifest = run["manifest"] or {}
        sources = manifest.get("sources", [])
        errors = sum(len(real_errors(s.get("errors"))) for s in sources)
        outcomes = source_outcomes(manifest, list(run["sources"] or []))
        rows.append({
            "id": run["id"], "seq": run["seq"], "status": run["status"], "started_at": ts_text(run["started_at"]),
            "finished_at": ts_text(run["finished_at"]), "sources": list(run["sources"] or []),
            "outcomes": outcomes if fmt == "json" else _outcomes_text(outcomes),
            "shard": run["shard"], "resources": sum(s.get("resources", 0) for s in sources),
            "errors": errors,  # collection errors; an active expected gap's record is not one
            "expected_gaps": sum(len(s.get("errors") or []) for s in sources) - errors,
            "hash": run["hash"],
        })
    emit(rows, fmt, table_columns=["id", "status", "started_at", "outcomes", "resources", "errors", "hash"],
         csv_columns=list(rows[0]) if rows else ["id"], title="Runs")


COMMANDS = [runs]
