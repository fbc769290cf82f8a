"""`annexa metrics serve` as a real process: /metrics, /healthz, /readyz, a vanished database, SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.errors import AnnexaError
from agent.metrics.server import MetricsServer, parse_listen
from tests.agent.metrics import demo_store
from tests.support.annexa_process import AnnexaProcess, http_get


def values(text: str) -> dict[str, float]:
    """name{labels} -> value, for unlabelled samples and a few handy lookups."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + ("" if not s.labels else "{" + ",".join(f"{k}={v}" for k, v in
                                                                   sorted(s.labels.items())) + "}")
            out[key] = s.value
    return out


def drop_database(server_url: str, store_url: str) -> None:
    import psycopg

    name = store_url.rsplit("/", 1)[1]
    with psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_serve_metrics_health_and_readiness(tmp_path: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    store_url = postgres.fresh_database()
    config = demo_store.build(tmp_path / "demo", store_url)
    with AnnexaProcess(config, "metrics", "serve", "--listen", "127.0.0.1:0", "--cache-seconds", "0") as proc:
        base = f"http://{proc.listen_address()}"
        code, ctype, body = http_get(f"{base}/metrics")
        assert code == 200 and ctype.startswith("text/plain")
        v = values(body)
        assert v["annexa_store_up"] == 1
        assert v["annexa_control_status{control=A.8.24,status=failing,theme=Technological}"] == 1
        assert v["annexa_source_errors_total{source=kit-c}"] == 2
        assert "process_cpu_seconds_total" in v  # the standard process collector is there too
        code, ctype, body = http_get(f"{base}/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
        assert code == 200 and ctype.startswith("application/openmetrics-text") and body.endswith("# EOF\n")
        assert http_get(f"{base}/healthz")[0] == 200
        assert http_get(f"{base}/readyz")[0] == 200
        assert http_get(f"{base}/nope")[0] == 404

        drop_database(postgres.url, store_url)
        assert http_get(f"{base}/readyz")[0] == 503
        assert http_get(f"{base}/healthz")[0] == 200  # alive, just not ready
        code, _, body = http_get(f"{base}/metrics")
        assert code == 200
        v = values(body)
        assert v["annexa_store_up"] == 0 and v["annexa_build_info{version=0.1.0}"] == 1
        assert not any(k.startswith("annexa_control_status") for k in v)

        started = time.monotonic()
        assert proc.terminate() == 0
        assert time.monotonic() - started < 5
        assert proc.wait_for("stopping", signal="SIGTERM")


def test_listen_address_errors_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(AnnexaError, match="expected HOST:PORT"):
        parse_listen("9464")
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    from prometheus_client import CollectorRegistry

    first = MetricsServer("127.0.0.1:0", CollectorRegistry()).start()
    try:
        with pytest.raises(AnnexaError, match=f"cannot listen on {first.address}"):
            MetricsServer(first.address, CollectorRegistry()).start()
    finally:
        first.stop()
