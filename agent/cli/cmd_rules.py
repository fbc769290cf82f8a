"""`annexa rules list` and `annexa rules validate [PATH]`."""

from __future__ import annotations

import click

from agent.cli.app import App, pass_app
from agent.cli.output import emit


@click.group("rules")
def rules() -> None:
    """Rule packs."""


@rules.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--provider", help="Only rules of this provider (e.g. aws).")
@click.option("--control", "controls", multiple=True, help="Only rules mapped to this control (repeatable).")
@pass_app
def list_rules(app: App, fmt: str, provider: str | None, controls: tuple[str, ...]) -> None:
    """List the rules: id, title, provider, resource, severity, controls."""
    wanted = set(app.control_ids(controls)) if controls else None
    rows = [
        {"id": r.id, "title": r.title, "provider": r.provider,
         # always a string (the contract's shape); a Python rule reading several types lists them all
         "resource": r.resource or ",".join(r.resources), "severity": r.severity.value,
         "controls": list(r.controls)}
        for r in app.rules
        if (provider is None or r.provider == provider) and (wanted is None or wanted & set(r.controls))
    ]
    emit(rows, fmt, table_columns=["id", "severity", "resource", "controls", "title"],
         csv_columns=["id", "title", "provider", "resource", "severity", "controls"])


@rules.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@pass_app
def validate(app: App, paths: tuple[str, ...]) -> None:
    """Check rule files (default: the built-in packs and rules.paths): schema, JMESPath, types, controls, ids.

    With PATHs, the built-in packs are loaded too, so a duplicate id against them is caught.
    """
    from agent.rules.loader import load_rules
    from collectors.registry import known_resource_types

    extra = list(paths) or [app.config.resolve(p) for p in app.config.rules.paths]
    loaded = load_rules(extra, known_types=set(known_resource_types()))
    click.echo(f"{len(loaded)} rules OK")


COMMANDS = [rules]
