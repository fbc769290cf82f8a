"""`annexa evidence add|list|remove`: manual evidence for controls that APIs cannot prove."""

from __future__ import annotations

from pathlib import Path

import click

from agent.catalogue import UnknownControlError
from agent.cli.app import App, pass_app
from agent.cli.output import emit
from agent.errors import AnnexaError

MAX_EVIDENCE_ID = 2**31 - 1  # the id column is a 32-bit INTEGER on PostgreSQL
LIST_TABLE = ["id", "control", "filename", "size", "uploaded_by", "uploaded_at", "valid_until", "state"]
LIST_CSV = ["id", "control", "filename", "sha256", "size", "media_type", "uploaded_by", "uploaded_at",
            "valid_until", "state", "removed_at", "removed_by", "note"]


def _controls(app: App, values: tuple[str, ...]) -> list[str]:
    try:
        return app.control_ids(values)
    except UnknownControlError as exc:
        raise AnnexaError(f"--control: {exc}") from None


def _text_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--note, --reason, --by: text the store can keep (UTF-8, no control characters, bounded length)."""
    from agent.manual import MAX_BY_CHARS, MAX_NOTE_CHARS, checked_text

    if value is None:
        return None
    option = f"--{param.name}"
    limit = MAX_BY_CHARS if param.name == "by" else MAX_NOTE_CHARS
    return checked_text(value, option, limit=limit, multiline=param.name != "by")


@click.group("evidence")
def evidence() -> None:
    """Manual evidence: documents that show a control is in place (policies, training records, ...)."""


@evidence.command("add")
@click.option("--control", "controls", multiple=True, required=True,
              help="Control id, e.g. A.5.1 (repeatable; a 2013 id maps to its 2022 control(s)).")
@click.option("--file", "file", required=True, type=click.Path(dir_okay=True, path_type=Path),
              help="The document to store (up to 100 MB).")
@click.option("--valid-for", help="How long the evidence counts: 30d, 12w, 6m (30 days each), 1y (365 days). "
                                   "Without it the evidence does not expire.")
@click.option("--note", help="Free text shown next to the evidence.", callback=_text_option)
@click.option("--by", "by", help="Who provides the evidence (default: $USER).", callback=_text_option)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def add(app: App, controls: tuple[str, ...], file: Path, valid_for: str | None, note: str | None,
        by: str | None, fmt: str) -> None:
    """Store a document as evidence for a control."""
    from agent.manual import add_evidence, evidence_filename, manual_evidence_rows, parse_duration, read_evidence_file

    ids = _controls(app, controls)
    try:
        duration = parse_duration(valid_for) if valid_for is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--valid-for") from None
    evidence_filename(file)
    data = read_evidence_file(file)  # every input is checked before the store is opened or written
    store = app.store()
    added = [add_evidence(store, cid, file, valid_for=duration, note=note, uploaded_by=by, data=data)
             for cid in ids]
    new_ids = {a["id"] for a in added}
    rows = [r for r in manual_evidence_rows(store, include_removed=True) if r["id"] in new_ids]
    if fmt == "json":
        emit(rows, "json", table_columns=LIST_TABLE)
        return
    for r in rows:
        until = f"valid until {r['valid_until']}" if r["valid_until"] else "no expiry"
        click.echo(f"added evidence {r['id']}: {r['control']} {r['filename']} ({r['size']} bytes, "
                   f"{r['sha256']}), {until}")
    if duration is None:
        click.echo("note: no --valid-for given, so this evidence counts as current until it is removed",
                   err=True)


@evidence.command("list")
@click.option("--control", "controls", multiple=True, help="Only evidence for this control (repeatable).")
@click.option("--all", "show_all", is_flag=True, help="Include removed evidence (kept for the audit trail).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@pass_app
def list_(app: App, controls: tuple[str, ...], show_all: bool, fmt: str) -> None:
    """Manual evidence with its state: current, expired or removed."""
    from agent.manual import manual_evidence_rows

    wanted = set(_controls(app, controls)) if controls else None
    rows = [r for r in manual_evidence_rows(app.store(), include_removed=show_all)
            if wanted is None or r["control"] in wanted]
    emit(rows, fmt, table_columns=LIST_TABLE, csv_columns=LIST_CSV, title="Manual evidence")


@evidence.command("remove")
@click.argument("evidence_id", type=click.IntRange(1, MAX_EVIDENCE_ID))
@click.option("--reason", help="Why it no longer counts (kept with the record).", callback=_text_option)
@click.option("--by", "by", help="Who removes it (default: $USER).", callback=_text_option)
@pass_app
def remove(app: App, evidence_id: int, reason: str | None, by: str | None) -> None:
    """Stop counting a piece of evidence. The record and its file stay in the store for auditors."""
    from agent.manual import remove_evidence

    row = remove_evidence(app.store(), evidence_id, removed_by=by, reason=reason)
    click.echo(f"removed evidence {evidence_id} ({row['control']} {row['filename']}); "
               "the record stays in the store's history")


COMMANDS = [evidence]
