"""`annexa findings`: the current findings, filtered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from agent.cli.app import App, pass_app
from agent.cli.output import emit
from agent.store.timeutil import ts_text

TABLE = ["status", "severity", "rule", "resource_name", "source", "message"]
CSV = ["rule", "title", "status", "severity", "controls", "source", "resource_id", "resource_type", "resource_name",
       "account", "region", "message", "evidence", "exception", "first_seen", "last_seen"]


def finding_document(row: dict[str, Any]) -> dict[str, Any]:
    """A stored finding interval as the contract's Finding JSON shape."""
    return {
        "rule": row["rule_id"], "title": row["title"], "status": row["status"], "severity": row["severity"],
        "controls": list(row["controls"]), "source": row["source"],
        "resource": {"id": row["resource_id"], "type": row["resource_type"], "name": row["resource_name"],
                     "account": row["account"], "region": row["region"]},
        "message": row["message"], "evidence": row["evidence"], "exception": row["exception"],
        "first_seen": ts_text(row["first_seen"]), "last_seen": ts_text(row["last_seen"]),
    }


def _flat(doc: dict[str, Any]) -> dict[str, Any]:
    res = doc["resource"]
    return {**doc, "resource_id": res["id"], "resource_type": res["type"], "resource_name": res["name"],
            "account": res["account"], "region": res["region"]}


@click.command("findings")
@click.option("--control", "controls", multiple=True, help="Only findings of rules mapped to this control.")
@click.option("--status", type=click.Choice(["pass", "fail", "error", "excepted", "not_applicable"]),
              help="Only this status (`not_applicable`: covered by an active expected gap).")
@click.option("--severity", type=click.Choice(["critical", "high", "medium", "low", "info"]))
@click.option("--source", help="Only this source.")
@click.option("--rule", "rule_ids", multiple=True, help="Only this rule id (repeatable).")
@click.option("--as-of", "as_of", metavar="TIME", help="The state at this instant instead of now (ISO 8601 "
              "datetime, or a date meaning the end of that day; UTC unless an offset is given).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@pass_app
def findings(app: App, controls: tuple[str, ...], status: str | None, severity: str | None, source: str | None,
             rule_ids: tuple[str, ...], as_of: str | None, fmt: str) -> None:
    """Current findings (the latest state of every rule on every resource), or their state at --as-of."""
    at = None
    if as_of is not None:
        from agent.asof import parse_as_of

        at = parse_as_of(as_of)
    wanted_rules: list[str] | None = list(rule_ids) or None
    if controls:
        ids = set(app.control_ids(controls))
        by_control = [r.id for r in app.rules if ids & set(r.controls)]
        wanted_rules = [r for r in by_control if wanted_rules is None or r in wanted_rules]
    if not app.store_exists():
        click.echo("no evidence store yet: run `annexa run` (or `annexa demo`) first", err=True)
        rows: Iterator[dict[str, Any]] = iter(())
    else:
        store = app.store()
        if at is not None:
            from agent.asof import findings_at

            rows = findings_at(store, at, rules=wanted_rules, status=status, source=source)
        else:
            rows = store.current_findings(rules=wanted_rules, status=status, source=source)
    # streamed from the database to stdout: no list of all findings (100,000 rows are 0.5 GB as dicts)
    docs = (finding_document(row) for row in rows if not severity or row["severity"] == severity)
    if fmt == "json":
        emit(docs, fmt, table_columns=TABLE)
    else:
        emit((_flat(d) for d in docs), fmt, table_columns=TABLE, csv_columns=CSV, title="Findings")


COMMANDS = [findings]
