"""A small HTTP server for /metrics, /healthz (the process is alive) and /readyz (it can do its job)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from agent.errors import AnnexaError

log = logging.getLogger("annexa.metrics")
INDEX = (b"<!doctype html><title>Annexa</title><h1>Annexa exporter</h1>"
         b'<p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a> <a href="/readyz">/readyz</a></p>')


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 hosts in brackets, `[::]:9464`) as a (host, port) pair."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise AnnexaError(f"--listen: expected HOST:PORT, e.g. 127.0.0.1:9464 (got {value!r})")
    return host.strip("[]"), int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """Serve a registry in a background thread; `ready` decides /readyz (200 or 503)."""

    def __init__(self, listen: str, registry: CollectorRegistry, ready: Callable[[], bool] = lambda: True):
        self.listen = listen
        self.registry = registry
        self.ready = ready
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """The bound `host:port` (the real port when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self) -> MetricsServer:
        host, port = parse_listen(self.listen)
        handler = self._handler()
        server_cls: type[_Server] = _Server6 if ":" in host else _Server
        try:
            self._server = server_cls((host, port), handler)
        except OSError as exc:
            raise AnnexaError(f"metrics.listen: cannot listen on {self.listen}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="metrics-http", daemon=True)
        self._thread.start()
        log.info("serving /metrics, /healthz and /readyz", extra={"listen": self.address})
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry, ready = self.registry, self.ready

        class Handler(BaseHTTPRequestHandler):
            server_version = "annexa"
            sys_version = ""

            def _send(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/metrics":
                        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                        self._send(200, encoder(registry), content_type)
                    elif path == "/healthz":
                        self._send(200, b"ok\n")
                    elif path == "/readyz":
                        ok = ready()
                        self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                    elif path == "/":
                        self._send(200, INDEX, "text/html; charset=utf-8")
                    else:
                        self._send(404, b"not found\n")
                except BrokenPipeError:
                    pass
                except Exception:  # a bug while serving: answer 500, keep the server up
                    log.exception("error serving %s", path)
                    self._send(500, b"internal error\n")

            do_HEAD = do_GET

            def log_message(self, format: str, *args: object) -> None:
                log.debug("http %s", format % args)

        return Handler
