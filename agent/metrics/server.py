"""A small HTTP server for /metrics, /healthz (the process is alive) and /readyz (it can do its job).

Used by `annexa metrics serve` and by the daemon. Connections are handled by one asyncio event loop in
a background thread, so an open connection costs a few kilobytes, never a thread: a thousand idle or
half-open connections do not slow anyone down. Requests are read in the loop with deadlines (headers
must arrive within `header_timeout`; a kept-alive connection may stay idle for `idle_timeout`); only a
complete request reaches the bounded worker pool that builds /metrics and /readyz (concurrent requests
for one page share one build). Past
`max_connections`, the connection idle the longest is closed to admit the new one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import resource
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from agent.errors import AnnexaError

log = logging.getLogger("annexa.metrics")
INDEX = (b"<!doctype html><title>Annexa</title><h1>Annexa exporter</h1>"
         b'<p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a> <a href="/readyz">/readyz</a></p>')
MAX_HEADER_BYTES = 16 * 1024
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 hosts in brackets, `[::]:9464`) as a (host, port) pair."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise AnnexaError(f"--listen: expected HOST:PORT, e.g. 127.0.0.1:9464 (got {value!r})")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class ServerLimits:
    workers: int = 4  # threads that build responses (/metrics, /readyz)
    header_timeout: float = 10.0  # a request's headers must arrive within this
    idle_timeout: float = 30.0  # a kept-alive connection may wait this long for its next request
    write_timeout: float = 10.0  # a response must be taken by the client within this
    max_connections: int = 4096


@dataclass
class _Request:
    method: str
    path: str
    accept: str
    keep_alive: bool


def _raise_fd_limit(wanted: int) -> None:
    """Let the process hold `wanted` descriptors if the hard limit allows (idle connections are cheap)."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _parse(head: bytes) -> _Request | int:
    """The request from its header block, or an HTTP status code to answer with before closing."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        return 400
    if not version.startswith("HTTP/1."):
        return 400
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return 400
        headers[name.strip().lower()] = value.strip()
    if method not in ("GET", "HEAD"):
        return 405
    if headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers:
        return 400  # these endpoints take no request body
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return _Request(method, target.split("?", 1)[0], headers.get("accept", ""), keep)


class MetricsServer:
    """Serve a registry in a background thread; `ready` decides /readyz (200 or 503)."""

    def __init__(self, listen: str, registry: CollectorRegistry, ready: Callable[[], bool] = lambda: True,
                 limits: ServerLimits | None = None):
        self.listen = listen
        self.registry = registry
        self.ready = ready
        self.limits = limits or ServerLimits()
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._server: asyncio.AbstractServer | None = None
        self._idle: collections.OrderedDict[asyncio.StreamWriter, None] = collections.OrderedDict()
        self._open: set[asyncio.StreamWriter] = set()
        self._building: dict[tuple[str, str], asyncio.Future[tuple[int, bytes, str]]] = {}

    @property
    def address(self) -> str:
        """The bound `host:port` (the real port when 0 was asked for)."""
        if self._sock is None:
            raise RuntimeError("server not started")
        host, port = self._sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    @property
    def connections(self) -> int:
        return len(self._open)

    def start(self) -> MetricsServer:
        host, port = parse_listen(self.listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        _raise_fd_limit(self.limits.max_connections + 256)
        try:
            self._sock = socket.create_server((host, port), family=family, backlog=1024)
        except OSError as exc:
            raise AnnexaError(f"metrics.listen: cannot listen on {self.listen}: {exc.strerror or exc}") from None
        self._pool = ThreadPoolExecutor(max_workers=self.limits.workers, thread_name_prefix="metrics-worker")
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), name="metrics-http", daemon=True)
        self._thread.start()
        started.wait()
        log.info("serving /metrics, /healthz and /readyz", extra={"listen": self.address})
        return self

    def _run(self, started: threading.Event) -> None:
        assert self._loop is not None and self._sock is not None
        loop = self._loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(
            self._connection, sock=self._sock, limit=MAX_HEADER_BYTES, backlog=1024))
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._close_all())
            loop.close()

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._sock is not None:
            self._sock.close()
        self._loop = self._thread = self._pool = self._server = self._sock = None

    # -- connections -----------------------------------------------------------------------
    def _admit(self, writer: asyncio.StreamWriter) -> bool:
        """Make room for a new connection by closing the longest-idle ones; False when all are busy."""
        while len(self._open) >= self.limits.max_connections and self._idle:
            oldest, _ = self._idle.popitem(last=False)
            oldest.transport.abort()
            self._open.discard(oldest)
        if len(self._open) >= self.limits.max_connections:
            return False
        self._open.add(writer)
        return True

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._admit(writer):
            writer.transport.abort()
            return
        timeout = self.limits.header_timeout
        try:
            while True:
                self._idle[writer] = None
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
                except asyncio.LimitOverrunError:
                    await self._reply(writer, 431, b"request headers too large\n", keep=False)
                    return
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                finally:
                    self._idle.pop(writer, None)
                request = _parse(head)
                if isinstance(request, int):
                    await self._reply(writer, request, f"{REASONS[request].lower()}\n".encode(), keep=False)
                    return
                code, body, ctype = await self._respond(request)
                if not await self._reply(writer, code, body, ctype, keep=request.keep_alive,
                                         head_only=request.method == "HEAD"):
                    return
                if not request.keep_alive:
                    return
                timeout = self.limits.idle_timeout
        except Exception:  # a bug while serving one connection must not stop the server
            log.exception("error serving a metrics connection")
        finally:
            self._open.discard(writer)
            self._idle.pop(writer, None)
            writer.close()

    async def _respond(self, request: _Request) -> tuple[int, bytes, str]:
        path = request.path
        if path == "/healthz":
            return 200, b"ok\n", "text/plain; charset=utf-8"
        if path == "/":
            return 200, INDEX, "text/html; charset=utf-8"
        if path not in ("/metrics", "/readyz"):
            return 404, b"not found\n", "text/plain; charset=utf-8"
        # Requests for the same page that arrive while it is being built share that build: a burst of
        # scrapes costs one or two computations, not one each.
        key = (path, choose_encoder(request.accept)[1] if path == "/metrics" else "")
        pending = self._building.get(key)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(
                self._pool, self._build, path, request.accept))
            self._building[key] = pending
            pending.add_done_callback(lambda _f, k=key: self._building.pop(k, None))
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug while building the page: answer 500, keep serving
            log.exception("error serving %s", path)
            return 500, b"internal error\n", "text/plain; charset=utf-8"

    def _build(self, path: str, accept: str) -> tuple[int, bytes, str]:
        """Runs in the worker pool: the pages that read the store."""
        if path == "/metrics":
            encoder, content_type = choose_encoder(accept)
            return 200, encoder(self.registry), content_type
        ok = self.ready()
        return (200, b"ready\n", "text/plain; charset=utf-8") if ok else (503, b"not ready\n",
                                                                           "text/plain; charset=utf-8")

    async def _reply(self, writer: asyncio.StreamWriter, code: int, body: bytes,
                     content_type: str = "text/plain; charset=utf-8", *, keep: bool, head_only: bool = False) -> bool:
        head = (f"HTTP/1.1 {code} {REASONS.get(code, 'Error')}\r\nServer: annexa\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n").encode("latin-1")
        writer.write(head if head_only else head + body)
        try:
            await asyncio.wait_for(writer.drain(), self.limits.write_timeout)
        except (TimeoutError, ConnectionError):
            return False
        return True
