"""The current compliance posture: every control's state, computed from the store and the SoA."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from agent.status import ControlState, ManualEvidenceState, control_states

if TYPE_CHECKING:
    from agent.cli.app import App
    from agent.store.store import EvidenceStore


def applicability(app: App) -> dict[str, tuple[bool, str | None]]:
    """Control id -> (applicable, justification) from the SoA, if one is configured."""
    path = app.config.soa_path
    if path is None or not path.exists():
        return {}
    from agent.soa import load_soa

    soa = load_soa(path, app.catalogue)
    return {cid: (entry.applicable, entry.justification) for cid, entry in soa.items()}


def manual_evidence(store: EvidenceStore, now: datetime | None = None) -> dict[str, ManualEvidenceState]:
    try:
        from agent.manual import manual_evidence_states
    except ImportError:
        return {}
    return manual_evidence_states(store, now)


def posture(app: App, store: EvidenceStore | None = None) -> list[ControlState]:
    """Every control's state now. Counts and evidence times come from the per-source summaries each run
    stores at its end (agent.metrics.snapshot), so this costs the same at 1M findings as at 1,000; a source
    without a current summary is counted from its rows. `error` and `not_applicable` findings rest on no
    evidence read, so they never make a control's evidence look fresh (the same figures as the metrics)."""
    from agent.metrics.snapshot import by_rule_and_newest, summaries

    if store is None and not app.store_exists():  # nothing collected yet: every control is unknown
        return control_states(app.catalogue.controls, app.active_rules(), {}, applicability=applicability(app))
    store = store or app.store()
    counts, newest = by_rule_and_newest(summaries(store))
    return control_states(app.catalogue.controls, app.active_rules(), counts,
                          applicability=applicability(app), manual=manual_evidence(store), newest=newest)
