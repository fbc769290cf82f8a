"""`annexa verify FILE.zip` and `annexa verify --store`."""

from __future__ import annotations

import sys

import click

from agent.cli.app import App, pass_app
from agent.cli.output import emit_json


@click.command("verify")
@click.argument("bundle", required=False, type=click.Path(dir_okay=False))
@click.option("--store", "check_store", is_flag=True, help="Verify the evidence store's hash chain and blobs.")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False),
              help="Ed25519 public key (PEM) the bundle's manifest must be signed with.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def verify(app: App, bundle: str | None, check_store: bool, public_key: str | None, fmt: str) -> None:
    """Check integrity: exit 0 when everything matches, 1 naming the first difference."""
    if bool(bundle) == check_store:
        raise click.UsageError("give either a bundle FILE.zip or --store")
    if check_store:
        from agent.store.verify import verify_store

        report = verify_store(app.store())
        if fmt == "json":
            emit_json({"ok": report.ok, "runs": report.runs, "findings": report.findings,
                       "resources": report.resources, "blobs": report.blobs, "head": report.head,
                       "problems": report.problems, "notes": report.notes})
        else:
            for note in report.notes:
                click.echo(f"note: {note}", err=True)
            if report.ok:
                click.echo(f"store OK: {report.runs} runs chained (head {report.head}), {report.findings} finding "
                           f"intervals, {report.resources} resource snapshots, {report.blobs} blobs verified")
            else:
                click.echo(f"store verification FAILED: {report.problems[0]}")
                for extra in report.problems[1:10]:
                    click.echo(f"  also: {extra}")
        sys.exit(0 if report.ok else 1)
    try:
        from agent.export.verify import verify_bundle
    except ImportError:
        raise click.ClickException("bundle verification is not available in this build") from None
    sys.exit(verify_bundle(bundle, public_key=public_key, fmt=fmt))


COMMANDS = [verify]
