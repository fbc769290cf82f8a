"""`annexa run --push-gateway URL`: push one run's per-source figures to a Prometheus Pushgateway.

For short-lived runs (a CronJob without an exporter next to it). One group per source
(`job="annexa"`, grouping key `source`, plus `shard` for sharded runs). The push uses POST
(`pushadd`), which replaces only the metric names sent: the last success timestamp pushed by an
earlier complete run therefore survives a later partial run that does not send one.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from agent import __version__
from agent.metrics.snapshot import FINDING_STATUSES
from agent.runner import RunResult, SourceSummary

log = logging.getLogger("annexa.metrics")
JOB = "annexa"


def run_registry(summary: SourceSummary, run_status: str, now: float | None = None) -> CollectorRegistry:
    """The metrics pushed for one source of a run."""
    now = time.time() if now is None else now
    registry = CollectorRegistry()
    labels = ["source"]
    src = summary.name
    Gauge("annexa_build_info", "Annexa version (always 1).", ["version"], registry=registry).labels(
        __version__).set(1)
    Gauge("annexa_collection_duration_seconds", "Duration of the source's collection in this run.", labels,
          registry=registry).labels(src).set(summary.seconds)
    Gauge("annexa_run_resources", "Resources collected from the source in this run.", labels,
          registry=registry).labels(src).set(summary.resources)
    found = Gauge("annexa_run_findings", "Findings recorded for the source in this run, by status.",
                  [*labels, "status"], registry=registry)
    for st in FINDING_STATUSES:
        found.labels(src, st).set(summary.findings.get(st, 0))
    Gauge("annexa_run_collection_errors", "Collection errors of the source in this run.", labels,
          registry=registry).labels(src).set(len(summary.errors))
    Gauge("annexa_last_run_timestamp_seconds", "Unix time when this run of the source was pushed.", labels,
          registry=registry).labels(src).set(now)
    if summary.status == "complete" and run_status != "incomplete":
        Gauge("annexa_source_last_success_timestamp_seconds",
              "Unix time of the source's last complete collection (no errors).", labels,
              registry=registry).labels(src).set(now)
    return registry


def push_run_metrics(url: str, result: RunResult) -> bool:
    """Push every source of `result`. A gateway problem is logged, never fails the (already stored) run."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        log.error("--push-gateway: expected an http(s) URL, got %r; metrics not pushed", url)
        return False
    gateway = parts.geturl()
    shard = (result.manifest or {}).get("shard")
    ok = True
    for summary in result.sources.values():
        key = {"source": summary.name}
        if shard:
            key["shard"] = shard  # "K/N"; the client base64-encodes it in the URL path
        try:
            pushadd_to_gateway(gateway, job=JOB, registry=run_registry(summary, result.status), grouping_key=key,
                               timeout=10)
        except Exception as exc:  # network or HTTP error from the gateway
            ok = False
            log.error("could not push metrics to the Pushgateway: %s", exc,
                      extra={"source": summary.name, "gateway": parts.netloc})
    return ok
