"""`annexa export`: write the auditor bundle for a period (layout in docs/export.md).

Order of writing: SoA files, then per control its CSVs, snapshots, documents and page, then the OSCAL
results and index.html, then manifest.json (listing everything before it), manifest.sig, SHA256SUMS.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent import __version__
from agent.catalogue import Catalogue
from agent.config import RemediationConfig
from agent.errors import AnnexaError
from agent.export import html, manifest, oscal, pages, policy_pages, signing, soa_pages
from agent.export.controls import ControlExport, export_control, manual_state
from agent.export.exceptions_register import build_register, oscal_risks, write_register
from agent.export.history import (
    Period,
    RuleRef,
    global_history,
    load_run_index,
    merge_rules,
    run_entries,
    source_entries,
    stored_rule_controls,
)
from agent.export.observations import write_assessment_results
from agent.export.policy_inputs import PolicyHistory
from agent.export.procedures import procedures
from agent.export.remediation import CSV_PATH as REMEDIATION_CSV
from agent.export.remediation import HTML_PATH as REMEDIATION_HTML
from agent.export.remediation import write_remediation
from agent.export.samples import write_samples
from agent.export.timefmt import ts_text
from agent.export.zipout import BundleWriter
from agent.status import ControlState, ManualEvidenceState, control_states, rules_by_control
from agent.store.timeutil import as_utc, utcnow


class NoDataError(AnnexaError):
    """Nothing was collected or uploaded in the period: no bundle is written (exit 2)."""


@dataclass
class ExportResult:
    path: Path
    period: Period
    files: int
    size: int
    controls: list[str]
    excluded: list[str]
    runs: int
    findings: int
    evidence_files: int
    manual_files: int
    signed: bool
    key_fingerprint: str | None
    manifest_sha256: str
    seconds: float
    missing_evidence: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "period": self.period.as_dict(), "files": self.files, "bytes": self.size,
                "controls": self.controls, "excluded_controls": self.excluded, "runs": self.runs,
                "findings": self.findings, "evidence_files": self.evidence_files,
                "manual_files": self.manual_files, "signed": self.signed, "key_fingerprint": self.key_fingerprint,
                "manifest_sha256": self.manifest_sha256, "seconds": round(self.seconds, 3),
                "missing_evidence": self.missing_evidence}


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    from agent.clock import parse_instant

    return parse_instant(str(value))


def relevant_manual(rows: Iterable[dict[str, Any]], period: Period) -> list[dict[str, Any]]:
    """Documents that existed during the period: uploaded by its end and not removed before its start."""
    out = []
    for row in rows:
        uploaded, removed = _instant(row["uploaded_at"]), _instant(row.get("removed_at"))
        if uploaded is not None and uploaded <= period.end and (removed is None or removed >= period.start):
            out.append(row)
    return out


def manual_states_at(rows: Iterable[dict[str, Any]], end: datetime) -> dict[str, ManualEvidenceState]:
    """Per control: current/expired documents as of the end of the period (removed ones do not count)."""
    out: dict[str, ManualEvidenceState] = {}
    for row in rows:
        state = manual_state(row, end)
        if state == "removed":
            continue
        entry = out.setdefault(row["control"], ManualEvidenceState())
        until = _instant(row.get("valid_until"))
        if state == "expired":
            entry.expired += 1
        else:
            entry.current += 1
            if until is not None and (entry.earliest_expiry is None or until < entry.earliest_expiry):
                entry.earliest_expiry = until
        uploaded = _instant(row["uploaded_at"])
        if uploaded and (entry.newest is None or uploaded > entry.newest):
            entry.newest = uploaded
    return out


def _no_data_message(store: Any, period: Period, controls: Sequence[str] | None) -> str:
    from sqlalchemy import func, select

    from agent.store.schema import runs

    with store.engine.connect() as conn:
        first, last, n = conn.execute(select(func.min(runs.c.started_at), func.max(runs.c.started_at),
                                             func.count()).where(runs.c.kind == "run")).one()
    scope = f" for {', '.join(controls)}" if controls else ""
    held = (f"the store holds {n} run(s) from {ts_text(first)} to {ts_text(last)}" if n
            else "the store holds no runs yet (run `annexa run` first)")
    return (f"nothing to export{scope} in the period {ts_text(period.start)} to {ts_text(period.end)}: no "
            f"collection run overlaps it and no manual evidence was current in it; {held}. "
            "Choose another period with --from/--to; no bundle was written.")


def export_bundle(*, store: Any, catalogue: Catalogue, rules: Iterable[Any], soa: dict[str, Any], out: Path,
                  period: Period, controls: Sequence[str] | None = None,
                  signing_key: Ed25519PrivateKey | None = None,
                  progress: Callable[[str], None] | None = None, sample_dates: Sequence[datetime] = (),
                  sla_for: Callable[[str], float | None] | None = None) -> ExportResult:
    """Write the bundle to `out`. Raises NoDataError (and writes nothing) when the period holds no evidence."""
    from agent.manual import manual_evidence_rows
    from agent.soa import soa_rows, write_soa_csv, write_soa_xlsx

    began = time.monotonic()
    say = progress or (lambda _msg: None)
    out = Path(out)
    if not out.parent.is_dir():
        raise AnnexaError(f"--out: folder {out.parent} does not exist")
    selected = set(controls) if controls else {c.id for c in catalogue.controls}
    index = load_run_index(store, period)
    rules = list(rules)
    policy = PolicyHistory(store, index.in_period)
    soa_versions = soa_pages.soa_versions(policy, catalogue)
    soa_used = soa_pages.soa_of_period(policy, catalogue)  # the SoA in force then, not today's file
    if soa_used is not None:
        soa = soa_used[0].entries
    manual_rows = [r for r in relevant_manual(manual_evidence_rows(store, include_removed=True), period)
                   if r["control"] in selected]
    if not index.in_period and not manual_rows:
        raise NoDataError(_no_data_message(store, period, sorted(selected) if controls else None))

    stored = stored_rule_controls(store, index)  # also: which rules have intervals in the period at all
    merged: list[RuleRef] = merge_rules(rules, stored)
    rule_defs = {r.id: r for r in rules if hasattr(r, "assert_")}
    mapping = rules_by_control(merged)
    applicability = {cid: (e.applicable, e.justification) for cid, e in soa.items()}
    timeline_rules = {r for cid in selected if applicability.get(cid, (True, None))[0]
                      for r in mapping.get(cid, [])}
    say(f"reading {len(index.in_period)} run(s) of the period")
    history = global_history(store, index, {r.id for r in merged}, timeline_rules)
    states: list[ControlState] = control_states(
        catalogue.controls, merged, history.end_counts, applicability=applicability,
        manual=manual_states_at(manual_rows, period.end))
    exported = [st for st in states if st.control.id in selected and st.applicable]
    excluded = [{"id": st.control.id, "title": st.control.title, "justification": st.justification or ""}
                for st in states if st.control.id in selected and not st.applicable]

    generated_at = utcnow()
    horizon = min(period.end, generated_at)
    run_times = [as_utc(r["started_at"]) for r in index.in_period]
    writer = BundleWriter(out, generated_at)
    try:
        with writer.open_text("soa.csv") as fh:
            rows = soa_rows(states, soa)
            write_soa_csv(rows, fh)
        with tempfile.TemporaryDirectory() as tmp:
            xlsx = Path(tmp) / "soa.xlsx"
            write_soa_xlsx(rows, xlsx)
            with xlsx.open("rb") as fh:
                writer.copy_file("soa.xlsx", fh)

        exports: dict[str, ControlExport] = {}
        period_doc = period.as_dict()
        for n, st in enumerate(exported, start=1):
            cid = st.control.id
            say(f"control {cid} ({n}/{len(exported)})")
            docs = [r for r in manual_rows if r["control"] == cid]
            exp = export_control(writer, store, index, cid, st.rules, docs, horizon, policy.counter(cid),
                                 control=st.control, rules_in_period=stored.keys())
            exports[cid] = exp
            writer.write_text(f"{exp.folder}/index.html", html.render_control(
                state=st, export=exp, soa_entry=soa.get(cid), run_times=run_times, period=period_doc,
                generated_at=generated_at, procedures=procedures(st.rules, rule_defs, policy, cid)))

        register = build_register(store, index, policy, merged)  # before writing: it may add rule versions
        missing_policy = policy.write(writer)
        write_register(writer, register)
        writer.write_text("policy.html", policy_pages.render_policy(policy, period_doc))
        soa_doc = soa_pages.manifest_entry(soa_used, soa_versions)
        writer.write_text("soa-versions.html", policy_pages.render_soa_versions(soa_versions, soa_doc, period_doc))
        writer.write_text("exceptions.html", policy_pages.render_exceptions(register, period_doc, exports))

        say("remediation timeliness and sample dates")
        sla = sla_for or RemediationConfig().days_for
        timeliness = write_remediation(writer, store, rule_ids=timeline_rules, controls=list(exports),
                                       start=period.start, end=horizon, sla_for=sla)
        writer.write_text(REMEDIATION_HTML, pages.render("remediation.html", r=timeliness, period=period_doc,
                                                         horizon=horizon))
        samples = write_samples(writer, store, sample_dates, rule_ids=timeline_rules, control_ids=list(exports),
                                catalogue=catalogue, rules=merged, applicability=applicability)

        sources = source_entries(index)
        oscal_doc = oscal.assessment_results(
            states=exported, exports=exports, period_start=period.start, period_end=period.end,
            generated_at=generated_at, sources=sources, excluded=excluded, risks=oscal_risks(register),
            control_risks=register.control_risks())
        with writer.open_binary("oscal/assessment-results.json") as fh:  # observations streamed, never held
            write_assessment_results(fh, oscal_doc, store, index,
                                     control_rules={st.control.id: st.rules for st in exported
                                                    if st.control.id in exports},
                                     folders={cid: e.folder for cid, e in exports.items()},
                                     rules_in_period=stored.keys())

        missing = [m for e in exports.values() for m in e.missing_evidence] + missing_policy
        doc: dict[str, Any] = {
            "kind": manifest.KIND, "period": period_doc, "generated_at": ts_text(generated_at),
            "tool": {"name": "annexa", "version": __version__},
            "store": {"chain_head": index.head, "backend": store.dialect, "verified": _verified(store)},
            "runs": run_entries(index), "sources": sources,
            "controls": list(exports), "excluded_controls": excluded,
            "counts": {"findings": sum(e.findings for e in exports.values()),
                       "evidence_files": sum(e.evidence_total for e in exports.values()),
                       "manual_files": sum(len(e.manual) for e in exports.values())},
            "missing_evidence": missing,
            "remediation": {"file": REMEDIATION_CSV, "page": REMEDIATION_HTML, "failures": timeliness.episodes,
                            "open_past_sla": timeliness.overdue_total,
                            "sla_days": {k: v for k, v in timeliness.sla_days.items() if v is not None}},
            "samples": [{"at": ts_text(e["at"]), "folder": f"samples/{e['folder']}"} for e in samples],
            "policy_inputs": policy.manifest_entry(), "soa": soa_doc,
            "exceptions": {"register": "exceptions.csv", "definitions": len(register.entries),
                           "findings_covered": sum(e.findings for e in register.entries)},
            "signature": None,
        }
        fingerprint = None
        if signing_key is not None:
            fingerprint = signing.fingerprint(signing_key.public_key())
            doc["signature"] = {"algorithm": "Ed25519", "file": manifest.SIGNATURE, "encoding": "base64",
                                "public_key_sha256": fingerprint}
        writer.write_text("index.html", html.render_index(
            states=states, exports=exports, excluded=excluded, manifest=doc, run_times=run_times,
            timeline=history.timeline, generated_at=generated_at))

        data_files = len(writer.files)
        sig_hex = None
        if signing_key is not None:  # the signature covers the manifest's bytes: held for signing
            manifest_raw = manifest.manifest_bytes(doc, writer.files)
            man_entry = writer.write_bytes(manifest.MANIFEST, manifest_raw)
            sig_hex = writer.write_bytes(manifest.SIGNATURE, signing.sign(signing_key, manifest_raw)).sha256
        else:  # streamed from the writer's spilled entry list
            with writer.open_binary(manifest.MANIFEST) as fh:
                manifest.write_manifest(fh, doc, writer.files)
            man_entry = writer.files[-1]
        data = ((f.path, f.sha256) for n, f in enumerate(writer.files) if n < data_files)
        with writer.open_binary(manifest.SUMS) as fh:
            for line in manifest.iter_sums(manifest.iter_sums_entries(data, man_entry.sha256, sig_hex)):
                fh.write(line)
        writer.finish(manifest.zip_comment(man_entry.sha256, sig_hex))
    except BaseException:
        writer.abort()
        raise
    return ExportResult(
        path=out, period=period, files=len(writer.files), size=out.stat().st_size, controls=list(exports),
        excluded=[e["id"] for e in excluded], runs=len(index.in_period), findings=doc["counts"]["findings"],
        evidence_files=doc["counts"]["evidence_files"], manual_files=doc["counts"]["manual_files"],
        signed=signing_key is not None, key_fingerprint=fingerprint, manifest_sha256=man_entry.sha256,
        seconds=time.monotonic() - began, missing_evidence=missing)


def _verified(store: Any) -> dict[str, Any] | None:
    """The store's verified checkpoint when the bundle was written: how far `annexa verify --store` had
    last checked the chain and found it intact (agent.verifystatus), or None if it never passed."""
    from agent.verifystatus import load_checkpoint

    checkpoint = load_checkpoint(store)
    return None if checkpoint is None else checkpoint.as_dict()
