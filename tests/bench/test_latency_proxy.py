"""bench/latency_proxy.py counts exact repeats (same question already answered) apart from retries."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench.latency_proxy import LatencyProxy

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/{region}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature={signature}")


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    failures_left = 0

    def log_message(self, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 200
        if "Fail" in self.path and Upstream.failures_left:
            Upstream.failures_left -= 1
            status = 500
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def proxy() -> Iterator[LatencyProxy]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    front = LatencyProxy(f"http://127.0.0.1:{server.server_address[1]}", 0)
    yield front
    front.close()
    server.shutdown()
    server.server_close()


def send(proxy: LatencyProxy, path: str, body: bytes, *, service: str = "ec2", region: str = "us-east-1",
         signature: str = "a1") -> int:
    target = urlsplit(proxy.url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    conn.request("POST", path, body=body, headers={
        "Authorization": AUTH.format(region=region, service=service, signature=signature),
        "X-Amz-Date": f"20261205T0000{signature}Z"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_same_question_twice_is_a_repeat_whatever_the_signature(proxy: LatencyProxy) -> None:
    body = b"Action=DescribeVolumes&Version=2016-11-15"
    send(proxy, "/", body, signature="a1")
    send(proxy, "/", body, signature="b2")  # signed again a second later: still the same question
    send(proxy, "/", body, region="eu-west-1")  # another Region: another question
    send(proxy, "/", b"Action=DescribeVolumes&Version=2016-11-15&NextToken=x")  # next page
    stats = proxy.stats.snapshot()
    assert stats["calls"] == 4
    assert stats["repeats"] == 1 and stats["repeated"] == {"ec2 DescribeVolumes": 1}


def test_retry_after_an_error_is_not_a_repeat(proxy: LatencyProxy) -> None:
    Upstream.failures_left = 1
    body = b"Action=ListBackupSelections"
    assert send(proxy, "/Fail", body, service="backup") == 500
    assert send(proxy, "/Fail", body, service="backup") == 200
    stats = proxy.stats.snapshot()
    assert stats["repeats"] == 0
    assert stats["retries_after_error"] == {"backup ListBackupSelections": 1}
    assert stats["errors"] == {"backup 500": 1}
