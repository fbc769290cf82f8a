"""The Prometheus collector: every `annexa_*` series is computed from the store when scraped.

Nothing is counted in process memory, so values survive restarts and any number of exporter
replicas agree. A computation is reused for `cache_seconds` so that a burst of scrapes (several
Prometheus servers, a dashboard refresh storm) costs the database one set of queries.
Label values are bounded: controls, themes, statuses, severities, rule ids and source names —
never resource ids.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from agent import __version__
from agent.health import OUTCOMES, REASONS
from agent.metrics.ops import EXCEPTION_STATES, RUN_OUTCOMES, OpsFigures, compute_ops, reasons_count
from agent.metrics.remediation import RemediationCollector
from agent.metrics.snapshot import Snapshot, compute, store_down
from agent.status import CONTROL_STATUSES

if TYPE_CHECKING:
    from agent.cli.app import App
    from agent.store.store import EvidenceStore

log = logging.getLogger("annexa.metrics")
DEFAULT_CACHE_SECONDS = 5.0


class StoreMetrics:
    """Opens the store on first use (and again after a failure) and computes cached snapshots."""

    def __init__(self, app: App, *, store: EvidenceStore | None = None,
                 cache_seconds: float = DEFAULT_CACHE_SECONDS, migrate_schema: str = "never"):
        self.app = app
        self.cache_seconds = cache_seconds
        self.migrate_schema = migrate_schema
        self._store = store
        self._owns_store = store is None
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._taken = 0.0

    def store(self) -> EvidenceStore:
        if self._store is None:
            from agent.store.store import EvidenceStore

            cfg = self.app.config
            self._store = EvidenceStore.open(cfg.store_url, cfg.evidence_dir, migrate_schema=self.migrate_schema)
        return self._store

    def ping(self) -> bool:
        """True when the store answers a query on its own tables (not merely accepts a connection)."""
        from sqlalchemy import select

        from agent.store.schema import runs

        try:
            with self.store().engine.connect() as conn:
                conn.execute(select(runs.c.id).limit(1)).all()
            return True
        except Exception as exc:  # any failure to reach or read the database means "not ready"
            log.debug("store ping failed: %s", exc)
            return False

    def _compute(self) -> Snapshot:
        from agent.posture import applicability, manual_evidence

        app = self.app
        controls = list(app.catalogue.controls)
        try:
            store = self.store()
            configured = [s.name for s in app.config.sources]
            snap = compute(store, controls, app.active_rules(), applicability=applicability(app),
                           manual=manual_evidence(store), configured_sources=configured)
            snap.ops = compute_ops(store, app.config, configured)
            return snap
        except Exception as exc:  # a database outage must not turn /metrics into a 500
            log.warning("could not compute metrics from the store: %s: %s", type(exc).__name__, exc)
            # store_up means "the metrics could be computed": a store that answers a ping but cannot be
            # read for metrics (e.g. an old schema) is down too, so AnnexaStoreUnreachable fires.
            return store_down(controls)

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._snapshot is None or now - self._taken >= self.cache_seconds:
                self._snapshot = self._compute()
                self._taken = time.monotonic()
            return self._snapshot

    def close(self) -> None:
        if self._store is not None and self._owns_store:
            self._store.close()


def families(snap: Snapshot) -> Iterator[Metric]:
    """The snapshot as Prometheus metric families (HELP and TYPE included, units in the names)."""
    build = GaugeMetricFamily("annexa_build_info", "Annexa version (always 1).", labels=["version"])
    build.add_metric([__version__], 1)
    yield build
    up = GaugeMetricFamily("annexa_store_up", "1 if the evidence store could be read on the last computation.")
    up.add_metric([], 1 if snap.store_up else 0)
    yield up
    info = GaugeMetricFamily("annexa_control_info", "Title and theme of each Annex A control (always 1).",
                             labels=["control", "theme", "title"])
    for row in snap.controls:
        info.add_metric([row.id, row.theme, row.title], 1)
    yield info
    took = GaugeMetricFamily("annexa_metrics_compute_duration_seconds",
                             "Time spent reading the store for the current metric values.")
    took.add_metric([], snap.compute_seconds)
    yield took
    if not snap.store_up or not snap.controls or snap.controls[0].status is None:
        return
    yield from _control_families(snap)
    yield from _finding_families(snap)
    yield from _source_families(snap)
    if snap.ops is not None:
        yield from _health_families(snap.ops)
        yield from _exception_families(snap.ops)
        yield from _verify_families(snap.ops)


def _control_families(snap: Snapshot) -> Iterator[Metric]:
    status = GaugeMetricFamily(
        "annexa_control_status",
        "Current status of each control as a state set: 1 for the current status, 0 for the others.",
        labels=["control", "theme", "status"])
    fresh = GaugeMetricFamily("annexa_control_evidence_timestamp_seconds",
                              "Unix time of the newest current evidence for the control (findings or documents).",
                              labels=["control"])
    expiry = GaugeMetricFamily("annexa_manual_evidence_expiry_timestamp_seconds",
                               "Unix time when the control's first current manual evidence document expires.",
                               labels=["control"])
    for row in snap.controls:
        for value in CONTROL_STATUSES:
            status.add_metric([row.id, row.theme, value], 1 if row.status == value else 0)
        if row.evidence_at is not None:
            fresh.add_metric([row.id], row.evidence_at)
        if row.manual_expiry is not None:
            expiry.add_metric([row.id], row.manual_expiry)
    yield status
    yield fresh
    yield expiry


def _finding_families(snap: Snapshot) -> Iterator[Metric]:
    found = GaugeMetricFamily("annexa_findings", "Current findings by status, severity and source.",
                              labels=["status", "severity", "source"])
    for (st, sev, src), n in sorted(snap.findings.items()):
        found.add_metric([st, sev, src], n)
    yield found
    by_rule = GaugeMetricFamily("annexa_rule_findings", "Current findings per rule and status.",
                                labels=["rule", "status"])
    for (rule, st), n in sorted(snap.rule_findings.items()):
        by_rule.add_metric([rule, st], n)
    yield by_rule


def _source_families(snap: Snapshot) -> Iterator[Metric]:
    duration = GaugeMetricFamily("annexa_collection_duration_seconds",
                                 "Duration of the source's last collection that reached its end.",
                                 labels=["source"])
    resources = GaugeMetricFamily("annexa_source_resources",
                                  "Resources currently known from the source (latest snapshots).",
                                  labels=["source"])
    for name, stats in sorted(snap.sources.items()):
        if stats.duration is not None:
            duration.add_metric([name], stats.duration)
        resources.add_metric([name], stats.resources)
    yield from (duration, resources)


def _health_families(ops: OpsFigures) -> Iterator[Metric]:
    result = GaugeMetricFamily(
        "annexa_source_outcome",
        "Outcome of the source's last finished run as a state set (ok, degraded: some resource types "
        "not collected, failed: nothing collected).", labels=["source", "outcome"])
    last = GaugeMetricFamily("annexa_source_last_run_timestamp_seconds",
                             "Unix time when the source's last run started, whatever its outcome.", labels=["source"])
    success = GaugeMetricFamily("annexa_source_last_success_timestamp_seconds",
                                "Unix time when the source's last ok or degraded run finished.", labels=["source"])
    clean = GaugeMetricFamily("annexa_source_last_ok_timestamp_seconds",
                              "Unix time when the source's last ok run (every resource type collected) finished.",
                              labels=["source"])
    missing = GaugeMetricFamily("annexa_source_uncollected_types",
                                "Resource types the source's last finished run could not collect, by reason class.",
                                labels=["source", "reason"])
    errors = GaugeMetricFamily("annexa_source_collection_errors",
                               "Collection errors in the source's last finished run, by resource type and reason.",
                               labels=["source", "resource_type", "reason"])
    total = CounterMetricFamily("annexa_source_errors",
                                "Collection errors recorded for the source over the whole store history "
                                "(expected gaps excluded).", labels=["source"])
    runs = CounterMetricFamily("annexa_source_runs",
                               "Runs of the source recorded in the store, by outcome (every path: daemon, CronJob, "
                               "manual).", labels=["source", "outcome"])
    for name, health in sorted(ops.sources.items()):
        if health.outcome is not None:
            for value in OUTCOMES:
                result.add_metric([name, value], 1 if health.outcome == value else 0)
        for family, value in ((last, health.last_run), (success, health.last_success), (clean, health.last_ok)):
            if value is not None:
                family.add_metric([name], value)
        by_reason = reasons_count(health)
        for reason in REASONS:
            missing.add_metric([name, reason], by_reason.get(reason, 0))
        for (rtype, reason), n in sorted(health.errors.items()):
            errors.add_metric([name, rtype, reason], n)
        total.add_metric([name], health.errors_total)
        for value in RUN_OUTCOMES:
            runs.add_metric([name, value], health.runs.get(value, 0))
    yield from (result, last, success, clean, missing, errors, total, runs)


def _exception_families(ops: OpsFigures) -> Iterator[Metric]:
    if not ops.exceptions_loaded:
        return
    expiry = GaugeMetricFamily("annexa_exception_expiry_timestamp_seconds",
                               "Unix time when each configured risk acceptance expires.", labels=["exception"])
    for ident, when in sorted(ops.exceptions.items()):
        expiry.add_metric([ident], when)
    yield expiry
    states = GaugeMetricFamily(
        "annexa_exceptions",
        "Configured risk acceptances by state: active, expiring (within metrics.exceptions_expiring_days) "
        "or expired.", labels=["state"])
    for state in EXCEPTION_STATES:
        states.add_metric([state], ops.exception_states.get(state, 0))
    yield states
    stale = GaugeMetricFamily("annexa_exception_expired_findings",
                              "Current findings still marked excepted by an acceptance that has expired or was "
                              "removed (until the next run re-evaluates them).")
    stale.add_metric([], ops.expired_referenced)
    yield stale


def _verify_families(ops: OpsFigures) -> Iterator[Metric]:
    if ops.verify_at is None:
        return
    at = GaugeMetricFamily("annexa_store_verify_timestamp_seconds",
                           "Unix time of the last `annexa verify --store`, whatever its result.")
    at.add_metric([], ops.verify_at)
    ok = GaugeMetricFamily("annexa_store_verify_ok", "1 if the last `annexa verify --store` passed, else 0.")
    ok.add_metric([], 1 if ops.verify_ok else 0)
    yield from (at, ok)
    if ops.verify_last_ok is not None:
        last_ok = GaugeMetricFamily("annexa_store_verify_last_ok_timestamp_seconds",
                                    "Unix time of the last `annexa verify --store` that passed.")
        last_ok.add_metric([], ops.verify_last_ok)
        yield last_ok


class StoreCollector(Collector):
    """A prometheus_client collector over `StoreMetrics`."""

    def __init__(self, metrics: StoreMetrics):
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from families(self.metrics.snapshot())


def store_registry(metrics: StoreMetrics, *, process: bool = True) -> CollectorRegistry:
    """A registry with the store collector (and the standard process/platform collectors)."""
    from prometheus_client import disable_created_metrics

    # No `*_created` series: the daemon's counters would add one per source and outcome, noise
    # for dashboards; our counters' values come from the store and need no creation time.
    disable_created_metrics()
    registry = CollectorRegistry()
    registry.register(StoreCollector(metrics))
    registry.register(RemediationCollector(metrics))
    if process:
        from prometheus_client import PlatformCollector, ProcessCollector

        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry
