"""`annexa export`: the auditor bundle for a period; `annexa export keygen`: a signing key pair."""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import click

from agent.catalogue import UnknownControlError
from agent.cli.app import App
from agent.cli.output import emit_json
from agent.errors import AnnexaError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_DAYS = 365


def parse_bound(value: str, option: str, *, end: bool) -> datetime:
    """A date (start of day for --from, end of day for --to) or an ISO 8601 datetime; naive means UTC."""
    from agent.clock import parse_instant

    text = value.strip()
    try:
        instant = parse_instant(text)
    except ValueError:
        raise AnnexaError(f"{option}: {value!r} is not a date (2026-01-31) or an ISO 8601 datetime "
                          "(2026-01-31T12:00:00Z)") from None
    if end and _DATE.match(text):
        instant = datetime.combine(instant.date(), time.max, tzinfo=instant.tzinfo)
    return instant


def resolve_period(start: str | None, end: str | None):  # type: ignore[no-untyped-def]
    from agent.clock import now
    from agent.export.history import Period

    to = parse_bound(end, "--to", end=True) if end else now()
    frm = parse_bound(start, "--from", end=False) if start else to - timedelta(days=DEFAULT_DAYS)
    if frm >= to:
        raise AnnexaError(f"--from ({frm.isoformat()}) must be before --to ({to.isoformat()})")
    return Period(frm, to)


def signing_key_for(app: App, sign_key: str | None):  # type: ignore[no-untyped-def]
    """--sign-key, else export.signing_key (path, relative to the config), else export.signing_key_env."""
    from agent.export import signing

    if sign_key:
        return signing.load_private_key_file(sign_key)
    cfg = app.config
    if cfg.export.signing_key:
        return signing.load_private_key_file(cfg.resolve(cfg.export.signing_key))
    if cfg.export.signing_key_env:
        return signing.load_private_key_env(cfg.export.signing_key_env, str(cfg.path) if cfg.path else None)
    return None


class _Terminated(BaseException):
    """SIGTERM during an export: a BaseException, so no `except Exception` on the way swallows it."""


class ExportInterrupted(AnnexaError):
    def __init__(self, cause: BaseException):
        self.exit_code = 143 if isinstance(cause, _Terminated) else 130
        name = "SIGTERM" if isinstance(cause, _Terminated) else "SIGINT"
        super().__init__(f"export interrupted ({name}): no bundle was written and the partial file was removed")


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While exporting, SIGTERM unwinds like Ctrl-C, so the partial zip is removed on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.group("export", invoke_without_command=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="The zip file to write, e.g. audit-2026.zip.")
@click.option("--from", "start", metavar="DATE", help="Start of the period (date or datetime, UTC). "
              f"Default: {DEFAULT_DAYS} days before --to.")
@click.option("--to", "end", metavar="DATE", help="End of the period, inclusive (a date means the whole day). "
              "Default: now.")
@click.option("--control", "controls", multiple=True, help="Only this control (repeatable; 2013 ids accepted).")
@click.option("--sample-date", "sample_dates", multiple=True, metavar="TIME",
              help="Add the state at this instant (samples/<TIME>/findings.csv and controls.csv; repeatable). "
              "A date means the end of that day; UTC unless an offset is given.")
@click.option("--sign-key", type=click.Path(dir_okay=False), help="Ed25519 private key (PEM) to sign the "
              "manifest with; overrides export.signing_key / export.signing_key_env.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.pass_context
def export(ctx: click.Context, out: Path | None, start: str | None, end: str | None, controls: tuple[str, ...],
           sample_dates: tuple[str, ...], sign_key: str | None, fmt: str, force: bool) -> None:
    """Write the auditor bundle (zip) for a period: HTML report, CSV history, evidence, OSCAL, hashes."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise click.UsageError("--out FILE.zip is required")
    app: App = ctx.find_object(App)
    from agent.export.bundle import export_bundle
    from agent.soa import configured_soa

    period = resolve_period(start, end)
    from agent.asof import parse_as_of

    instants = [parse_as_of(value, "--sample-date") for value in sample_dates]
    try:
        ids = app.control_ids(controls) if controls else None
    except UnknownControlError as exc:
        raise AnnexaError(f"--control: {exc}") from None
    if out.exists() and not force:
        raise AnnexaError(f"--out: {out} already exists (use --force to overwrite)")
    key = signing_key_for(app, sign_key)
    store = app.store()
    try:
        chatty = fmt == "text" and sys.stderr.isatty()
        progress = (lambda msg: click.echo(f"  {msg}", err=True)) if chatty else None
        with _terminate_as_interrupt():
            result = export_bundle(store=store, catalogue=app.catalogue, rules=app.active_rules(),
                                   soa=configured_soa(app.config, app.catalogue), out=out, period=period,
                                   controls=ids, signing_key=key, progress=progress, sample_dates=instants,
                                   sla_for=app.config.remediation.days_for)
    except (KeyboardInterrupt, _Terminated) as exc:
        raise ExportInterrupted(exc) from None
    finally:
        store.close()
    if fmt == "json":
        emit_json(result.as_dict())
        return
    for missing in result.missing_evidence:
        click.echo(f"warning: {missing['control']}: evidence {missing['digest']} could not be exported "
                   f"({missing['error']})", err=True)
    signed = f", signed (key fingerprint {result.key_fingerprint})" if result.signed else ", not signed"
    click.echo(f"wrote {result.path}: {result.files} files, {result.size / 1048576:.1f} MB; "
               f"{len(result.controls)} controls, {len(result.excluded)} excluded by the SoA, {result.runs} runs, "
               f"{result.findings} finding intervals, {result.evidence_files} snapshots, "
               f"{result.manual_files} documents{signed} ({result.seconds:.1f}s)")


@export.command("keygen")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (PEM); the public key goes next to it as NAME.pub.pem.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keygen(out: Path, force: bool) -> None:
    """Create an Ed25519 key pair for signing bundles. Give auditors the public key, keep the private one."""
    from agent.export.signing import write_keypair

    public = write_keypair(out, force=force)
    click.echo(f"private key: {out} (keep it secret; set export.signing_key or pass --sign-key)", err=True)
    click.echo(str(public))


COMMANDS = [export]
