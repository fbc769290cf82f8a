"""Remediation metrics (agent/remediation.py), from per-source summaries kept at the end of each run:

* ``annexa_remediation_duration_seconds{severity}``: histogram of the time from a finding's first
  `fail` to its `pass`, over every failure fixed in the store's history;
* ``annexa_findings_past_sla{severity}``: failures still open now and older than their SLA;
* ``annexa_remediation_sla_seconds{severity}``: the configured SLA, for dashboards and alerts.

Registered beside the store collector by ``agent.metrics.collector.store_registry``; it keeps its own
cache (the store collector's ``cache_seconds``) so a burst of scrapes costs one query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from agent.config import SEVERITIES
from agent.metrics.remediation_summary import BUCKETS_DAYS

if TYPE_CHECKING:
    from agent.metrics.collector import StoreMetrics

log = logging.getLogger("annexa.metrics")
BUCKETS = tuple(d * 86400.0 for d in BUCKETS_DAYS)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def remediation_values(store: Any, sla_for: Any, now: datetime) -> dict[str, Any]:
    """{severity: {"count", "sum", "buckets": [fixed failures per bucket bound], "past_sla"}}.

    From the per-source summaries kept at the end of each run (agent.metrics.remediation_summary):
    a scrape costs one query per store, not a fold over the whole history.
    """
    from agent.metrics.remediation_summary import BUCKET_US, current

    out: dict[str, Any] = {s: {"count": 0, "sum": 0.0, "buckets": [0] * len(BUCKET_US), "past_sla": 0}
                           for s in SEVERITIES}
    now_us = (now - EPOCH) // timedelta(microseconds=1)
    for summary in current(store).values():
        for severity, fig in summary.by_severity.items():
            entry = out.setdefault(severity, {"count": 0, "sum": 0.0, "buckets": [0] * len(BUCKET_US),
                                              "past_sla": 0})
            entry["count"] += fig.fixed
            entry["sum"] += fig.fixed_us / 1e6
            entry["buckets"] = [a + b for a, b in zip(entry["buckets"], fig.buckets, strict=True)]
            days = sla_for(severity)
            if days is not None:
                due_us = int(days * 86400 * 1_000_000)
                entry["past_sla"] += sum(n for failed, n in fig.open.items() if now_us > failed + due_us)
    return out


def families(values: dict[str, Any], sla_for: Any) -> Iterator[Metric]:
    hist = HistogramMetricFamily("annexa_remediation_duration_seconds",
                                 "Time from a finding's first fail to its pass, for every fixed failure.",
                                 labels=["severity"])
    past = GaugeMetricFamily("annexa_findings_past_sla",
                             "Failing findings still open longer than the remediation SLA of their severity.",
                             labels=["severity"])
    sla = GaugeMetricFamily("annexa_remediation_sla_seconds",
                            "Configured remediation SLA per severity (remediation.sla_days).", labels=["severity"])
    for severity in sorted(values):
        entry = values[severity]
        buckets = [(_le(b), n) for b, n in zip(BUCKETS, entry["buckets"], strict=True)]
        buckets.append(("+Inf", entry["count"]))
        hist.add_metric([severity], buckets, sum_value=entry["sum"])
        past.add_metric([severity], entry["past_sla"])
        days = sla_for(severity)
        if days is not None:
            sla.add_metric([severity], days * 86400.0)
    yield from (hist, past, sla)


def _le(bound: float) -> str:
    return floatToGoString(bound)  # the form prometheus_client's own histograms use ("1.2096e+06")


class RemediationCollector(Collector):
    """A prometheus_client collector reading episodes through the store collector's StoreMetrics."""

    def __init__(self, metrics: StoreMetrics):
        self.metrics = metrics
        self._lock = threading.Lock()
        self._values: dict[str, Any] | None = None
        self._taken = 0.0

    def _sla_for(self, severity: str) -> float | None:
        return self.metrics.app.config.remediation.days_for(severity)

    def collect(self) -> Iterator[Metric]:
        from agent.clock import now

        with self._lock:
            fresh = self._values is not None and time.monotonic() - self._taken < self.metrics.cache_seconds
            if not fresh:
                try:
                    self._values = remediation_values(self.metrics.store(), self._sla_for, now())
                except Exception as exc:  # a store outage is reported by annexa_store_up, not a 500
                    log.warning("could not compute remediation metrics: %s: %s", type(exc).__name__, exc)
                    self._values = None
                self._taken = time.monotonic()
            values = self._values
        if values is not None:
            yield from families(values, self._sla_for)
