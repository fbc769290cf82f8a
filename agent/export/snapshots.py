"""A control's configuration snapshots listed by resource: ``snapshots.html`` (paged, filterable), one
entry per resource with every version of its configuration in the period (when it was first and last
seen in that state) and a link to that version's raw JSON in ``evidence/``. ``snapshots.csv`` has the
same rows. Rows stream from one SQL query ordered by resource then time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select

from agent.export.history import RunIndex
from agent.export.population import CsvSpool
from agent.export.table_rows import snapshot_rows
from agent.export.timefmt import ts_text
from agent.export.timeline import page_name
from agent.export.zipout import BundleWriter
from agent.store.schema import resource_states

PAGE_RESOURCES = 500
BATCH = 500
COLUMNS = ("source", "resource_type", "resource_id", "resource_name", "account", "region", "version",
           "first_seen", "last_seen", "current", "evidence_file")


def _versions(store: Any, index: RunIndex, keys: list[str]) -> Iterator[dict[str, Any]]:
    c = resource_states.c
    for i in range(0, len(keys), BATCH):
        chunk = keys[i:i + BATCH]
        query = (select(c.key, c.source, c.type, c.resource_id, c.name, c.account, c.region, c.evidence,
                        c.first_seen, c.last_seen, c.open)
                 .where(c.key.in_(chunk), index.interval_filter(resource_states))
                 .order_by(c.source, c.type, c.resource_id, c.first_seen, c.id))
        with store.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                yield dict(row)


def write_snapshots(writer: BundleWriter, store: Any, index: RunIndex, folder: str, control: Any,
                    keys: Iterable[str], missing: set[str]) -> int:
    """Write snapshots.html pages and snapshots.csv for these resource keys; returns the resource count."""
    from agent.export.pages import render_paged

    ordered = sorted(keys)
    groups: list[dict[str, Any]] = []
    pages_written = 0
    resources = 0
    current: dict[str, Any] | None = None

    def flush(last: bool) -> None:
        nonlocal groups, pages_written
        pages_written += 1
        writer.write_text(f"{folder}/{page_name('snapshots', pages_written)}", render_paged(
            "snapshots.html", control=control, rows=groups, page=pages_written, pages=None, total=None,
            first=resources - len(groups) + 1, stem="snapshots", has_next=not last,
            rows_html=snapshot_rows(groups, resources - len(groups) + 1)))
        groups = []

    spool = CsvSpool(COLUMNS)  # pages are written while the CSV grows: one zip handle at a time
    try:
        out = spool.csv
        for row in _versions(store, index, ordered):
            ident = (row["source"], row["type"], row["resource_id"])
            if current is None or current["ident"] != ident:
                if len(groups) == PAGE_RESOURCES:
                    flush(last=False)
                current = {"ident": ident, "source": row["source"], "type": row["type"],
                           "resource_id": row["resource_id"], "name": row["name"], "account": row["account"],
                           "region": row["region"], "versions": []}
                groups.append(current)
                resources += 1
            hexd = (row["evidence"] or "").removeprefix("sha256:")
            version = {"n": len(current["versions"]) + 1, "first_seen": row["first_seen"],
                       "last_seen": row["last_seen"], "open": bool(row["open"]), "hex": hexd,
                       "href": f"evidence/{hexd}.json", "missing": hexd in missing}
            current["versions"].append(version)
            out.writerow([row["source"], row["type"], row["resource_id"], row["name"], row["account"] or "",
                          row["region"] or "", str(version["n"]), ts_text(row["first_seen"]),
                          ts_text(row["last_seen"]), "yes" if row["open"] else "no", version["href"]])
        flush(last=True)
        spool.copy_to(writer, f"{folder}/snapshots.csv")
    finally:
        spool.close()
    return resources
