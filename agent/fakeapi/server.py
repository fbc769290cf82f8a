"""A local HTTP(S) server that plays a provider's REST API: routes, request log, faults, latency, limits.

Every provider fake (GitHub, Okta, Google Workspace, Azure, GCP, HR APIs) is a `FakeApi` with
routes that answer from an in-memory tenant, using the paging helpers (`agent.fakeapi.paging`)
and error bodies (`agent.fakeapi.errors`) shared by all of them. Tests and `annexa demo` use the
same fakes, so the demo exercises the real collectors and the real HTTP client.

It binds 127.0.0.1 on a free port, answers with HTTP/1.1 keep-alive like the real services,
and records every request so tests can assert on paths, query parameters and call counts.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[["Request"], "Reply"]

_PARAM = re.compile(r"\{(\w+)(?::(path))?\}")


@dataclass
class Request:
    """What a route handler receives."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            return default

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def url_for(self, path: str, query: Iterable[tuple[str, Any]] = ()) -> str:
        """An absolute URL on this server (what `next` links point at)."""
        from urllib.parse import urlencode

        qs = urlencode([(k, str(v)) for k, v in query])
        return f"{self.base_url}{path}{'?' + qs if qs else ''}"


@dataclass
class Reply:
    """A response: JSON `body` (or raw bytes/str), status and headers.

    `repeated` headers are sent as they are, after `headers`, so a name may appear on several lines
    (Okta sends one `Link` header per relation). `delay` holds the answer back that many seconds, as
    a slow or hung upstream does; the request counts as in flight meanwhile.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = False  # answer If-None-Match with 304 when the body's ETag matches
    repeated: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Logged:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int
    at: float

    def header(self, name: str) -> str | None:
        """A request header, whatever the case the client spelled it in."""
        lowered = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == lowered), None)


@dataclass
class _Fault:
    method: str | None
    pattern: re.Pattern[str]
    reply: Reply | Callable[[Request], Reply]
    times: int


@dataclass(frozen=True)
class RateState:
    """A rate limiter's window as a provider reports it in its headers."""

    limit: int
    remaining: int
    used: int
    reset_epoch: int  # wall-clock epoch second at which the window resets


class _RateLimit:
    """`limit` requests per `window` seconds; beyond that the provider's throttling reply.

    `headers(state)` adds the provider's rate-limit headers to every answer; a request whose
    final status is in `free_statuses` (GitHub: 304 Not Modified) is not counted.
    """

    def __init__(self, limit: int, window: float, reply: Callable[[float, Request], Reply],
                 headers: Callable[[RateState], dict[str, str]] | None = None,
                 free_statuses: Iterable[int] = ()):
        self.limit, self.window, self.reply = limit, window, reply
        self.headers = headers
        self.free_statuses = frozenset(free_statuses)
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.count = 0
        self.refused = 0

    def _roll(self, now: float) -> None:
        if now - self.started >= self.window:
            self.started, self.started_wall, self.count = now, time.time(), 0

    def check(self, request: Request) -> Reply | None:
        with self.lock:
            now = time.monotonic()
            self._roll(now)
            self.count += 1
            if self.count <= self.limit:
                return None
            self.count -= 1  # a refused request does not use the budget
            self.refused += 1
            return self.reply(max(0.0, self.window - (now - self.started)), request)

    def settle(self, status: int) -> dict[str, str]:
        """After an answer: refund free statuses; the headers to add (if the provider sends any)."""
        with self.lock:
            if status in self.free_statuses and self.count > 0:
                self.count -= 1
            if self.headers is None:
                return {}
            used = min(self.count, self.limit)
            state = RateState(self.limit, self.limit - used, used,
                              int(self.started_wall + self.window + 0.999))
        return self.headers(state)

    def remaining(self) -> tuple[int, float]:
        with self.lock:
            return max(0, self.limit - self.count), self.started + self.window


def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(out) + "$")


class FakeApi:
    """A provider API on loopback. Register routes, `start()`, point the collector at `url`."""

    def __init__(self, name: str = "fake", *, latency: float = 0.0, tls: ssl.SSLContext | None = None,
                 not_found: Handler | None = None):
        self.name = name
        self.latency = latency
        self.tls = tls
        self.log: list[Logged] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[_Fault] = []
        self._limits: list[_RateLimit] = []
        self._slow: list[tuple[re.Pattern[str], dict[str, str], float]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._not_found = not_found or (lambda req: Reply(404, {"message": "Not Found"}))
        self.in_flight = 0
        self.max_in_flight = 0

    # -- routes --------------------------------------------------------------------------
    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """`pattern` is a path with `{name}` segments (`{name:path}` spans slashes)."""
        self._routes.append((method.upper(), _compile(pattern), handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.add(method, pattern, fn)
            return fn
        return deco

    def set_not_found(self, handler: Handler) -> None:
        """How requests that match no route are answered (each provider has its own 404 body)."""
        self._not_found = handler

    # -- faults and limits ---------------------------------------------------------------
    def fail(self, path_regex: str, reply: Reply | Callable[[Request], Reply], *, times: int = 1,
             method: str | None = "GET") -> None:
        """The next `times` requests whose path matches `path_regex` get `reply` instead."""
        with self._lock:
            self._faults.append(_Fault(method, re.compile(path_regex), reply, times))

    def slow(self, path_regex: str, seconds: float, *, query: dict[str, str] | None = None) -> None:
        """Hold back answers to requests whose path matches and whose query holds `query` (e.g. one page)."""
        with self._lock:
            self._slow.append((re.compile(path_regex), dict(query or {}), seconds))

    def rate_limit(self, limit: int, window: float, reply: Callable[[float, Request], Reply], *,
                   headers: Callable[[RateState], dict[str, str]] | None = None,
                   free_statuses: Iterable[int] = ()) -> _RateLimit:
        """Answer with `reply(seconds_until_reset, request)` beyond `limit` requests per `window`.

        `headers(state)` decorates every answer with the provider's rate-limit headers; answers
        with a status in `free_statuses` do not count (GitHub does not charge a 304).
        """
        limiter = _RateLimit(limit, window, reply, headers, free_statuses)
        self._limits.append(limiter)
        return limiter

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._limits.clear()
            self._slow.clear()

    # -- inspection ----------------------------------------------------------------------
    def calls(self, method: str | None = None, path: str | None = None) -> list[Logged]:
        """Logged requests, filtered by method and by a regex searched in the path."""
        pat = re.compile(path) if path else None
        with self._lock:
            return [c for c in self.log if (method is None or c.method == method)
                    and (pat is None or pat.search(c.path))]

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} fake is not started")
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeApi:
        api = self

        class _Handler(_RequestHandler):
            fake = api

        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name=f"fakeapi-{self.name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Reply:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and (fault.method is None or fault.method == request.method) \
                        and fault.pattern.search(request.path):
                    fault.times -= 1
                    reply = fault.reply
                    return reply(request) if callable(reply) else reply
        for limiter in self._limits:
            limited = limiter.check(request)
            if limited is not None:
                return limited
        allowed = False
        for method, pattern, handler in self._routes:
            m = pattern.match(request.path)
            if m is None:
                continue
            allowed = True
            if method != request.method:
                continue
            request.params = m.groupdict()
            return handler(request)
        if allowed:
            return Reply(405, {"message": f"method {request.method} not allowed here"})
        return self._not_found(request)


def _etag_matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 weak comparison: `W/"x"` matches `"x"`; a list or `*` is allowed."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = tag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == bare for candidate in if_none_match.split(","))


class _Server(ThreadingHTTPServer):
    # A real service accepts a burst of new connections; the default backlog of 5 would make clients
    # opening many connections at once wait for a SYN retry (about a second) instead.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up first (a read timeout against a `delay`ed reply) is not the fake's error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    fake: FakeApi
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms per request on Linux), which real servers do not impose.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `fake.log`
        return

    def _handle(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "127.0.0.1"
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                          dict(self.headers.items()), body,
                          f"{'https' if fake.tls else 'http'}://{host}")
        with fake._lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            if fake.latency:
                time.sleep(fake.latency)
            try:
                reply = fake.dispatch(request)
            except Exception as exc:  # a bug in a fake must show up as a 500, not a hung client
                reply = Reply(500, {"message": f"fake {fake.name} failed: {type(exc).__name__}: {exc}"})
            delay = reply.delay + sum(seconds for pattern, query, seconds in list(fake._slow)
                                      if pattern.search(request.path)
                                      and all(request.arg(k) == v for k, v in query.items()))
            if delay:
                time.sleep(delay)
        finally:
            with fake._lock:
                fake.in_flight -= 1
        payload = reply.payload()
        headers = {"Content-Type": "application/json; charset=utf-8", "Date": formatdate(usegmt=True),
                   **reply.headers}
        status = reply.status
        if reply.etag and status == 200:
            tag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
            headers["ETag"] = tag
            if _etag_matches(request.header("If-None-Match"), tag):
                status, payload = 304, b""
        for limiter in list(fake._limits):
            headers.update(limiter.settle(status))
        with fake._lock:
            fake.log.append(Logged(request.method, request.path, request.query, dict(request.headers),
                                   status, time.time()))
        self.send_response(status)
        for key, value in [*headers.items(), *reply.repeated]:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle
