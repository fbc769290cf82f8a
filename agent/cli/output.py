"""Render rows as a rich table, one JSON document, or CSV, the same way for every command."""

from __future__ import annotations

import itertools
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


def emit_json_stream(items: Iterable[Any]) -> None:
    """A JSON array written item by item: the same text as `emit_json(list(items))`, in constant memory."""
    out = sys.stdout
    first = True
    for item in items:
        body = json.dumps(item, indent=2, default=str, ensure_ascii=False).replace("\n", "\n  ")
        out.write(("[\n  " if first else ",\n  ") + body)
        first = False
    out.write("[]\n" if first else "\n]\n")


def emit_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """CSV on stdout; every cell is made inert for spreadsheets (agent.export.cells)."""
    from agent.export.cells import InertCsvWriter

    writer = InertCsvWriter(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])


TABLE_CHUNK = 500  # rows rendered at a time: the first screen appears without reading every row


def emit_table(rows: Iterable[dict[str, Any]], columns: Sequence[str], *, title: str | None = None,
               status_column: str | None = "status") -> None:
    """A rich table. Up to TABLE_CHUNK rows it is one table; beyond, it is printed in chunks that keep
    the first chunk's column widths and are joined seamlessly, so a long listing starts at once and
    memory does not grow with the number of rows."""
    from rich.console import Console

    console = Console()
    it = iter(rows)
    chunk = list(itertools.islice(it, TABLE_CHUNK))
    if len(chunk) < TABLE_CHUNK:
        console.print(_table(chunk, columns, title, status_column))
        if not chunk:
            click.echo("(nothing to show)", err=True)
        return
    widths: list[int] | None = None
    first = True
    while chunk:
        table = _table(chunk, columns, title if first else None, status_column, widths=widths)
        if widths is None:
            widths = table._calculate_column_widths(console, console.options)
        nxt = list(itertools.islice(it, TABLE_CHUNK))
        with console.capture() as captured:
            console.print(table)
        lines = captured.get().splitlines(keepends=True)
        if not first:
            lines = lines[1:]  # the top border: this chunk continues the previous one
        if nxt:
            lines = lines[:-1]  # the bottom border: the next chunk continues this one
        sys.stdout.write("".join(lines))
        sys.stdout.flush()
        chunk, first = nxt, False


def _table(rows: Iterable[dict[str, Any]], columns: Sequence[str], title: str | None, status_column: str | None,
           *, widths: list[int] | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold", show_header=widths is None)
    for n, col in enumerate(columns):
        table.add_column(col.replace("_", " "), overflow="fold", width=None if widths is None else widths[n] - 2)
    for row in rows:
        cells = []
        for col in columns:
            text = _cell(row.get(col))
            style = STATUS_STYLE.get(text) if col == status_column else None
            cells.append(f"[{style}]{text}[/{style}]" if style else text.replace("[", r"\["))
        table.add_row(*cells)
    return table


def emit(rows: Iterable[dict[str, Any]], fmt: str, *, table_columns: Sequence[str],
         csv_columns: Sequence[str] | None = None, title: str | None = None) -> None:
    """Rows may be a list or a generator: nothing here holds them all (JSON and CSV are streamed)."""
    if fmt == "json":
        if isinstance(rows, list):
            emit_json(rows)
        else:
            emit_json_stream(rows)
    elif fmt == "csv":
        emit_csv(rows, csv_columns or table_columns)
    else:
        emit_table(rows, table_columns, title=title)
