"""Operational figures for the exporter: source health per run, run outcomes, risk acceptances, verification.

Everything is read from the store (and the configured exceptions file), so the daemon, a CronJob and a
manual `annexa run` all show up the same way, and any number of exporters agree.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from agent.health import OUTCOMES, outcome, real_errors, reason_of
from agent.model import Status
from agent.store.schema import findings, run_sources
from agent.store.timeutil import as_utc

if TYPE_CHECKING:
    from agent.config import Config
    from agent.store.store import EvidenceStore

log = logging.getLogger("annexa.metrics")
#: What `annexa_source_runs_total{outcome}` counts: the three outcomes plus interrupted runs.
RUN_OUTCOMES = (*OUTCOMES, "incomplete")
EXCEPTION_STATES = ("active", "expiring", "expired")


@dataclass
class SourceHealth:
    outcome: str | None = None  # of the last finished run
    last_run: float | None = None  # start of the last run, whatever its outcome
    last_ok: float | None = None  # end of the last `ok` run
    last_success: float | None = None  # end of the last `ok` or `degraded` run
    uncollected: dict[str, str] = field(default_factory=dict)  # last finished run: {type: reason}
    errors: dict[tuple[str, str], int] = field(default_factory=dict)  # last finished run: (type, reason) -> n
    runs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_OUTCOMES, 0))
    errors_total: int = 0  # over the whole history (a counter)


@dataclass
class OpsFigures:
    sources: dict[str, SourceHealth] = field(default_factory=dict)
    exceptions: dict[str, float] = field(default_factory=dict)  # id -> expiry (Unix time)
    exception_states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXCEPTION_STATES, 0))
    expired_referenced: int = 0  # current findings still excepted by an expired (or removed) acceptance
    exceptions_loaded: bool = False
    verify_at: float | None = None
    verify_ok: bool | None = None
    verify_last_ok: float | None = None


def _ts(value: Any) -> float | None:
    when = as_utc(value)
    return None if when is None else when.timestamp()


def source_health(store: EvidenceStore, configured: Iterable[str]) -> dict[str, SourceHealth]:
    """Per source, from every stored run (oldest first, so the last finished run wins)."""
    out = {name: SourceHealth() for name in configured}
    rs = run_sources.c
    query = select(rs.source, rs.status, rs.started_at, rs.finished_at, rs.resources, rs.errors).order_by(
        rs.started_at, rs.run_id)
    with store.engine.connect() as conn:
        for src, status, started, finished, resources, errors in conn.execute(query):
            health = out.setdefault(src, SourceHealth())
            health.last_run = _ts(started)
            if status == "incomplete":
                health.runs["incomplete"] += 1
                continue
            result = outcome(status, errors, resources)
            if result is None:
                continue
            health.runs[result] += 1
            real = real_errors(errors)
            health.errors_total += len(real) + (1 if status == "failed" else 0)
            health.outcome = result
            health.uncollected = {}
            health.errors = {}
            for rec in real:
                rtype, reason = str(rec.get("resource_type")), reason_of(rec)
                health.uncollected.setdefault(rtype, reason)
                health.errors[(rtype, reason)] = health.errors.get((rtype, reason), 0) + 1
            if result == "ok":
                health.last_ok = _ts(finished)
            if result in ("ok", "degraded"):
                health.last_success = _ts(finished)
    return out


def exception_figures(config: Config, store: EvidenceStore, figures: OpsFigures, now: dt.datetime,
                      expiring_days: int) -> None:
    """Expiry of each configured risk acceptance, counts by state, and expired ones still referenced."""
    path = config.exceptions_path
    if path is None:
        return
    from agent.exceptions import load_exceptions

    try:
        entries = load_exceptions(path)
    except Exception as exc:  # an invalid file is reported by `annexa run`; here it only hides the figures
        log.warning("could not read the exceptions file for metrics: %s", exc)
        return
    figures.exceptions_loaded = True
    soon = now + dt.timedelta(days=expiring_days)
    live: set[str] = set()
    for entry in entries:
        figures.exceptions[entry.id] = entry.expires.timestamp()
        if not entry.active(now):
            figures.exception_states["expired"] += 1
        elif entry.expires <= soon:
            figures.exception_states["expiring"] += 1
            live.add(entry.id)
        else:
            figures.exception_states["active"] += 1
            live.add(entry.id)
    with store.engine.connect() as conn:
        rows = conn.execute(select(findings.c.exception, func.count())
                            .where(findings.c.open.is_(True), findings.c.status == Status.EXCEPTED.value)
                            .group_by(findings.c.exception)).all()
    figures.expired_referenced = sum(int(n) for ref, n in rows if ref not in live)


def verify_figures(store: EvidenceStore, figures: OpsFigures) -> None:
    from agent.verifystatus import load

    status = load(store)
    if status is not None:
        figures.verify_at, figures.verify_ok, figures.verify_last_ok = status.at, status.ok, status.last_ok


def compute_ops(store: EvidenceStore, config: Config, configured_sources: Iterable[str],
                now: dt.datetime | None = None) -> OpsFigures:
    now = now or dt.datetime.now(dt.UTC)
    figures = OpsFigures(sources=source_health(store, configured_sources))
    exception_figures(config, store, figures, now, config.metrics.exceptions_expiring_days)
    verify_figures(store, figures)
    return figures


def reasons_count(health: SourceHealth) -> Counter[str]:
    """Resource types not collected in the last finished run, by reason class."""
    return Counter(health.uncollected.values())
