"""A loopback HTTP proxy in front of the AWS emulator: adds a fixed delay to every call and counts calls.

moto answers in milliseconds and mostly one request at a time; real AWS answers in ~50-150 ms and
in parallel. Each request is handled on its own thread and sleeps `delay` before it is forwarded,
so a scanner that keeps several calls in flight pays the delay once per wave, not once per call.
Every request is counted by the signing service in its SigV4 credential scope (`iam`, `s3`, ...),
which makes the proxy the one place where all scanners' API calls are counted the same way.

    python bench/latency_proxy.py --upstream http://127.0.0.1:5000 --delay-ms 100 [--port P]

A call is a *repeat* when the same request (method, host, path and query, body, JSON target,
signing key id, service and Region; not the date or signature) was already answered with success
earlier: asking AWS again for what it already said. A retry after an error is counted apart.

`GET /__proxy/stats` returns the counts as JSON; `POST /__proxy/reset` zeroes them.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
       "content-length"}
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
KEY_ID = re.compile(r"Credential=([^/]+)/")


def request_key(method: str, path: str, headers: Any, body: bytes | None) -> str:
    """What makes two requests the same question (the date and signature left out)."""
    auth = headers.get("Authorization") or ""
    parts = [method, headers.get("Host") or "", path, headers.get("X-Amz-Target") or "",
             "|".join(SCOPE.search(auth).groups()) if SCOPE.search(auth) else "",
             KEY_ID.search(auth).group(1) if KEY_ID.search(auth) else ""]
    digest = hashlib.sha256("\n".join(parts).encode())
    digest.update(body or b"")
    return digest.hexdigest()


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_service: Counter[str] = Counter()
        self.by_region: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.answered: dict[str, str] = {}  # request key -> "service Operation-ish" label
        self.repeats: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.failed: set[str] = set()

    def add(self, service: str, region: str, status: int, key: str = "", label: str = "") -> None:
        with self.lock:
            self.by_service[service] += 1
            self.by_region[region] += 1
            if status >= 400:
                self.errors[f"{service} {status}"] += 1
            if not key:
                return
            if key in self.answered:
                self.repeats[f"{service} {label}"] += 1
            elif key in self.failed:
                self.retries[f"{service} {label}"] += 1
            if status < 400:
                self.answered[key] = label
            else:
                self.failed.add(key)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"calls": sum(self.by_service.values()), "by_service": dict(sorted(self.by_service.items())),
                    "by_region": dict(sorted(self.by_region.items())), "errors": dict(sorted(self.errors.items())),
                    "repeats": sum(self.repeats.values()), "repeated": dict(sorted(self.repeats.items())),
                    "retries_after_error": dict(sorted(self.retries.items()))}

    def reset(self) -> None:
        with self.lock:
            self.by_service.clear()
            self.by_region.clear()
            self.errors.clear()
            self.answered.clear()
            self.repeats.clear()
            self.retries.clear()
            self.failed.clear()


class LatencyProxy:
    """Run the proxy on a background thread; `url` is what scanners use as their endpoint."""

    def __init__(self, upstream: str, delay_ms: float, port: int = 0) -> None:
        target = urlsplit(upstream)
        self.stats = Stats()
        proxy = self
        self.delay = delay_ms / 1000.0
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _upstream(self) -> http.client.HTTPConnection:
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
                return conn

            def _handle(self) -> None:
                if self.path.startswith("/__proxy/"):
                    self._control()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                if proxy.delay:
                    time.sleep(proxy.delay)
                for attempt in (1, 2):
                    conn = self._upstream()
                    try:
                        conn.request(self.command, self.path, body=body, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                        break
                    except (http.client.HTTPException, OSError):
                        conn.close()
                        local.conn = None
                        if attempt == 2:
                            self.send_error(502, "upstream unreachable")
                            return
                match = SCOPE.search(self.headers.get("Authorization") or "")
                service, region = (match.group(2), match.group(1)) if match else ("unsigned", "-")
                label = self.headers.get("X-Amz-Target") or _action(self.command, self.path, body)
                proxy.stats.add(service, region, resp.status, request_key(self.command, self.path, self.headers, body),
                                label)
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _control(self) -> None:
                if self.path == "/__proxy/reset":
                    proxy.stats.reset()
                payload = json.dumps(proxy.stats.snapshot()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.request_queue_size = 256
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="latency-proxy")
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _action(method: str, path: str, body: bytes | None) -> str:
    """A readable name for a request: the query API's Action, else method and path."""
    match = re.search(rb"(?:^|&)Action=([A-Za-z0-9]+)", body or b"")
    return match.group(1).decode() if match else f"{method} {path[:80]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the emulator, e.g. http://127.0.0.1:5000")
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    proxy = LatencyProxy(args.upstream, args.delay_ms, args.port)
    print(json.dumps({"url": proxy.url, "delay_ms": args.delay_ms}), flush=True)
    try:
        proxy.thread.join()
    except KeyboardInterrupt:
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
