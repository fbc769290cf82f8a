"""One control's folder in the bundle: findings history, sampling population, evidence snapshots, documents.

Work per control is bounded: finding intervals stream from SQL straight into findings.csv, the
population is aggregated one resource at a time (rows arrive grouped by resource) into a spooled
temporary file, and evidence blobs are copied one by one. What is kept in memory is a set of resource
keys and evidence digests (needed to de-duplicate) plus capped lists for the HTML page.
"""

from __future__ import annotations

import heapq
import logging
import zlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from agent.export.cells import InertCsvWriter
from agent.export.history import (
    STATUS_ORDER,
    RunIndex,
    control_findings,
    prefix_counts,
    run_status,
    snapshot_digests,
    worst,
)
from agent.export.population import PopulationFiles
from agent.export.snapshots import write_snapshots
from agent.export.timefmt import ts_text
from agent.export.timeline import write_timeline
from agent.export.zipout import BundleWriter, safe_filename
from agent.store.hashing import key_of
from agent.store.timeutil import as_utc

log = logging.getLogger("annexa.export")

FINDING_COLUMNS = ("rule", "title", "severity", "resource_id", "resource_type", "resource_name", "account",
                   "region", "source", "status", "from", "to", "first_seen", "last_seen", "open", "first_run",
                   "last_run", "message", "evidence", "evidence_file", "exception", "rule_version")
POPULATION_COLUMNS = ("source", "resource_type", "resource_id", "resource_name", "account", "region", "rules",
                      "intervals", "first_seen", "last_seen", "statuses_seen", "days_pass", "days_fail",
                      "days_error", "days_excepted", "status_at_period_end")
LIST_CAP = 200
EVIDENCE_LINK_CAP = 500


@dataclass
class ManualFile:
    path: str  # relative to the control folder
    row: dict[str, Any]
    state: str  # at the end of the period: current | expired | removed


@dataclass
class ControlExport:
    """What was written for one control, with the capped lists its HTML page shows."""

    control_id: str
    folder: str
    findings: int = 0
    resources: int = 0
    collection_errors: int = 0  # rows of collection-errors.csv (scopes that could not be read)
    timeline_changes: int = 0  # rows of timeline.csv / the timeline pages
    snapshot_resources: int = 0  # resources listed in snapshots.html
    sources: set[str] = field(default_factory=set)
    end_counts: dict[str, int] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)  # automated status at each run of the period
    events: list[dict[str, Any]] = field(default_factory=list)  # newest status changes first
    events_total: int = 0
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    exceptions_total: int = 0
    failing: list[dict[str, Any]] = field(default_factory=list)
    failing_total: int = 0
    # Intervals in the period where an expected gap (config `expected_gaps`) made a scope not_applicable.
    expected_gaps: list[dict[str, Any]] = field(default_factory=list)
    expected_gaps_total: int = 0
    evidence: list[str] = field(default_factory=list)  # hex digests written (capped list for links)
    evidence_total: int = 0
    missing_evidence: list[dict[str, str]] = field(default_factory=list)
    manual: list[ManualFile] = field(default_factory=list)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return ts_text(value) or ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _merge_days(spans: list[tuple[datetime, datetime]]) -> float:
    total = 0.0
    cur_a: datetime | None = None
    cur_b: datetime | None = None
    for a, b in sorted(spans):
        if cur_b is None or a > cur_b:
            if cur_a is not None and cur_b is not None:
                total += (cur_b - cur_a).total_seconds()
            cur_a, cur_b = a, b
        elif b > cur_b:
            cur_b = b
    if cur_a is not None and cur_b is not None:
        total += (cur_b - cur_a).total_seconds()
    return round(total / 86400, 3)


class _Resource:
    """Accumulates one resource's intervals for its population row."""

    def __init__(self, row: dict[str, Any]):
        self.row = row
        self.rules: set[str] = set()
        self.intervals = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.spans: dict[str, list[tuple[datetime, datetime]]] = {}
        self.at_end: list[str] = []

    def add(self, row: dict[str, Any], span: tuple[datetime, datetime], at_end: bool) -> None:
        self.rules.add(row["rule_id"])
        self.message = row["message"]
        self.intervals += 1
        first, last = as_utc(row["first_seen"]), as_utc(row["last_seen"])
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)
        self.spans.setdefault(row["status"], []).append(span)
        if at_end:
            self.at_end.append(row["status"])

    def csv_row(self) -> list[str]:
        r = self.row
        days = {s: _merge_days(self.spans.get(s, [])) for s in STATUS_ORDER}
        seen = [s for s in STATUS_ORDER if s in self.spans]
        return [_text(r["source"]), _text(r["resource_type"]), _text(r["resource_id"]), _text(r["resource_name"]),
                _text(r["account"]), _text(r["region"]), " ".join(sorted(self.rules)), str(self.intervals),
                _text(self.first), _text(self.last), " ".join(seen), str(days["pass"]), str(days["fail"]),
                str(days["error"]), str(days["excepted"]), worst(self.at_end) or "not_observed"]


def _keep_newest(heap: list[tuple[Any, ...]], item: tuple[Any, ...], cap: int) -> None:
    if len(heap) < cap:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


def export_control(writer: BundleWriter, store: Any, index: RunIndex, control_id: str, rule_ids: list[str],
                   manual_rows: Iterable[dict[str, Any]], horizon: datetime,
                   rule_version: Callable[[int | None, str], str] | None = None, control: Any = None,
                   rules_in_period: Collection[str] | None = None) -> ControlExport:
    """Write controls/<id>/{findings.csv,population.csv,evidence/,manual/} and summarise them.

    ``rule_version(first_run, rule)``: the digest of the rule pack version that produced a finding.
    ``rules_in_period``: the rules that have finding intervals in the period, when known: the
    control's other rules have no rows to read, so no query is made for them (each such query is a
    scan of the findings table, and most controls of a large rule set have no intervals at all).
    """
    folder = f"controls/{control_id}"
    control = control if control is not None else SimpleNamespace(id=control_id, title="")
    out = ControlExport(control_id=control_id, folder=folder)
    n = len(index.points)
    diff = {s: [0] * (n + 1) for s in STATUS_ORDER}
    resource_keys: set[str] = set()
    digests: set[str] = set()
    events: list[tuple[Any, ...]] = []
    exceptions: list[tuple[Any, ...]] = []
    failing: list[tuple[Any, ...]] = []
    gaps: list[tuple[Any, ...]] = []
    start = index.period.start

    queried = [r for r in rule_ids if r in rules_in_period] if rules_in_period is not None else list(rule_ids)
    population = PopulationFiles(POPULATION_COLUMNS)
    try:
        with writer.open_text(f"{folder}/findings.csv") as fh:
            rows_out = InertCsvWriter(fh)
            rows_out.writerow(FINDING_COLUMNS)
            current: _Resource | None = None
            current_key: tuple[str, str, str] | None = None
            for row in control_findings(store, index, queried):
                key = (row["source"], row["resource_type"], row["resource_id"])
                if key != current_key:
                    if current is not None:
                        population.add(current)
                    current, current_key = _Resource(row), key
                    if not str(row["resource_id"]).startswith("annexa:"):
                        resource_keys.add(key_of(*key))
                status = row["status"]
                first, last = as_utc(row["first_seen"]), as_utc(row["last_seen"])
                clip_from = index.period.clip(first)
                clip_to = max(index.period.clip(last), clip_from)
                digest = row["evidence"]
                hexd = digest.removeprefix("sha256:") if digest else ""
                version = rule_version(row["first_run"], row["rule_id"]) if rule_version else ""
                if digest:
                    digests.add(hexd)
                rows_out.writerow([
                    row["rule_id"], row["title"], row["severity"], row["resource_id"], row["resource_type"],
                    row["resource_name"], _text(row["account"]), _text(row["region"]), row["source"], status,
                    _text(clip_from), _text(clip_to), _text(first), _text(last), _text(bool(row["open"])),
                    row["first_run"], row["last_run"], row["message"], _text(digest),
                    f"evidence/{hexd}.json" if hexd else "", _text(row["exception"]), version])
                out.findings += 1
                out.sources.add(row["source"])
                lo, hi = index.covered_points(row)
                if status in diff and lo < hi:
                    diff[status][lo] += 1
                    diff[status][hi] -= 1
                at_end = index.covers_last(row)
                if at_end:
                    out.end_counts[status] = out.end_counts.get(status, 0) + 1
                current.add(row, index.effective_span(row, horizon), at_end)
                brief = None  # the row as the page lists it: built only when one of the capped lists keeps it
                for heap, counted in ((events, first >= start), (exceptions, status == "excepted"),
                                      (gaps, status == "not_applicable"), (failing, status == "fail" and at_end)):
                    if not counted:
                        continue
                    if len(heap) >= LIST_CAP and (first, row["id"]) <= heap[0][:2]:
                        continue  # older than everything kept: _keep_newest would drop it
                    if brief is None:
                        brief = {"rule": row["rule_id"], "resource_name": row["resource_name"],
                                 "resource_id": row["resource_id"], "status": status, "from": ts_text(clip_from),
                                 "to": ts_text(clip_to), "message": row["message"], "exception": row["exception"],
                                 "evidence": f"evidence/{hexd}.json" if hexd else None, "rule_version": version}
                    _keep_newest(heap, (first, row["id"], brief), LIST_CAP)
                out.events_total += first >= start
                out.exceptions_total += status == "excepted"
                out.expected_gaps_total += status == "not_applicable"
                out.failing_total += status == "fail" and at_end
            if current is not None:
                population.add(current)
        population.finish(writer, folder)
        out.resources, out.collection_errors = population.resources.rows, population.errors.rows
    finally:
        population.close()

    out.timeline = [run_status(c) for c in prefix_counts(diff, n)]
    out.events = [b for _, _, b in sorted(events, key=lambda t: (t[0], t[1]), reverse=True)]
    out.exceptions = [b for _, _, b in sorted(exceptions, key=lambda t: (t[0], t[1]), reverse=True)]
    out.failing = [b for _, _, b in sorted(failing, key=lambda t: (t[0], t[1]), reverse=True)]
    out.expected_gaps = [b for _, _, b in sorted(gaps, key=lambda t: (t[0], t[1]), reverse=True)]

    for digest in snapshot_digests(store, index, sorted(resource_keys)):
        digests.add(digest.removeprefix("sha256:"))
    _write_evidence(writer, store, out, sorted(digests))
    digests.clear()
    # every interval that started in the period is a timeline row: counted above (events_total)
    out.timeline_changes = write_timeline(writer, store, index, folder, control, queried, total=out.events_total)
    out.snapshot_resources = write_snapshots(writer, store, index, folder, control, resource_keys,
                                             {m["digest"].removeprefix("sha256:") for m in out.missing_evidence})
    resource_keys.clear()
    _write_manual(writer, store, out, manual_rows, index.period.end)
    return out


def _write_evidence(writer: BundleWriter, store: Any, out: ControlExport, digests: list[str]) -> None:
    compressed = getattr(store.blobs, "get_compressed", None)  # local blobs: copied without recompressing
    for hexd in digests:
        try:
            if compressed is not None:
                stream = compressed("sha256:" + hexd)
                raw = zlib.decompress(stream)
            else:
                raw = store.blobs.get_bytes("sha256:" + hexd)
        except Exception as exc:  # a blob missing from the store is reported, not fatal
            log.warning("evidence blob sha256:%s for %s cannot be read: %s", hexd, out.control_id, exc)
            out.missing_evidence.append({"control": out.control_id, "digest": "sha256:" + hexd,
                                         "error": type(exc).__name__})
            continue
        name = f"{out.folder}/evidence/{hexd}.json"
        entry = writer.write_deflated(name, raw, stream) if compressed is not None else writer.write_bytes(name, raw)
        if entry.sha256 != hexd:  # the store's blob no longer matches its name
            out.missing_evidence.append({"control": out.control_id, "digest": "sha256:" + hexd,
                                         "error": f"content hash is sha256:{entry.sha256}"})
        out.evidence_total += 1
        if len(out.evidence) < EVIDENCE_LINK_CAP:
            out.evidence.append(hexd)


def manual_state(row: dict[str, Any], end: datetime) -> str:
    removed = as_utc(_parse(row.get("removed_at")))
    if removed is not None and removed <= end:
        return "removed"
    until = as_utc(_parse(row.get("valid_until")))
    return "expired" if until is not None and until <= end else "current"


def _parse(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    from agent.clock import parse_instant

    return parse_instant(str(value))


def _write_manual(writer: BundleWriter, store: Any, out: ControlExport, rows: Iterable[dict[str, Any]],
                  end: datetime) -> None:
    taken: set[str] = set()
    for row in rows:
        name = safe_filename(str(row["filename"]), taken)
        digest = row.get("sha256") or row.get("blob")
        try:
            raw = store.blobs.get_bytes(digest)
        except Exception as exc:
            log.warning("manual evidence %s (%s) cannot be read: %s", row["id"], digest, exc)
            out.missing_evidence.append({"control": out.control_id, "digest": str(digest),
                                         "error": type(exc).__name__})
            continue
        writer.write_bytes(f"{out.folder}/manual/{name}", raw)
        out.manual.append(ManualFile(path=f"manual/{name}", row=row, state=manual_state(row, end)))
