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
            return compute(store, controls, app.active_rules(), applicability=applicability(app),
                           manual=manual_evidence(store),
                           configured_sources=[s.name for s in app.config.sources])
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


def _control_families(snap: Snapshot) -> Iterator[Metric]:
    status = GaugeMetricFamily(
        "annexa_control_status",
        "Current status of each control as a state set: 1 for the current status, 0 for the others.",
        labels=["control", "theme", "status"])
    age = GaugeMetricFamily("annexa_evidence_age_seconds",
                            "Seconds since the newest current evidence for the control (findings or documents).",
                            labels=["control"])
    expiry = GaugeMetricFamily("annexa_manual_evidence_expiry_timestamp_seconds",
                               "Unix time when the control's first current manual evidence document expires.",
                               labels=["control"])
    for row in snap.controls:
        for value in CONTROL_STATUSES:
            status.add_metric([row.id, row.theme, value], 1 if row.status == value else 0)
        if row.evidence_age is not None:
            age.add_metric([row.id], row.evidence_age)
        if row.manual_expiry is not None:
            expiry.add_metric([row.id], row.manual_expiry)
    yield status
    yield age
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
    success = GaugeMetricFamily("annexa_source_last_success_timestamp_seconds",
                                "Unix time when the source's last complete collection (no errors) finished.",
                                labels=["source"])
    last = GaugeMetricFamily("annexa_last_run_timestamp_seconds",
                             "Unix time when the source's last collection started, whatever its outcome.",
                             labels=["source"])
    duration = GaugeMetricFamily("annexa_collection_duration_seconds",
                                 "Duration of the source's last collection that reached its end.",
                                 labels=["source"])
    errors = CounterMetricFamily("annexa_source_errors",
                                 "Collection errors recorded for the source over the whole store history.",
                                 labels=["source"])
    resources = GaugeMetricFamily("annexa_source_resources",
                                  "Resources currently known from the source (latest snapshots).",
                                  labels=["source"])
    for name, stats in sorted(snap.sources.items()):
        if stats.last_success is not None:
            success.add_metric([name], stats.last_success)
        if stats.last_run is not None:
            last.add_metric([name], stats.last_run)
        if stats.duration is not None:
            duration.add_metric([name], stats.duration)
        errors.add_metric([name], stats.errors)
        resources.add_metric([name], stats.resources)
    yield from (success, last, duration, errors, resources)


class StoreCollector(Collector):
    """A prometheus_client collector over `StoreMetrics`."""

    def __init__(self, metrics: StoreMetrics):
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from families(self.metrics.snapshot())


def store_registry(metrics: StoreMetrics, *, process: bool = True) -> CollectorRegistry:
    """A registry with the store collector (and the standard process/platform collectors)."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(metrics))
    registry.register(RemediationCollector(metrics))
    if process:
        from prometheus_client import PlatformCollector, ProcessCollector

        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry
