"""`annexa run --push-gateway`: real HTTP to a recording stand-in for the Pushgateway."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.metrics.push import push_run_metrics
from agent.runner import RunResult, SourceSummary
from tests.agent.metrics import demo_store
from tests.deploy.promql import KNOWN_METRICS
from tests.support.annexa_process import ROOT, annexa_env


class Gateway:
    """Records every request (method, path, body) and answers 200, like a Pushgateway."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                gateway.requests.append((self.command, self.path, self.rfile.read(length).decode()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _record

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def pushed(self) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
        """path -> {(sample name, labels): value}, parsed with the Prometheus text parser."""
        out: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for _, path, body in self.requests:
            samples = out.setdefault(path, {})
            for family in text_string_to_metric_families(body):
                for s in family.samples:
                    samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    yield gw
    gw.server.shutdown()
    gw.server.server_close()


def test_run_pushes_one_group_per_source(tmp_path: Path, gateway: Gateway) -> None:
    config = demo_store.write_demo_config(tmp_path / "demo", f"sqlite:///{tmp_path / 'a.db'}")
    proc = subprocess.run([sys.executable, "-m", "agent", "run", "--format", "json", "--push-gateway", gateway.url],
                          env=annexa_env(config), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr  # kit-c is partial: the push does not change the exit code
    assert json.loads(proc.stdout)["status"] == "partial"
    assert {m for m, _, _ in gateway.requests} == {"POST"}
    pushed = gateway.pushed()
    assert set(pushed) == {f"/metrics/job/annexa/source/{name}" for name in ("kit-a", "kit-b", "kit-c")}

    a = pushed["/metrics/job/annexa/source/kit-a"]
    assert a[("annexa_run_resources", (("source", "kit-a"),))] == 3
    assert a[("annexa_run_findings", (("source", "kit-a"), ("status", "fail")))] == 3
    assert a[("annexa_run_findings", (("source", "kit-a"), ("status", "error")))] == 0
    assert a[("annexa_run_collection_errors", (("source", "kit-a"),))] == 0
    assert ("annexa_source_last_success_timestamp_seconds", (("source", "kit-a"),)) in a
    assert ("annexa_source_last_ok_timestamp_seconds", (("source", "kit-a"),)) in a
    assert a[("annexa_source_outcome", (("outcome", "ok"), ("source", "kit-a")))] == 1
    assert a[("annexa_collection_duration_seconds", (("source", "kit-a"),))] >= 0

    c = pushed["/metrics/job/annexa/source/kit-c"]
    assert c[("annexa_run_collection_errors", (("source", "kit-c"),))] == 1
    # kit-c collected people but not one resource type: degraded, which is a success but not ok.
    assert c[("annexa_source_outcome", (("outcome", "degraded"), ("source", "kit-c")))] == 1
    assert c[("annexa_source_outcome", (("outcome", "ok"), ("source", "kit-c")))] == 0
    assert c[("annexa_source_uncollected_types", (("reason", "denied"), ("source", "kit-c")))] == 1
    assert ("annexa_source_last_success_timestamp_seconds", (("source", "kit-c"),)) in c
    # Not ok: the gateway keeps the previous ok time (POST semantics).
    assert not any(name == "annexa_source_last_ok_timestamp_seconds" for name, _ in c)
    assert ("annexa_source_last_run_timestamp_seconds", (("source", "kit-c"),)) in c
    # Only the names the exporter and the shipped alerts use (no old annexa_last_run_timestamp_seconds).
    sent = {name for group in pushed.values() for name, _ in group}
    assert "annexa_last_run_timestamp_seconds" not in sent
    assert {n for n in sent if n.startswith("annexa_source_")} <= KNOWN_METRICS


def test_sharded_run_groups_by_shard_and_a_dead_gateway_only_warns(
        gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    summary = SourceSummary("gh", "github", resources=5, findings={"pass": 5}, status="complete", seconds=1.5)
    result = RunResult(7, "complete", {"gh": summary}, {"shard": "1/4"})
    assert push_run_metrics(gateway.url, result) is True
    (_method, path, body), = gateway.requests
    shard = base64.urlsafe_b64encode(b"1/4").decode()
    assert path == f"/metrics/job/annexa/shard@base64/{shard}/source/gh"
    assert "annexa_collection_duration_seconds{source=\"gh\"} 1.5" in body

    dead = f"http://127.0.0.1:{gateway.server.server_address[1]}"
    gateway.server.shutdown()
    gateway.server.server_close()
    with caplog.at_level(logging.ERROR, logger="annexa.metrics"):
        assert push_run_metrics(dead, result) is False
        assert push_run_metrics("ftp://example.invalid/", result) is False
    assert "could not push metrics" in caplog.text and "expected an http(s) URL" in caplog.text


def test_pushed_health_follows_the_outcome(gateway: Gateway) -> None:
    """ok, degraded, failed and an expected gap, pushed over real HTTP and parsed back."""
    from agent.model import CollectionError

    denied = CollectionError("b", "t.one", "AccessDenied", reason="denied")
    gap = CollectionError("d", "t.one", "OptInRequired", region="eu-west-3", reason="not_enabled",
                          expected={"reason": "unused", "approved_by": "ciso", "expires": "2999-01-01"})
    sources = {
        "a": SourceSummary("a", "testkit", resources=3, status="complete", seconds=1.0),
        "b": SourceSummary("b", "testkit", resources=3, errors=[denied], status="partial", seconds=1.0),
        "c": SourceSummary("c", "testkit", resources=0, errors=[CollectionError("c", "t.one", "timed out")],
                           status="partial", seconds=1.0),
        "d": SourceSummary("d", "testkit", resources=3, errors=[gap], status="complete", seconds=1.0),
    }
    manifest = {"started_at": "2026-12-01T10:00:00Z", "finished_at": "2026-12-01T10:05:00Z"}
    assert push_run_metrics(gateway.url, RunResult(9, "partial", sources, manifest)) is True
    pushed = gateway.pushed()

    def group(src: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return pushed[f"/metrics/job/annexa/source/{src}"]

    def state(src: str) -> str:
        (value,) = [dict(la)["outcome"] for (name, la), v in group(src).items()
                    if name == "annexa_source_outcome" and v == 1]
        return value

    assert {s: state(s) for s in sources} == {"a": "ok", "b": "degraded", "c": "failed", "d": "ok"}
    stamps = {s: {name for name, _ in group(s) if name.endswith("_timestamp_seconds")} for s in sources}
    run_only = {"annexa_source_last_run_timestamp_seconds"}
    success = run_only | {"annexa_source_last_success_timestamp_seconds"}
    assert stamps == {"a": success | {"annexa_source_last_ok_timestamp_seconds"}, "b": success, "c": run_only,
                      "d": success | {"annexa_source_last_ok_timestamp_seconds"}}
    started, finished = 1796119200.0, 1796119500.0  # the run's own times from its manifest, not the push time
    assert group("a")[("annexa_source_last_run_timestamp_seconds", (("source", "a"),))] == started
    assert group("a")[("annexa_source_last_ok_timestamp_seconds", (("source", "a"),))] == finished
    assert group("c")[("annexa_source_uncollected_types", (("reason", "unavailable"), ("source", "c")))] == 1
    assert group("d")[("annexa_run_collection_errors", (("source", "d"),))] == 0  # the gap is no error
    assert group("d")[("annexa_source_uncollected_types", (("reason", "not_enabled"), ("source", "d")))] == 0
