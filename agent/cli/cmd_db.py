"""`annexa db upgrade`: apply schema migrations."""

from __future__ import annotations

import click

from agent.cli.app import App, pass_app


@click.group("db")
def db() -> None:
    """Evidence store administration."""


@db.command("upgrade")
@pass_app
def upgrade(app: App) -> None:
    """Apply schema migrations (Alembic) to the configured store."""
    from agent.store import migrate
    from agent.store.engine import redact_url

    store = app.store(migrate_schema="never")
    before, after = migrate.upgrade(store.engine)
    if before == after:
        click.echo(f"{redact_url(store.url)}: schema already at {after}")
    else:
        click.echo(f"{redact_url(store.url)}: schema upgraded {before or '(empty)'} -> {after}")


COMMANDS = [db]
