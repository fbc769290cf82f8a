"""A control's complete findings timeline: every status change that started in the period, newest first,
as paged HTML (``timeline.html``, ``timeline-2.html``, ...) with a filter box, and the same rows as
``timeline.csv`` (time-ordered; ``findings.csv`` keeps every interval by resource).

The rows stream from one SQL query ordered by time; only one page is held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select

from agent.export.history import RunIndex
from agent.export.population import CsvSpool
from agent.export.table_rows import timeline_rows
from agent.export.timefmt import ts_text
from agent.export.zipout import BundleWriter
from agent.store.schema import findings

PAGE_SIZE = 500
COLUMNS = ("from", "to", "open", "status", "rule", "severity", "resource_id", "resource_type", "resource_name",
           "source", "message", "evidence_file", "exception")


def page_name(stem: str, n: int) -> str:
    return f"{stem}.html" if n == 1 else f"{stem}-{n}.html"


def _changes(store: Any, index: RunIndex, rule_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
    c = findings.c
    query = (select(c.id, c.first_seen, c.last_seen, c.open, c.status, c.rule_id, c.severity, c.resource_id,
                    c.resource_type, c.resource_name, c.source, c.message, c.evidence, c.exception)
             .where(c.rule_id.in_(list(rule_ids)), index.interval_filter(findings),
                    c.first_seen >= index.period.start)
             .order_by(c.first_seen.desc(), c.id.desc()))
    with store.engine.connect() as conn:
        for row in conn.execute(query, execution_options={"yield_per": 2000}).mappings():
            yield dict(row)


def _count(store: Any, index: RunIndex, rule_ids: Sequence[str]) -> int:
    c = findings.c
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(findings).where(
            c.rule_id.in_(list(rule_ids)), index.interval_filter(findings),
            c.first_seen >= index.period.start)).scalar_one())


def write_timeline(writer: BundleWriter, store: Any, index: RunIndex, folder: str, control: Any,
                   rule_ids: Sequence[str], total: int | None = None) -> int:
    """Write the timeline pages and CSV; returns the number of changes.

    `total`: the number of changes when the caller already counted them (saves a query)."""
    from agent.export.pages import render_paged

    if total is None:
        total = _count(store, index, rule_ids) if rule_ids else 0
    pages = max(1, -(-total // PAGE_SIZE))
    page: list[dict[str, Any]] = []
    number = 1
    written = 0

    def flush() -> None:
        nonlocal page, number
        writer.write_text(f"{folder}/{page_name('timeline', number)}", render_paged(
            "timeline.html", control=control, rows=page, page=number, pages=pages, total=total,
            first=written - len(page) + 1, stem="timeline",
            rows_html=timeline_rows(page, written - len(page) + 1)))
        page = []
        number += 1

    spool = CsvSpool(COLUMNS)  # pages are written while the CSV grows: one zip handle at a time
    try:
        out = spool.csv
        for row in _changes(store, index, rule_ids) if rule_ids else iter(()):
            hexd = (row["evidence"] or "").removeprefix("sha256:")
            out.writerow([ts_text(row["first_seen"]), "" if row["open"] else ts_text(row["last_seen"]),
                          "yes" if row["open"] else "no", row["status"], row["rule_id"], row["severity"],
                          row["resource_id"], row["resource_type"], row["resource_name"], row["source"],
                          row["message"], f"evidence/{hexd}.json" if hexd else "", row["exception"] or ""])
            row["evidence_file"] = f"evidence/{hexd}.json" if hexd else None
            page.append(row)
            written += 1
            if len(page) == PAGE_SIZE:
                flush()
        if page or number == 1:
            flush()
        spool.copy_to(writer, f"{folder}/timeline.csv")
    finally:
        spool.close()
    return written
