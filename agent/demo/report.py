"""What `annexa demo` prints: the simulated organisation, the runs, the control table, next steps."""

from __future__ import annotations

import shlex
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from agent.demo.runner import DemoResult
    from agent.runner import RunResult

STATUS_ORDER = {"failing": 0, "unknown": 1, "passing": 2, "manual": 3, "not_applicable": 4}
THEMES = ("Organizational", "People", "Physical", "Technological")
TABLE_COLUMNS = ["id", "control", "status", "pass", "fail", "error"]


def _world(result: DemoResult) -> None:
    w = result.world
    click.echo("Simulated organisation (Acme, an online payments company; nothing here is real):")
    for acct in w.accounts:
        click.echo(f"  {acct.name:<18} {acct.id}  ({acct.key})")
    click.echo(f"  regions: {', '.join(w.regions)}; {sum(w.seeded.values())} setup steps done"
               + (f", {len(w.skipped)} skipped (the simulator lacks them; --log-level debug lists them)"
                  if w.skipped else ""))
    for tenant in result.tenants:
        click.echo(f"  {tenant}")


def _run_line(n: int, run: RunResult) -> str:
    totals = run.totals()
    resources = sum(s.resources for s in run.sources.values())
    errors = sum(len(s.errors) for s in run.sources.values())
    return (f"  run {n} (id {run.run_id}, {run.status}): {resources} resources; findings: "
            f"{totals.get('pass', 0)} pass, {totals.get('fail', 0)} fail, {totals.get('error', 0)} error"
            + (f", {totals['excepted']} excepted" if totals.get("excepted") else "")
            + (f"; {errors} collection errors" if errors else ""))


def _collection_errors(run: RunResult) -> None:
    """Group the last run's collection errors by resource type and reason (one line each)."""
    groups: Counter[tuple[str, str]] = Counter()
    for source in run.sources.values():
        for err in source.errors:
            groups[(err.resource_type, err.message.splitlines()[0][:120])] += 1
    if not groups:
        return
    click.echo("Could not be collected (these rules report `error`, never `pass`):")
    for (rtype, message), n in sorted(groups.items()):
        click.echo(f"  {rtype}: {message} ({n} account/region scope{'s' if n != 1 else ''})")


def _controls(result: DemoResult) -> None:
    from agent.cli.output import emit_table
    from agent.posture import posture

    store = result.app.store()
    try:
        rows = [s.as_dict() for s in posture(result.app, store)]
    finally:
        store.close()
    evidenced = [r for r in rows if r["status"] != "unknown" or r["errors"] or r["passing"] or r["failing"]]
    order = {r["id"]: n for n, r in enumerate(rows)}  # catalogue order: A.7.2 before A.7.11
    evidenced.sort(key=lambda r: (STATUS_ORDER.get(r["status"], 9), -r["failing"], order[r["id"]]))
    table = [{"id": r["id"], "control": r["title"], "status": r["status"], "pass": r["passing"],
              "fail": r["failing"], "error": r["errors"]} for r in evidenced]
    emit_table(table, TABLE_COLUMNS, title="ISO/IEC 27001:2022 Annex A controls with evidence (demo)")
    hidden = len(rows) - len(evidenced)
    if hidden:
        click.echo(f"  …and {hidden} controls with no evidence yet (status unknown): most are "
                   "processes shown by documents (`annexa evidence add`), or need rules no source has yet; "
                   "see `annexa controls --coverage`.")
    for theme in THEMES:
        counts = Counter(r["status"] for r in rows if r["theme"] == theme)
        total = sum(counts.values())
        parts = ", ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in STATUS_ORDER if counts[s])
        click.echo(f"  {theme + ':':<15} {total:>2} controls: {parts}")


def _next_steps(result: DemoResult) -> None:
    cfg = shlex.quote(str(result.config.resolve()))
    click.echo(f"\nNext steps (the demo store stays in {result.folder.resolve()}; point any command at it):")
    click.echo(f"  export ANNEXA_CONFIG={cfg}      # or pass --config to each command")
    steps = [
        ("annexa findings --status fail", "what fails, resource by resource (--format json for scripts)"),
        ("annexa controls", "all 93 controls with their status"),
        ("annexa controls show A.8.5", "one control: guidance, rules and evidence"),
        ("annexa verify --store", "check the store's hash chain"),
    ]
    if result.bundle is not None:
        steps.append((f"annexa verify {shlex.quote(str(result.bundle.resolve()))}", "check the auditor bundle"))
    steps.append(("annexa export --out audit.zip", "an auditor bundle for any period"))
    for command, why in steps:
        click.echo(f"  {command:<44} # {why}")
    click.echo("To collect from your own AWS account instead: `annexa init`, edit annexa.yaml, `annexa run`.")


def print_report(result: DemoResult, began: float | None = None) -> None:
    _world(result)
    click.echo("Pipeline (collect → evaluate → store), twice, with a fix in between:")
    for n, run in enumerate(result.runs, 1):
        click.echo(_run_line(n, run))
        if n < len(result.runs):
            for change in result.changes:
                click.echo(f"    then: {change}")
    if result.runs:
        _collection_errors(result.runs[-1])
    if result.attached:
        click.echo("Documents attached as manual evidence: " + "; ".join(result.attached))
    click.echo("")
    _controls(result)
    if result.bundle is not None:
        click.echo(f"\nAuditor bundle: {_short(result.bundle)} ({result.bundle_note})")
    elif result.bundle_note:
        click.echo(f"\nNo auditor bundle: {result.bundle_note}")
    for name in result.ignored_env:
        click.echo(f"note: {name} was ignored during the demo (it always uses its own SQLite store); "
                   f"unset it to explore the demo store", err=True)
    _next_steps(result)
    seconds = time.monotonic() - began if began is not None else result.seconds
    click.echo(f"\nDemo finished in {seconds:.1f}s.")


def _short(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
