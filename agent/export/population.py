"""The sampling population of a control, split in two files:

* ``population.csv``: one row per resource in scope of the control's rules (what an auditor samples);
* ``collection-errors.csv``: one row per collection scope that could not be read (a resource type in
  an account/region, whose findings carry an ``annexa:collection/...`` id). These are not resources:
  mixing them into the population would inflate it and hide that part of the scope was not seen.

Rows arrive grouped by resource (agent.export.history.control_findings), so each file is written one
group at a time into a spooled temporary file and copied into the bundle at the end.
"""

from __future__ import annotations

import io
import tempfile
from typing import Any

from agent.export.cells import InertCsvWriter
from agent.export.zipout import BundleWriter

COLLECTION_PREFIX = "annexa:collection/"
ERROR_COLUMNS = ("source", "scope", "resource_type", "account", "region", "rules", "intervals", "first_seen",
                 "last_seen", "days_error", "message", "status_at_period_end")
SPOOL_BYTES = 8 * 1024 * 1024


def is_collection_scope(resource_id: Any) -> bool:
    return str(resource_id).startswith(COLLECTION_PREFIX)


class CsvSpool:
    """A CSV written to a spooled temporary file, copied into the bundle when complete."""

    def __init__(self, header: tuple[str, ...]):
        self.raw = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")  # noqa: SIM115
        self.text = io.TextIOWrapper(self.raw, encoding="utf-8", newline="")
        self.csv = InertCsvWriter(self.text)
        self.csv.writerow(header)
        self.rows = 0

    def copy_to(self, writer: BundleWriter, path: str) -> None:
        self.text.flush()
        self.raw.seek(0)
        writer.copy_file(path, self.raw)

    def close(self) -> None:
        self.text.detach()
        self.raw.close()


class PopulationFiles:
    """Routes each finished resource group to population.csv or collection-errors.csv."""

    def __init__(self, population_header: tuple[str, ...]):
        self.resources = CsvSpool(population_header)
        self.errors = CsvSpool(ERROR_COLUMNS)
        self.last_message: str = ""

    def add(self, group: Any) -> None:
        """`group` is agent.export.controls._Resource; its first row says what it is."""
        row = group.row
        if is_collection_scope(row["resource_id"]):
            from agent.export.controls import _merge_days, _text, worst

            days = _merge_days(group.spans.get("error", []))
            self.errors.csv.writerow([
                _text(row["source"]), _text(row["resource_id"]), _text(row["resource_type"]), _text(row["account"]),
                _text(row["region"]), " ".join(sorted(group.rules)), str(group.intervals), _text(group.first),
                _text(group.last), str(days), _text(getattr(group, "message", row.get("message"))),
                worst(group.at_end) or "not_observed"])
            self.errors.rows += 1
        else:
            self.resources.csv.writerow(group.csv_row())
            self.resources.rows += 1

    def finish(self, writer: BundleWriter, folder: str) -> None:
        self.resources.copy_to(writer, f"{folder}/population.csv")
        self.errors.copy_to(writer, f"{folder}/collection-errors.csv")

    def close(self) -> None:
        self.resources.close()
        self.errors.close()
