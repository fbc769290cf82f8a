"""`annexa run --push-gateway URL`: push one run's per-source figures to a Prometheus Pushgateway.

For short-lived runs (a CronJob without an exporter next to it). One group per source
(`job="annexa"`, grouping key `source`, plus `shard` for sharded runs). Source health uses the
exporter's own names and meanings (agent/metrics/collector.py), so the shipped alerts and dashboards
work on pushed series too: `annexa_source_outcome`, `annexa_source_last_run_timestamp_seconds`,
`annexa_source_last_success_timestamp_seconds` (ok or degraded), `annexa_source_last_ok_timestamp_seconds`
and `annexa_source_uncollected_types`. The push uses POST (`pushadd`), which replaces only the metric
names sent: a success or ok timestamp pushed by an earlier run therefore survives a later run that
does not send one.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from agent import __version__
from agent.health import OUTCOMES, REASONS, outcome, real_errors, uncollected
from agent.metrics.snapshot import FINDING_STATUSES
from agent.runner import RunResult, SourceSummary

log = logging.getLogger("annexa.metrics")
JOB = "annexa"


def _instant(value: object, default: float) -> float:
    """A manifest timestamp (ISO 8601 text) as Unix time; `default` when absent or unreadable."""
    if not isinstance(value, str):
        return default
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


def run_registry(summary: SourceSummary, run_status: str, now: float | None = None,
                 started: float | None = None) -> CollectorRegistry:
    """The metrics pushed for one source of a run (`now`: when it finished; `started`: when the run began)."""
    now = time.time() if now is None else now
    started = now if started is None else started
    registry = CollectorRegistry()
    labels = ["source"]
    src = summary.name
    records = [e.to_json() for e in summary.errors]
    result = outcome(summary.status, records, summary.resources) if run_status != "incomplete" else None
    missing = uncollected(records)  # expected gaps excluded
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
    Gauge("annexa_run_collection_errors", "Collection errors of the source in this run (expected gaps excluded).",
          labels, registry=registry).labels(src).set(len(real_errors(records)))
    Gauge("annexa_source_last_run_timestamp_seconds", "Unix time when the source's last run started, whatever "
          "its outcome.", labels, registry=registry).labels(src).set(started)
    if result is None:  # interrupted: no outcome, nothing below would be true
        return registry
    state = Gauge("annexa_source_outcome", "Outcome of the source's last finished run as a state set (ok, "
                  "degraded: some resource types not collected, failed: nothing collected).",
                  [*labels, "outcome"], registry=registry)
    for value in OUTCOMES:
        state.labels(src, value).set(1 if value == result else 0)
    types = Gauge("annexa_source_uncollected_types", "Resource types the source's last finished run could not "
                  "collect, by reason class.", [*labels, "reason"], registry=registry)
    for reason in REASONS:
        types.labels(src, reason).set(sum(1 for r in missing.values() if r == reason))
    if result in ("ok", "degraded"):
        Gauge("annexa_source_last_success_timestamp_seconds",
              "Unix time when the source's last ok or degraded run finished.", labels,
              registry=registry).labels(src).set(now)
    if result == "ok":
        Gauge("annexa_source_last_ok_timestamp_seconds",
              "Unix time when the source's last ok run (every resource type collected) finished.", labels,
              registry=registry).labels(src).set(now)
    return registry


def push_run_metrics(url: str, result: RunResult) -> bool:
    """Push every source of `result`. A gateway problem is logged, never fails the (already stored) run."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        log.error("--push-gateway: expected an http(s) URL, got %r; metrics not pushed", url)
        return False
    gateway = parts.geturl()
    manifest = result.manifest or {}
    shard = manifest.get("shard")
    now = time.time()
    finished = _instant(manifest.get("finished_at"), now)
    started = _instant(manifest.get("started_at"), finished)
    ok = True
    for summary in result.sources.values():
        key = {"source": summary.name}
        if shard:
            key["shard"] = shard  # "K/N"; the client base64-encodes it in the URL path
        try:
            pushadd_to_gateway(gateway, job=JOB, registry=run_registry(summary, result.status, finished, started),
                               grouping_key=key, timeout=10)
        except Exception as exc:  # network or HTTP error from the gateway
            ok = False
            log.error("could not push metrics to the Pushgateway: %s", exc,
                      extra={"source": summary.name, "gateway": parts.netloc})
    return ok
