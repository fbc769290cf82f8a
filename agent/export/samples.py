"""Sample dates in the bundle (``annexa export --sample-date``): the state at each requested instant.

``samples/<instant>/findings.csv`` lists every finding of the exported controls' rules in force at that
instant and ``samples/<instant>/controls.csv`` each exported control's status then; ``samples/index.html``
lists the instants. "In force" is defined in agent.asof (the latest completed run of each source).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from agent.asof import control_states_at, findings_at
from agent.export.cells import InertCsvWriter
from agent.export.timefmt import ts_text
from agent.export.zipout import BundleWriter

FINDING_COLUMNS = ("rule", "title", "status", "severity", "controls", "source", "resource_id", "resource_type",
                   "resource_name", "account", "region", "message", "evidence", "exception", "first_seen",
                   "first_run", "last_run")
CONTROL_COLUMNS = ("control", "title", "status", "rules", "passing", "failing", "errors", "excepted",
                   "manual_current", "manual_expired")


def folder_name(at: datetime) -> str:
    return "samples/" + at.strftime("%Y-%m-%dT%H%M%SZ")


def write_samples(writer: BundleWriter, store: Any, instants: Sequence[datetime], *, rule_ids: Iterable[str],
                  control_ids: Sequence[str], catalogue: Any, rules: Iterable[Any],
                  applicability: dict[str, tuple[bool, str | None]]) -> list[dict[str, Any]]:
    from agent.export.pages import render

    wanted_rules = sorted(set(rule_ids))
    rules = list(rules)
    selected = set(control_ids)
    out: list[dict[str, Any]] = []
    for at in sorted(set(instants)):
        folder = folder_name(at)
        entry: dict[str, Any] = {"at": at, "folder": folder.removeprefix("samples/"), "findings": 0, "fail": 0,
                                 "error": 0, "controls_failing": 0}
        with writer.open_text(f"{folder}/findings.csv") as fh:
            csv = InertCsvWriter(fh)
            csv.writerow(FINDING_COLUMNS)
            for row in findings_at(store, at, rules=wanted_rules) if wanted_rules else iter(()):
                csv.writerow([row["rule_id"], row["title"], row["status"], row["severity"],
                              " ".join(row["controls"] or []), row["source"], row["resource_id"],
                              row["resource_type"], row["resource_name"], row["account"] or "", row["region"] or "",
                              row["message"], row["evidence"] or "", row["exception"] or "",
                              ts_text(row["first_seen"]), row["first_run"], row["last_run"]])
                entry["findings"] += 1
                if row["status"] in ("fail", "error"):
                    entry[row["status"]] += 1
        states = control_states_at(store, at, catalogue=catalogue, rules=rules, applicability=applicability)
        with writer.open_text(f"{folder}/controls.csv") as fh:
            csv = InertCsvWriter(fh)
            csv.writerow(CONTROL_COLUMNS)
            for st in states:
                if st.control.id not in selected:
                    continue
                manual = st.manual
                csv.writerow([st.control.id, st.control.title, st.status, len(st.rules), st.passing, st.failing,
                              st.errors, st.excepted, manual.current if manual else 0,
                              manual.expired if manual else 0])
                entry["controls_failing"] += int(st.status == "failing")
        out.append(entry)
    if out:
        writer.write_text("samples/index.html", render("samples.html", samples=out))
    return out
