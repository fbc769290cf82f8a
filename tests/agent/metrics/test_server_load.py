"""The exporter under hostile load: idle and half-open connections, slow senders, concurrent scrapes.

`bench/metrics_serve_bench.py` runs the full case (1,000 idle + 300 concurrent) against a real
`annexa metrics serve` process; here a few hundred of each against the server in-process.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import CollectorRegistry, Gauge

from agent.metrics.server import MetricsServer, ServerLimits


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    gauge = Gauge("annexa_test_value", "A value.", ["control"], registry=reg)
    for i in range(300):
        gauge.labels(f"A.{i}").set(i)
    return reg


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[MetricsServer]:
    limits = getattr(request, "param", None) or ServerLimits()
    srv = MetricsServer("127.0.0.1:0", registry(), limits=limits).start()
    try:
        yield srv
    finally:
        srv.stop()


def hostport(srv: MetricsServer) -> tuple[str, int]:
    host, port = srv.address.rsplit(":", 1)
    return host, int(port)


def get(srv: MetricsServer, path: str, timeout: float = 10.0) -> tuple[int, bytes, float]:
    began = time.monotonic()
    conn = http.client.HTTPConnection(*hostport(srv), timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), time.monotonic() - began
    finally:
        conn.close()


def server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("metrics-")]


def idle_sockets(srv: MetricsServer, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.create_connection(hostport(srv), timeout=5)
        out.append(s)
    return out


def test_idle_connections_and_concurrent_scrapes_keep_it_answering(server: MetricsServer) -> None:
    idle = idle_sockets(server, 400)  # connected, never sending a byte (half-open from the server's view)
    try:
        deadline = time.monotonic() + 5
        while server.connections < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.connections >= 400  # they are all held open...
        status, body, took = get(server, "/healthz")
        assert status == 200 and body == b"ok\n" and took < 1.0  # ...and cost the others nothing

        paths = ["/metrics"] * 150 + ["/healthz"] * 50
        with ThreadPoolExecutor(max_workers=200) as pool:
            results = list(pool.map(lambda p: get(server, p), paths))
        assert all(status == 200 for status, _, _ in results)
        assert all(b"annexa_test_value" in body for (_, body, _), p in zip(results, paths, strict=True)
                   if p == "/metrics")
        latencies = sorted(t for _, _, t in results)
        assert latencies[int(len(latencies) * 0.99) - 1] < 3.0, latencies[-5:]
        # one event-loop thread plus the bounded worker pool, however many connections are open
        assert len(server_threads()) <= 1 + server.limits.workers, server_threads()
        status, _, took = get(server, "/healthz")
        assert status == 200 and took < 1.0
    finally:
        for s in idle:
            s.close()


@pytest.mark.parametrize("server", [ServerLimits(header_timeout=0.5)], indirect=True)
def test_silent_and_slow_clients_are_cut_off(server: MetricsServer) -> None:
    silent = socket.create_connection(hostport(server), timeout=5)
    slow = socket.create_connection(hostport(server), timeout=5)
    began = time.monotonic()
    slow.sendall(b"GET /metrics HTTP/1.1\r\n")
    closed_after = None
    while time.monotonic() - began < 3:  # one header byte every 0.1 s never completes the request
        try:
            slow.sendall(b"X")
        except OSError:
            closed_after = time.monotonic() - began
            break
        time.sleep(0.1)
    assert closed_after is not None and closed_after < 2.5
    silent.settimeout(3)
    assert silent.recv(10) == b""  # the server closed the silent connection after its header timeout
    assert time.monotonic() - began < 3
    silent.close()
    slow.close()


def test_keep_alive_serves_several_requests_on_one_connection(server: MetricsServer) -> None:
    conn = http.client.HTTPConnection(*hostport(server), timeout=5)
    try:
        for path in ("/healthz", "/metrics", "/readyz", "/nope"):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == (404 if path == "/nope" else 200)
            assert resp.getheader("Connection") == "keep-alive"
        conn.request("HEAD", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"" and int(resp.getheader("Content-Length") or 0) > 0
    finally:
        conn.close()
    with socket.create_connection(hostport(server), timeout=5) as s:  # HTTP/1.0 without keep-alive: closed
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"ok\n") and b"Connection: close" in data


def test_bad_requests_get_an_answer_and_a_close(server: MetricsServer) -> None:
    for raw, status in ((b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", b"405"),
                        (b"garbage\r\n\r\n", b"400"),
                        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", b"431")):
        with socket.create_connection(hostport(server), timeout=5) as s:
            s.sendall(raw)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            assert data.split(b" ")[1] == status, data[:80]
    assert get(server, "/healthz")[0] == 200


@pytest.mark.parametrize("server", [ServerLimits(max_connections=50)], indirect=True)
def test_past_the_connection_cap_the_longest_idle_one_makes_room(server: MetricsServer) -> None:
    idle = idle_sockets(server, 50)
    try:
        deadline = time.monotonic() + 5
        while server.connections < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        status, _, took = get(server, "/metrics")
        assert status == 200 and took < 2.0
        idle[0].settimeout(3)
        assert idle[0].recv(10) == b""  # the oldest idle connection was the one closed
    finally:
        for s in idle:
            s.close()
