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
@click.option("--skip-signature", is_flag=True,
              help="For a signed bundle checked without --public-key: accept the hashes alone (the output says "
                   "the signature was not checked). Without it, such a check exits 2.")
@click.option("--anchor", "anchors", multiple=True, metavar="HASH|BUNDLE.zip",
              help="With --store: a run hash kept outside the store (or an export bundle, whose chain head is "
                   "used) that must still be in the chain. Repeatable.")
@click.option("--since", "since_seq", type=click.IntRange(min=1), metavar="SEQ",
              help="With --store: recompute Merkle roots only for runs from this chain position on (see `annexa "
                   "runs`); chain links, row hashes and blobs are always checked.")
@click.option("--incremental", is_flag=True,
              help="With --store: check only what was sealed after the last verification that passed (its "
                   "checkpoint is kept in the store); every chain link is still checked. Without a checkpoint "
                   "the check is full.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def verify(app: App, bundle: str | None, check_store: bool, public_key: str | None, skip_signature: bool,
           anchors: tuple[str, ...], since_seq: int | None, incremental: bool, fmt: str) -> None:
    """Check integrity: exit 0 when everything matches, 1 naming the first difference."""
    if bool(bundle) == check_store:
        raise click.UsageError("give either a bundle FILE.zip or --store")
    if (anchors or since_seq or incremental) and not check_store:
        raise click.UsageError("--anchor, --since and --incremental go with --store")
    if check_store:
        from agent.store.verify import StoreUnverifiable, open_for_verify, verify_store

        wanted = [_anchor_hash(a) for a in anchors]
        try:
            store = open_for_verify(app.config.store_url, app.config.evidence_dir)
        except StoreUnverifiable as exc:  # empty, wiped, corrupt: a failed verification, one line
            if fmt == "json":
                emit_json({"ok": False, "runs": 0, "findings": 0, "resources": 0, "blobs": 0, "head": None,
                           "problems": [str(exc)], "notes": []})
            else:
                click.echo(f"store verification FAILED: {exc}")
            sys.exit(1)
        checkpoint = None
        if incremental:
            from agent.verifystatus import load_checkpoint

            checkpoint = load_checkpoint(store)
        report = verify_store(store, anchors=wanted, since_seq=since_seq, after=checkpoint)
        if incremental and checkpoint is None:
            report.notes.append("no verified checkpoint in the store yet: this check was a full one")
        _record_result(app, report, full=checkpoint is None and since_seq is None)
        if fmt == "json":
            emit_json({"ok": report.ok, "runs": report.runs, "findings": report.findings,
                       "resources": report.resources, "blobs": report.blobs, "head": report.head,
                       "problems": report.problems, "notes": report.notes,
                       "incremental_from": report.incremental_from})
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
    if skip_signature and public_key:
        raise click.UsageError("--skip-signature and --public-key exclude each other")
    sys.exit(verify_bundle(bundle, public_key=public_key, fmt=fmt, skip_signature=skip_signature))


def _anchor_hash(value: str) -> str:
    """A `sha256:` run hash as given, or the store chain head recorded in an export bundle's manifest."""
    if value.startswith("sha256:"):
        return value
    from agent.export.verify import BundleUnreadable, read_manifest

    try:
        manifest = read_manifest(value)  # bounded: a bomb given as --anchor is refused, not inflated
    except BundleUnreadable:
        raise click.BadParameter(f"{value}: neither a sha256: hash nor an export bundle with a manifest.json",
                                 param_hint="--anchor") from None
    head = (manifest.get("store") or {}).get("chain_head")
    if isinstance(head, dict):  # {"hash": ..., "seq": ...}
        head = head.get("hash")
    if not head:
        raise click.BadParameter(f"{value}: its manifest records no store chain head", param_hint="--anchor")
    return str(head)


COMMANDS = [verify]


def _record_result(app: App, report: object, *, full: bool) -> None:
    """Keep the result in the store for the exporter's annexa_store_verify_* metrics, and move the verified
    checkpoint when it passed (never fatal)."""
    from agent.verifystatus import record

    try:
        problems = getattr(report, "problems", [])
        record(app.store(), ok=bool(getattr(report, "ok", False)), runs=int(getattr(report, "runs", 0)),
               problem=problems[0] if problems else None,
               head=(int(getattr(report, "head_seq", 0)), getattr(report, "head", None)), full=full)
    except Exception as exc:  # a read-only database user, or a read-only copy, may verify without recording
        reason = getattr(exc, "orig", None) or exc  # the driver's message, not SQLAlchemy's statement dump
        click.echo(f"note: could not record the verification result in the store: {reason}", err=True)
