"""`annexa soa init|export|validate` and `annexa exceptions list|validate`: the risk-treatment files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.cli.app import App, pass_app
from agent.cli.output import emit
from agent.errors import AnnexaError

if TYPE_CHECKING:
    from agent.exceptions import RiskException


@click.group("soa")
def soa() -> None:
    """Statement of Applicability: which controls apply, why, and how far they are implemented."""


@soa.command("init")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("soa.yaml"),
              show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def soa_init(out: Path, force: bool) -> None:
    """Write a starter SoA listing all 93 controls (applicable, implementation planned)."""
    from agent.soa import write_starter_soa

    if out.exists() and not force:
        raise AnnexaError(f"{out} exists; use --force to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_starter_soa(out)
    click.echo(f"wrote {out}: all 93 controls, each applicable with implementation 'planned'")


def _soa_path(app: App, path: Path | None) -> Path:
    if path is not None:
        return path
    configured = app.config.soa_path
    if configured is None:
        raise AnnexaError(f"{app.config.path}: soa: no SoA file is configured (add `soa: soa.yaml`, "
                          "or pass a PATH)")
    return configured


@soa.command("validate")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def soa_validate(app: App, path: Path | None) -> None:
    """Check the SoA file (the configured one, or PATH). Exit 2 naming file, line and field on a mistake."""
    from agent.soa import load_soa_record

    target = _soa_path(app, path)
    record = load_soa_record(target, app.catalogue)
    entries = record.entries
    excluded = sum(1 for e in entries.values() if not e.applicable)
    approval = (f"version {record.version}, approved by {record.approved_by} on {record.approved_on}"
                if record.version else "unversioned")
    click.echo(f"{target} OK: {len(entries)} controls, {len(entries) - excluded} applicable, "
               f"{excluded} excluded with justification; {approval}")
    for warning in record.warnings:
        click.echo(f"warning: {warning}", err=True)


@soa.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (required for xlsx; csv goes to stdout without it).")
@pass_app
def soa_export(app: App, fmt: str, out: Path | None) -> None:
    """The SoA with each control's current evidence status, as CSV or Excel."""
    from agent.posture import posture
    from agent.soa import configured_soa, soa_rows, write_soa_csv, write_soa_xlsx

    if fmt == "xlsx" and out is None:
        raise click.UsageError("--format xlsx needs --out FILE.xlsx")
    path = app.config.soa_path
    if path is not None and not path.exists():
        click.echo(f"note: {path} not found; every control is reported as applicable", err=True)
    rows = soa_rows(posture(app), configured_soa(app.config, app.catalogue))
    if fmt == "xlsx":
        assert out is not None
        write_soa_xlsx(rows, out)
    elif out is None:
        write_soa_csv(rows, sys.stdout)
        return
    else:
        write_soa_csv(rows, out)
    click.echo(f"wrote {out} ({len(rows)} controls)", err=True)


@click.group("exceptions")
def exceptions() -> None:
    """Risk acceptances: failing checks accepted until a date, with owner and approver."""


def _load(app: App, path: Path | None) -> tuple[Path, list[RiskException]]:
    from agent.exceptions import load_exceptions

    target = path or app.config.exceptions_path
    if target is None:
        raise AnnexaError(f"{app.config.path}: exceptions: no exceptions file is configured "
                          "(add `exceptions: exceptions.yaml`, or pass a PATH)")
    return target, load_exceptions(target, [r.id for r in app.rules])


@exceptions.command("list")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@pass_app
def exceptions_list(app: App, path: Path | None, fmt: str) -> None:
    """Every risk acceptance with its state (active or expired) and days left."""
    from agent import clock

    _, items = _load(app, path)
    now = clock.now()
    rows = [ex.as_dict(now) for ex in items]
    emit(rows, fmt, table_columns=["id", "rule", "resource", "owner", "approved_by", "expires", "state",
                                   "days_left"],
         csv_columns=["id", "rule", "resource", "justification", "owner", "approved_by", "approved_on", "expires",
                      "revoked_on", "revoked_reason", "state", "days_left"], title="Risk acceptances")


@exceptions.command("validate")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def exceptions_validate(app: App, path: Path | None) -> None:
    """Check the exceptions file. Exit 2 naming file, line and field on a mistake."""
    from agent import clock

    target, items = _load(app, path)
    now = clock.now()
    expired = [ex.id for ex in items if ex.state(now) == "expired"]
    revoked = [ex.id for ex in items if ex.state(now) == "revoked"]
    click.echo(f"{target} OK: {len(items)} risk acceptance(s), {len(items) - len(expired) - len(revoked)} active")
    if expired:
        click.echo(f"note: expired, no longer applied: {', '.join(expired)}", err=True)
    if revoked:
        click.echo(f"note: revoked, no longer applied: {', '.join(revoked)}", err=True)
    undated = [ex.id for ex in items if ex.approved_on is None]
    if undated:
        click.echo(f"warning: no approved_on (the approval date the exception register shows): "
                   f"{', '.join(undated)}", err=True)


COMMANDS = [soa, exceptions]
