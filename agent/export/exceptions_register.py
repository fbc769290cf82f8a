"""The exception register of the bundle: exceptions.csv, exceptions-findings.csv, exceptions.html, OSCAL risks.

Definitions come from the exceptions-file versions the period's runs sealed (agent.export.policy_inputs),
so the register shows what was approved at the time, not today's file. A definition that changed
between versions (an extended expiry, a revocation) appears once per distinct definition. The findings
an exception covered are the finding intervals of the period that carry its id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import select

from agent.errors import AnnexaError
from agent.exceptions import RiskException, parse_exceptions_text
from agent.export.cells import InertCsvWriter
from agent.export.history import Period, RunIndex
from agent.export.policy_inputs import PolicyHistory, Version
from agent.export.timefmt import ts_text
from agent.export.zipout import BundleWriter
from agent.store.schema import findings
from agent.store.timeutil import as_utc

REGISTER_CSV = "exceptions.csv"
FINDINGS_CSV = "exceptions-findings.csv"
PAGE = "exceptions.html"
COLUMNS = ("id", "rule", "resource", "controls", "justification", "risk_owner", "approved_by", "approved_on",
           "expires", "revoked_on", "revoked_reason", "status_at_period_end", "status_over_period",
           "findings_covered", "resources_covered", "file_versions", "in_file_from", "in_file_until")
FINDING_COLUMNS = ("exception", "rule", "rule_version", "resource_id", "resource_name", "source", "controls",
                   "from", "to", "first_run", "last_run")
PAGE_CAP = 200


@dataclass
class Entry:
    """One exception definition (or an id seen on findings whose definition no run recorded)."""

    id: str
    ex: RiskException | None
    versions: list[Version] = field(default_factory=list)
    controls: set[str] = field(default_factory=set)
    findings: int = 0
    resources: set[str] = field(default_factory=set)
    covered: list[dict[str, Any]] = field(default_factory=list)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def first_used(self) -> Any:
        return min((v.first_at for v in self.versions), default=None)

    @property
    def last_used(self) -> Any:
        return max((v.last_at for v in self.versions), default=None)

    def status_at(self, when: dt.datetime) -> str:
        return self.ex.state(when) if self.ex else "not recorded"

    def over_period(self, period: Period) -> str:
        """A sentence: active throughout, or until when and then expired or revoked."""
        ex = self.ex
        if ex is None:
            return "definition not recorded by any run of the period"
        ends = ex.ends
        gone = "revoked" if ex.revoked is not None and ex.revoked <= ex.expires else "expired"
        if ends <= period.start:
            return f"{gone} before the period ({ts_text(ends)})"
        if ends > period.end:
            return "active throughout the period"
        return f"active until {ts_text(ends)}, then {gone}"

    def row(self, period: Period) -> list[str]:
        ex = self.ex
        return [self.id, ex.rule if ex else "", (ex.resource or "*") if ex else "", " ".join(sorted(self.controls)),
                ex.justification if ex else "", ex.owner if ex else "", ex.approved_by if ex else "",
                ex.approved_on.isoformat() if ex and ex.approved_on else "", ex.expires_text if ex else "",
                (ex.revoked_text or "") if ex else "", (ex.revoked_reason or "") if ex else "",
                self.status_at(period.end), self.over_period(period), str(self.findings), str(len(self.resources)),
                " ".join(v.short for v in self.versions), ts_text(self.first_used) or "",
                ts_text(self.last_used) or ""]


def _definition(ex: RiskException) -> tuple[Any, ...]:
    return (ex.id, ex.rule, ex.resource, ex.justification, ex.owner, ex.approved_by, ex.approved_on, ex.expires,
            ex.revoked, ex.revoked_reason)


class Register:
    def __init__(self, entries: list[Entry], period: Period, problems: list[str]):
        self.entries = entries
        self.period = period
        self.problems = problems

    def by_id(self) -> dict[str, list[Entry]]:
        out: dict[str, list[Entry]] = {}
        for e in self.entries:
            out.setdefault(e.id, []).append(e)
        return out

    def control_risks(self) -> dict[str, list[str]]:
        """Control id -> uuids of the OSCAL risks (one per definition) that touch it."""
        out: dict[str, list[str]] = {}
        for e in self.entries:
            for cid in sorted(e.controls):
                out.setdefault(cid, []).append(e.uuid)
        return out


def build_register(store: Any, index: RunIndex, policy: PolicyHistory, rules: list[Any]) -> Register:
    """Definitions from the sealed exceptions versions, plus the finding intervals that carry their ids."""
    period = index.period
    entries: dict[tuple[Any, ...], Entry] = {}
    problems: list[str] = []
    for version in policy.of_kind("exceptions"):
        text = policy.text(version)
        if text is None:
            problems.append(f"{version.path} {version.sha256}: not readable from the store")
            continue
        try:
            parsed = parse_exceptions_text(text, f"{version.path}@{version.short}")
        except AnnexaError as exc:
            problems.append(str(exc))
            continue
        for ex in parsed:
            entry = entries.setdefault(_definition(ex), Entry(ex.id, ex))
            entry.versions.append(version)
    ordered = sorted(entries.values(), key=lambda e: (e.id, e.first_used or period.start))
    latest: dict[str, Entry] = {}
    for e in ordered:
        latest[e.id] = e  # findings attach to the newest definition of their id
        for r in rules:
            if fnmatchcase(r.id, e.ex.rule if e.ex else ""):
                e.controls.update(r.controls)
    query = (select(findings).where(findings.c.exception.is_not(None), index.interval_filter(findings))
             .order_by(findings.c.exception, findings.c.first_seen, findings.c.id))
    with store.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            entry = latest.get(row["exception"])
            if entry is None:
                entry = latest[row["exception"]] = Entry(row["exception"], None)
                ordered.append(entry)
            entry.findings += 1
            entry.resources.add(row["resource_id"])
            entry.controls.update(row["controls"] or [])
            first = as_utc(row["first_seen"])
            entry.covered.append({
                "exception": row["exception"], "rule": row["rule_id"],
                "rule_version": policy.rule_version(row["first_run"], row["rule_id"]) or "",
                "resource_id": row["resource_id"], "resource_name": row["resource_name"], "source": row["source"],
                "controls": " ".join(row["controls"] or []), "from": ts_text(period.clip(first)),
                "to": ts_text(max(period.clip(as_utc(row["last_seen"])), period.clip(first))),
                "first_run": row["first_run"], "last_run": row["last_run"]})
    return Register(ordered, period, problems)


def write_register(writer: BundleWriter, register: Register) -> None:
    with writer.open_text(REGISTER_CSV) as fh:
        out = InertCsvWriter(fh)
        out.writerow(COLUMNS)
        for e in register.entries:
            out.writerow(e.row(register.period))
    with writer.open_text(FINDINGS_CSV) as fh:
        out = InertCsvWriter(fh)
        out.writerow(FINDING_COLUMNS)
        for e in register.entries:
            for f in e.covered:
                out.writerow([str(f[c]) for c in FINDING_COLUMNS])


def page_rows(register: Register) -> list[dict[str, Any]]:
    """What exceptions.html shows per definition (covered findings capped)."""
    rows = []
    for e in register.entries:
        values = dict(zip(COLUMNS, e.row(register.period), strict=True))
        values["versions"] = e.versions
        values["covered"] = e.covered[:PAGE_CAP]
        values["covered_more"] = max(0, len(e.covered) - PAGE_CAP)
        rows.append(values)
    return rows


def oscal_risks(register: Register) -> list[dict[str, Any]]:
    """One OSCAL risk per exception definition: the accepted deviation, its status and its deadline."""
    from agent.export.oscal import NS

    out = []
    end = register.period.end
    for e in register.entries:
        ex = e.ex
        state = e.status_at(end)
        risk: dict[str, Any] = {
            "uuid": e.uuid, "title": f"Risk acceptance {e.id}",
            "description": (ex.justification if ex else "The definition of this exception was not recorded "
                            "by any run of the period."),
            "statement": (f"Failing results of rule {ex.rule} on {ex.resource or 'any resource'} are accepted "
                          f"by {ex.approved_by} (risk owner {ex.owner}) until {ex.expires_text}."
                          if ex else f"Findings were marked as excepted under {e.id}."),
            "status": "deviation-approved" if state == "active" else "open",
            "props": [{"name": "exception-id", "ns": NS, "value": e.id},
                      {"name": "status-at-period-end", "ns": NS, "value": state},
                      {"name": "findings-covered", "ns": NS, "value": str(e.findings)},
                      {"name": "status-over-period", "ns": NS, "value": e.over_period(register.period)}],
        }
        if ex is not None:
            risk["deadline"] = ex.expires.isoformat(timespec="seconds").replace("+00:00", "Z")
        out.append(risk)
    return out
