"""NIST OSCAL 1.1 assessment-results for the bundle (JSON, one result covering the export period).

Mapping: each applicable control is a reviewed control and gets one finding whose target is the
control's objective (``<id>_obj``) with state satisfied / not-satisfied. Automated evidence becomes a
TEST observation per control (prop method-detail: automated; subjects: the sources that produced it;
relevant evidence: the control's CSVs and snapshot files in the bundle); uploaded documents become an
EXAMINE observation.
agent.export.observations adds one observation per finding interval, with inventory items as subjects.
There is no separate OSCAL assessment plan: ``import-ap`` points at a back-matter resource that says so,
which the schema allows (a ``#uuid`` fragment reference).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent import __version__

if TYPE_CHECKING:
    from agent.export.controls import ControlExport
    from agent.status import ControlState

OSCAL_VERSION = "1.1.3"
NS = "https://annexa.dev/ns/oscal"
EVIDENCE_REF_CAP = 100


def _uuid() -> str:
    return str(uuid.uuid4())


def _ts(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _prop(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "ns": NS, "value": str(value)}


def _state(status: str) -> dict[str, Any]:
    if status in ("passing", "manual"):
        return {"state": "satisfied", "reason": "pass"}
    if status == "failing":
        return {"state": "not-satisfied", "reason": "fail"}
    return {"state": "not-satisfied", "reason": "other",
            "remarks": "No current evidence shows the control operating (no findings, or evaluation errors)."}


def assessment_results(*, states: Sequence[ControlState], exports: dict[str, ControlExport],
                       period_start: datetime, period_end: datetime, generated_at: datetime,
                       sources: Sequence[dict[str, Any]], excluded: Sequence[dict[str, Any]],
                       risks: Sequence[dict[str, Any]] = (),
                       control_risks: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The OSCAL document as a plain dict: {"assessment-results": {...}}.

    ``risks``: the exception register as OSCAL risks; ``control_risks``: control id -> the uuids of the
    risks its finding links to (``related-risks``).
    """
    plan_uuid = _uuid()
    tool_uuid = _uuid()
    components = [{
        "uuid": tool_uuid, "type": "software", "title": "Annexa",
        "description": "Continuous-compliance agent that collected the evidence and evaluated the rules.",
        "props": [_prop("version", __version__)], "status": {"state": "operational"},
    }]
    source_uuid: dict[str, str] = {}
    for s in sources:
        source_uuid[s["name"]] = _uuid()
        components.append({"uuid": source_uuid[s["name"]], "type": "service", "title": s["name"],
                           "description": f"Evidence source of type {s['type']}.",
                           "props": [_prop("source-type", s["type"])], "status": {"state": "operational"}})

    observations: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for state in states:
        cid = state.control.id
        exp = exports.get(cid)
        if exp is None:
            continue
        related: list[dict[str, str]] = []
        if state.rules:
            evidence = [{"href": f"{exp.folder}/findings.csv",
                         "description": "Findings history of the control's rules over the period."},
                        {"href": f"{exp.folder}/population.csv",
                         "description": "Every resource in scope of the control's rules, with its status."}]
            evidence += [{"href": f"{exp.folder}/evidence/{h}.json", "description": "Raw configuration snapshot."}
                         for h in exp.evidence[:EVIDENCE_REF_CAP]]
            obs: dict[str, Any] = {
                "uuid": _uuid(), "title": f"Automated evaluation of {cid}",
                "description": (f"{len(state.rules)} rule(s) evaluated against collected configuration; at the "
                                f"end of the period: {state.passing} passing, {state.failing} failing, "
                                f"{state.errors} errors, {state.excepted} excepted."),
                "props": [_prop("control-id", cid), _prop("method-detail", "automated"),
                          _prop("findings-in-period", exp.findings),
                          _prop("resources-in-scope", exp.resources)],
                "methods": ["TEST"], "types": ["control-objective"],
                "origins": [{"actors": [{"type": "tool", "actor-uuid": tool_uuid}]}],
                "relevant-evidence": evidence, "collected": _ts(generated_at),
            }
            subjects = [{"subject-uuid": source_uuid[s], "type": "component", "title": s}
                        for s in sorted(exp.sources) if s in source_uuid]
            if subjects:
                obs["subjects"] = subjects
            if exp.evidence_total > EVIDENCE_REF_CAP:
                obs["remarks"] = (f"{exp.evidence_total} snapshots in {exp.folder}/evidence/; "
                                  f"the first {EVIDENCE_REF_CAP} are referenced here.")
            observations.append(obs)
            related.append({"observation-uuid": obs["uuid"]})
        if exp.manual:
            obs = {
                "uuid": _uuid(), "title": f"Documents provided for {cid}",
                "description": f"{len(exp.manual)} document(s) uploaded as evidence for this control.",
                "props": [_prop("control-id", cid)],
                "methods": ["EXAMINE"], "types": ["control-objective"],
                "relevant-evidence": [{"href": f"{exp.folder}/{m.path}",
                                       "description": f"{m.row['filename']} ({m.state}) uploaded by "
                                                      f"{m.row['uploaded_by']} on {m.row['uploaded_at']}"}
                                      for m in exp.manual],
                "collected": _ts(generated_at),
            }
            observations.append(obs)
            related.append({"observation-uuid": obs["uuid"]})
        finding: dict[str, Any] = {
            "uuid": _uuid(), "title": f"{cid} {state.control.title}",
            "description": f"Status of {cid} at the end of the period: {state.status}.",
            "props": [_prop("annexa-status", state.status)],
            "target": {"type": "objective-id", "target-id": f"{cid}_obj", "status": _state(state.status)},
        }
        if related:
            finding["related-observations"] = related
        if (control_risks or {}).get(cid):
            finding["related-risks"] = [{"risk-uuid": u} for u in control_risks[cid]]  # type: ignore[index]
        findings.append(finding)

    result: dict[str, Any] = {
        "uuid": _uuid(), "title": "Continuous control monitoring results",
        "description": "Results of Annexa's automated and document-based evaluation of ISO/IEC 27001:2022 "
                       "Annex A controls over the export period.",
        "start": _ts(period_start), "end": _ts(period_end),
        "local-definitions": {"components": components},
        "reviewed-controls": {"control-selections": [{
            "description": "Applicable Annex A controls exported in this bundle.",
            "include-controls": [{"control-id": cid} for cid in exports]}]},
    }
    if excluded:
        result["reviewed-controls"]["remarks"] = "Excluded by the Statement of Applicability: " + "; ".join(
            f"{e['id']} ({e['justification']})" for e in excluded)
    if observations:
        result["observations"] = observations
    if findings:
        result["findings"] = findings
    if risks:
        result["risks"] = list(risks)
    return {"assessment-results": {
        "uuid": _uuid(),
        "metadata": {"title": "Annexa evidence export: ISO/IEC 27001:2022 Annex A",
                     "last-modified": _ts(generated_at), "version": __version__, "oscal-version": OSCAL_VERSION},
        "import-ap": {"href": f"#{plan_uuid}",
                      "remarks": "Continuous automated assessment; no separate assessment plan document."},
        "results": [result],
        "back-matter": {"resources": [{
            "uuid": plan_uuid, "title": "Assessment plan (not provided)",
            "description": "Annexa assesses controls continuously from rules and uploaded documents; the "
                           "scope is the Statement of Applicability in soa.csv of this bundle.",
            "rlinks": [{"href": "soa.csv", "media-type": "text/csv"}]}]},
    }}
