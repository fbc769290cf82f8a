"""Render rows as a rich table, one JSON document, or CSV, the same way for every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

FORMATS = ("table", "json", "csv")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                             help="Output format. json prints one document on stdout and nothing else.")

STATUS_STYLE = {"pass": "green", "passing": "green", "fail": "red", "failing": "red", "error": "yellow",
                "unknown": "yellow", "excepted": "cyan", "manual": "blue", "not_applicable": "dim",
                "complete": "green", "partial": "yellow", "incomplete": "red", "running": "blue"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")


def emit_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """CSV on stdout; every cell is made inert for spreadsheets (agent.export.cells)."""
    from agent.export.cells import InertCsvWriter

    writer = InertCsvWriter(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])


def emit_table(rows: Iterable[dict[str, Any]], columns: Sequence[str], *, title: str | None = None,
               status_column: str | None = "status") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        table.add_column(col.replace("_", " "), overflow="fold")
    n = 0
    for row in rows:
        cells = []
        for col in columns:
            text = _cell(row.get(col))
            style = STATUS_STYLE.get(text) if col == status_column else None
            cells.append(f"[{style}]{text}[/{style}]" if style else text.replace("[", r"\["))
        table.add_row(*cells)
        n += 1
    Console().print(table)
    if n == 0:
        click.echo("(nothing to show)", err=True)


def emit(rows: list[dict[str, Any]], fmt: str, *, table_columns: Sequence[str],
         csv_columns: Sequence[str] | None = None, title: str | None = None) -> None:
    if fmt == "json":
        emit_json(rows)
    elif fmt == "csv":
        emit_csv(rows, csv_columns or table_columns)
    else:
        emit_table(rows, table_columns, title=title)
