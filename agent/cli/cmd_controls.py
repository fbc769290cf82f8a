"""`annexa controls`: the catalogue with live status; `controls show ID`; `controls --coverage`."""

from __future__ import annotations

import click

from agent.cli.app import App, pass_app
from agent.cli.output import emit, emit_json

CONTROL_COLUMNS = ["id", "title", "theme", "status", "rules", "passing", "failing", "errors", "manual_evidence"]
CSV_COLUMNS = ["id", "title", "theme", "applicable", "status", "rules", "passing", "failing", "errors", "excepted",
               "manual_evidence", "evidence_mode", "iso27001_2013"]


def _parse_attribute(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    key, sep, tag = value.partition("=")
    if not sep or not key or not tag:
        raise click.BadParameter("expected KEY=VALUE, e.g. operational_capabilities=Governance",
                                 param_hint="--attribute")
    return key.strip(), tag.strip()


@click.group("controls", invoke_without_command=True)
@click.option("--theme", type=click.Choice(["Organizational", "People", "Physical", "Technological"],
                                           case_sensitive=False))
@click.option("--attribute", help="KEY=VALUE over ISO 27002 attributes, e.g. cybersecurity_concepts=Detect.")
@click.option("--status", type=click.Choice(["passing", "failing", "unknown", "manual", "not_applicable"]))
@click.option("--coverage", is_flag=True, help="How many controls have automated, partial, manual or no evidence.")
@click.option("--as-of", "as_of", metavar="TIME", help="Status at this instant instead of now (ISO 8601 datetime, "
              "or a date meaning the end of that day; UTC unless an offset is given).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_context
def controls(ctx: click.Context, theme: str | None, attribute: str | None, status: str | None, coverage: bool,
             as_of: str | None, fmt: str) -> None:
    """The 93 Annex A controls with status and evidence counts."""
    if ctx.invoked_subcommand:
        return
    app: App = ctx.obj
    if coverage:
        _coverage(app, fmt)
        return
    from agent.posture import posture

    theme_name = next((t for t in ("Organizational", "People", "Physical", "Technological")
                       if theme and t.lower() == theme.lower()), None)
    try:
        wanted = {c.id for c in app.catalogue.filter(theme=theme_name, attribute=_parse_attribute(attribute))}
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--attribute") from None
    states = _states_at(app, as_of) if as_of is not None else posture(app)
    rows = [s.as_dict() for s in states if s.control.id in wanted]
    if status:
        rows = [r for r in rows if r["status"] == status]
    emit(rows, fmt, table_columns=CONTROL_COLUMNS, csv_columns=CSV_COLUMNS, title="ISO/IEC 27001:2022 Annex A")


def _states_at(app: App, as_of: str) -> list:  # type: ignore[type-arg]
    from agent.asof import control_states_at, parse_as_of
    from agent.posture import applicability
    from agent.status import control_states

    at = parse_as_of(as_of)
    if not app.store_exists():
        return control_states(app.catalogue.controls, app.active_rules(), {}, applicability=applicability(app))
    store = app.store()
    try:
        return control_states_at(store, at, catalogue=app.catalogue, rules=app.active_rules(),
                                 applicability=applicability(app))
    finally:
        store.close()


def _coverage(app: App, fmt: str) -> None:
    from agent.status import rules_by_control

    mapped = rules_by_control(app.active_rules())
    rows = []
    for c in app.catalogue.controls:
        n = len(mapped.get(c.id, []))
        if n and c.evidence_mode == "automated":
            path = "automated"
        elif n:
            path = "partly automated"
        elif c.evidence_mode == "manual" or c.evidence_mode == "partly automated":
            path = "manual"
        else:
            path = "none"
        rows.append({"id": c.id, "title": c.title, "theme": c.theme, "evidence_mode": c.evidence_mode,
                     "rules": n, "coverage": path})
    summary = {k: sum(1 for r in rows if r["coverage"] == k)
               for k in ("automated", "partly automated", "manual", "none")}
    if fmt == "json":
        emit_json({"summary": summary, "controls": rows,
                   "no_evidence_path": [r["id"] for r in rows if r["coverage"] == "none"]})
        return
    emit(rows, fmt, table_columns=["id", "title", "evidence_mode", "rules", "coverage"],
         title="Evidence coverage")
    if fmt == "table":
        click.echo("  ".join(f"{k}: {v}" for k, v in summary.items()))


@controls.command("show")
@click.argument("control_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_app
def show(app: App, control_id: str, fmt: str) -> None:
    """One control in full: attributes, guidance, 2013 origins, rules, status, evidence."""
    from agent.posture import posture

    ids = app.control_ids((control_id,))
    store = app.store() if app.store_exists() else None
    states = {s.control.id: s for s in posture(app, store)}
    counts = store.counts_by_rule() if store is not None else {}
    titles = {r.id: r.title for r in app.active_rules()}
    docs = []
    for cid in ids:
        state = states[cid]
        doc = state.as_dict()
        g = state.control.guidance
        doc["guidance_detail"] = {"purpose": g.purpose, "implementation": g.implementation,
                                  "evidence": g.evidence, "automation": g.automation}
        doc["evidence_sources"] = list(state.control.evidence_sources)
        doc["rule_ids"] = state.rules
        doc["rule_results"] = [{"rule": rid, "title": titles.get(rid, ""),
                                **{k: counts.get(rid, {}).get(k, 0) for k in ("pass", "fail", "error", "excepted")}}
                               for rid in state.rules]
        doc["justification"] = state.justification
        docs.append(doc)
    if fmt == "json":
        emit_json(docs[0] if len(docs) == 1 else docs)
        return
    for doc in docs:
        _print_control(app, doc)


def _print_control(app: App, doc: dict) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    console.print(f"[bold]{doc['id']} {escape(doc['title'])}[/bold]  ({doc['theme']})"
                  + ("  [cyan]new in 2022[/cyan]" if doc["new_in_2022"] else ""))
    console.print(f"status: [bold]{doc['status']}[/bold]   rules: {doc['rules']}   passing: {doc['passing']}   "
                  f"failing: {doc['failing']}   errors: {doc['errors']}   excepted: {doc['excepted']}   "
                  f"manual evidence: {doc['manual_evidence']}")
    if not doc["applicable"]:
        console.print(f"not applicable: {escape(doc['justification'] or '')}")
    for family, tags in doc["attributes"].items():
        console.print(f"  {family}: {', '.join(tags)}")
    console.print(f"ISO 27001:2013 origin: {', '.join(doc['iso27001_2013']) or 'new control'}")
    g = doc["guidance_detail"]
    for label in ("purpose", "implementation", "evidence", "automation"):
        console.print(f"\n[bold]{label.capitalize()}[/bold]\n{escape(g[label])}")
    from collectors.registry import collector_types

    console.print(f"\nEvidence mode: {doc['evidence_mode']}; sources: {escape('; '.join(doc['evidence_sources']))}")
    console.print(f"[dim]Collectors installed here: {', '.join(sorted(collector_types())) or 'none'} — only the "
                  "rules below produce evidence today.[/dim]")
    if doc["rule_results"]:
        console.print("\n[bold]Rules[/bold] (current findings: pass / fail / error / excepted)")
        for r in doc["rule_results"]:
            console.print(f"  {r['rule']}  {r['pass']} / {r['fail']} / {r['error']} / {r['excepted']}  "
                          f"[dim]{escape(r['title'])}[/dim]")


COMMANDS = [controls]
