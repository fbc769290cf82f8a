"""The one HTTP client every REST collector uses: read-only, retrying, throttled, redacting."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from agent.httpclient.errors import (
    ForeignOrigin,
    HttpError,
    ReadOnlyViolation,
    parse_provider_error,
    parse_provider_reason,
    snippet,
)
from agent.httpclient.paging import PageSpec, Style
from agent.httpclient.redact import install_log_redaction, redact_text, redact_url
from agent.httpclient.throttle import (
    RETRYABLE_STATUSES,
    HeaderPacer,
    HttpStats,
    TokenBucket,
    is_google_rate_limited_403,
    is_rate_limited_403,
    retry_after_seconds,
)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# GitHub: a secondary rate limit without headers means "wait at least one minute".
_RATE_LIMIT_403_FLOOR = 60.0
_TRANSIENT_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | None
OnRequest = Callable[[str, str, int | None, float], None]
# A documented read-only POST: a URL regex, optionally with a check of the JSON body it may carry
# (Microsoft Graph `$batch` is a read only when every request inside it is a GET).
BodyCheck = Callable[[Any], bool]
AllowedPost = str | tuple[str, BodyCheck]


@dataclass(frozen=True)
class Page:
    """One fetched page: the response, its decoded JSON body and the items found in it."""

    response: requests.Response
    body: Any
    items: list[Any]


class HttpClient:
    """Thread-safe, read-only JSON-over-HTTP client shared by the REST collectors.

    One instance may serve many threads: a ``requests.Session`` pools connections, a
    bounded semaphore caps requests in flight and an optional token bucket spaces them.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Callable[[], Mapping[str, str]] | None = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        max_concurrency: int = 8,
        rate_limit: float | None = None,
        allow_post: Sequence[AllowedPost] = (),
        session: requests.Session | None = None,
        user_agent: str = "annexa",
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
        on_request: OnRequest | None = None,
        pace_below: float | None = None,
        rate_limit_403_floor: float = _RATE_LIMIT_403_FLOOR,
        throttle_floor: float = 0.0,
        origins: Sequence[str] = (),
    ) -> None:
        """Create a client.

        ``auth`` is called before every attempt (so a token provider can refresh) and returns
        extra headers. ``allow_post`` holds regexes *searched* in the absolute URL without its
        query (anchor them, e.g. ``r"^https://api\\.github\\.com/graphql$"``); only matching
        POSTs are sent; an entry may be ``(regex, check)``, and then the POST is sent only when
        ``check(json_body)`` is true (e.g. every request of a Graph ``$batch`` is a GET).
        ``on_request`` receives ``(method, redacted_url, status, seconds)`` after every
        attempt, ``status`` None when no response arrived. ``origins`` (``scheme://host[:port]``),
        when given, are the only places requests may go: a next-page link or any URL elsewhere
        is refused before the credentials in ``auth`` can travel with it. ``pace_below`` (a
        fraction such as 0.1) slows requests down once the server's rate-limit headers say fewer
        than that share of the limit remains (see :class:`HeaderPacer`). ``rate_limit_403_floor``
        is the least wait after a rate-limit 403 that carries no wait hint (GitHub asks for a
        minute; Google's ``rateLimitExceeded`` wants exponential backoff from about a second).
        ``throttle_floor`` is the least wait after a 429 that carries no Retry-After or reset
        hint (GitHub asks for at least a minute; other providers are fine with plain backoff).
        """
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.throttle_floor = throttle_floor
        self.stats = HttpStats()
        self._headers = {"User-Agent": user_agent, **(headers or {})}
        self._auth = auth
        self._allow_post = tuple(
            (re.compile(entry), None) if isinstance(entry, str) else (re.compile(entry[0]), entry[1])
            for entry in allow_post
        )
        self._origins = frozenset(_origin(o) for o in origins)
        self._owns_session = session is None
        self._session = session if session is not None else _new_session(max_concurrency)
        self._semaphore = threading.BoundedSemaphore(max_concurrency)
        self._bucket = TokenBucket(rate_limit, sleep=sleep) if rate_limit else None
        self._sleep = sleep
        self._log = logger or logging.getLogger("agent.http")
        self._on_request = on_request
        self._random = random.Random()
        self._pacer = HeaderPacer(pace_below, sleep=sleep, max_wait=max_retry_after) if pace_below else None
        self._floor_403 = rate_limit_403_floor
        install_log_redaction()

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Sleep with the client's (injectable) sleep, for callers that pace their own requests."""
        self._sleep(seconds)

    def resolve(self, url: str) -> str:
        """Absolute URL for ``url``: absolute URLs as given, others appended to ``base_url``.

        Unlike ``urljoin``, a leading "/" does not drop the base path, so
        ``base_url="https://graph.microsoft.com/v1.0"`` + ``"/users"`` keeps ``/v1.0``.
        """
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://", url):
            return url
        if not self.base_url:
            raise ValueError(f"relative URL {url!r} needs a base_url")
        return f"{self.base_url}/{url.lstrip('/')}" if url else self.base_url

    def check_read_only(self, method: str, url: str, json: Any = None) -> None:
        """Raise :class:`ReadOnlyViolation` unless ``method`` on ``url`` (with body ``json``) is a read."""
        method = method.upper()
        if method in READ_METHODS:
            return
        if method == "POST":
            bare = url.split("?", 1)[0].split("#", 1)[0]
            for pattern, check in self._allow_post:
                if pattern.search(bare) and (check is None or _passes(check, json)):
                    return
        raise ReadOnlyViolation(method, redact_url(url))

    def check_origin(self, url: str) -> None:
        """Raise :class:`ForeignOrigin` if ``origins`` were given and ``url`` is not on one of them."""
        if self._origins and _origin(url) not in self._origins:
            raise ForeignOrigin(redact_url(url), sorted(self._origins))

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send a read request, retrying transient failures; raise :class:`HttpError` on failure.

        Returns the response for any status below 400.
        """
        method = method.upper()
        full_url = self.resolve(url)
        self.check_read_only(method, full_url, json)
        self.check_origin(full_url)
        shown = redact_url(requests.Request(method, full_url, params=params).prepare().url or full_url)
        attempts = 0
        while True:
            attempts += 1
            response, failure = self._send(method, full_url, shown, params, json, data, headers)
            if response is not None and response.status_code < 400:
                return response
            provider_reason = None
            if response is not None:
                message, code = parse_provider_error(response.text)
                provider_reason = parse_provider_reason(response.text)
                retryable, server_wait, floor = self._classify(response, message)
            else:
                message, code = failure or "no response", None
                retryable, server_wait, floor = True, None, 0.0
            status = None if response is None else response.status_code
            reason = "" if response is None else response.reason or ""
            if retryable and server_wait is not None and server_wait > self.max_retry_after:
                message = (
                    f"{message} (server asked to wait {server_wait:.0f}s, "
                    f"more than max_retry_after={self.max_retry_after:.0f}s)"
                )
                retryable = False
            if not retryable or attempts > self.max_retries:
                self.stats.incr("errors")
                error = HttpError(method, shown, status, message, code, reason, attempts, server_wait,
                                  provider_reason)
                # A plain 4xx is often expected (404: "no branch protection"); the caller decides.
                routine = attempts == 1 and status is not None and status < 500
                self._log.log(logging.DEBUG if routine else logging.WARNING, "%s", error)
                raise error
            wait = server_wait if server_wait is not None else self._backoff(attempts - 1, floor)
            self._log.warning(
                "%s %s -> %s; retry %d/%d in %.2fs",
                method,
                shown,
                status if status is not None else snippet(message, 120),
                attempts,
                self.max_retries,
                wait,
            )
            self.stats.incr("retries")
            self._sleep(wait)

    def send_external(self, method: str, url: str, send: Callable[[], requests.Response]) -> requests.Response:
        """Send one request through another library's own transport under this client's rules.

        For client libraries that must use their own HTTP session (e.g. a Google Cloud client
        library's REST transport): the read-only check runs first (nothing is sent on a refusal),
        then the rate limit and the concurrency cap are applied and the attempt is counted and
        reported to ``on_request``. ``send`` performs the request; retrying stays with the library.
        """
        method = method.upper()
        self.check_read_only(method, url)
        shown = redact_url(url)
        if self._bucket is not None:
            self._bucket.acquire()
        self.stats.incr("requests")
        started = time.monotonic()
        response: requests.Response | None = None
        try:
            with self._semaphore:
                response = send()
        finally:
            seconds = time.monotonic() - started
            status = None if response is None else response.status_code
            if status == 429:
                self.stats.incr("throttled")
            self._log.debug("%s %s -> %s in %.3fs (external transport)", method, shown, status, seconds)
            if self._on_request is not None:
                self._on_request(method, shown, status, seconds)
        return response

    def get_json(self, url: str, *, params: Params = None, headers: Mapping[str, str] | None = None) -> Any:
        """GET ``url`` and decode its JSON body (None for 204 No Content)."""
        return self._decode(self.request("GET", url, params=params, headers=headers))

    # -- pagination --------------------------------------------------------------------

    def pages(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        style: Style,
        items: str | None = None,
        page_size: tuple[str, int] | None = None,
        cursor_path: str | None = None,
        cursor_param: str | None = None,
        max_pages: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[Page]:
        """Iterate over pages lazily; see :meth:`paginate` for the arguments.

        Arguments are checked now; the first request is sent on the first ``next()``.
        """
        spec = PageSpec.build(style, items, cursor_path, cursor_param)
        first_params = dict(params or {})
        if page_size is not None:
            first_params[page_size[0]] = page_size[1]
        return self._walk(spec, self.resolve(url), first_params, max_pages, headers)

    def paginate(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        style: Style,
        items: str | None = None,
        page_size: tuple[str, int] | None = None,
        cursor_path: str | None = None,
        cursor_param: str | None = None,
        max_pages: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """Yield the items of every page, fetching pages only as they are needed.

        Styles: ``"link"`` follows ``Link: <…>; rel="next"`` (GitHub, Okta; items are the
        array body, or ``items`` of an object body); ``"next_link"`` follows ``nextLink`` /
        ``@odata.nextLink`` (Azure ARM, Graph; items under ``value``); ``"page_token"`` sends
        ``nextPageToken`` back as ``pageToken`` (Google; ``items`` required, an absent list is
        an empty page); ``"cursor"`` sends the value at ``cursor_path`` back as
        ``cursor_param`` (or, with no ``cursor_param``, follows it as the next URL).
        ``items`` may be a dotted path. ``page_size`` is added to the first request only
        (link styles carry it on). Stops on the last page, at ``max_pages``, or when a next
        link or token repeats.
        """
        pages = self.pages(
            url,
            params=params,
            style=style,
            items=items,
            page_size=page_size,
            cursor_path=cursor_path,
            cursor_param=cursor_param,
            max_pages=max_pages,
            headers=headers,
        )
        return (item for page in pages for item in page.items)

    def _walk(
        self,
        spec: PageSpec,
        url: str,
        params: dict[str, Any],
        max_pages: int | None,
        headers: Mapping[str, str] | None,
    ) -> Iterator[Page]:
        next_url: str = url
        next_params: dict[str, Any] | None = params
        seen: set[str] = set()
        fetched = 0
        while max_pages is None or fetched < max_pages:
            response = self.request("GET", next_url, params=next_params, headers=headers)
            body = self._decode(response)
            fetched += 1
            seen.add(response.url)
            try:
                page_items = spec.extract_items(body)
            except ValueError as exc:
                raise self._shape_error(response, str(exc)) from None
            yield Page(response=response, body=body, items=page_items)
            following = spec.next_request(response, body, url, params)
            if following is None:
                return
            next_url, next_params, marker = following
            if marker in seen:
                self._log.warning(
                    "pagination of %s stopped: next page %s repeats an earlier one",
                    redact_url(url),
                    redact_url(marker) if next_params is None else "token",
                )
                return
            seen.add(marker)
        self._log.debug("pagination of %s stopped at max_pages=%s", redact_url(url), max_pages)

    # -- internals ---------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        shown: str,
        params: Params,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
    ) -> tuple[requests.Response | None, str | None]:
        """One attempt. Returns (response, None) or (None, redacted failure description)."""
        if self._bucket is not None:
            self._bucket.acquire()
        pace_key = _pace_key(url) if self._pacer is not None else ""
        if self._pacer is not None:
            self._pacer.before(pace_key)
        # Outside the semaphore: a token provider may itself use this client.
        merged = {**self._headers, **(self._auth() if self._auth else {}), **(headers or {})}
        self.stats.incr("requests")
        response: requests.Response | None = None
        failure: str | None = None
        started = time.monotonic()
        with self._semaphore:
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=merged,
                    timeout=self.timeout,
                    # A redirected POST would land on a URL allow_post never checked.
                    allow_redirects=method != "POST",
                )
            except _TRANSIENT_EXCEPTIONS as exc:
                failure = f"{type(exc).__name__}: {snippet(redact_text(str(exc)), 300)}"
        seconds = time.monotonic() - started
        status = None if response is None else response.status_code
        self._log.debug("%s %s -> %s in %.3fs", method, shown, status or failure, seconds)
        if response is not None and status == 429:
            self.stats.incr("throttled")
        if response is not None and self._pacer is not None:
            self._pacer.observe(pace_key, response.headers)
        if self._on_request is not None:
            self._on_request(method, shown, status, seconds)
        return response, failure

    def _classify(self, response: requests.Response, message: str) -> tuple[bool, float | None, float]:
        """(retryable, server-requested wait, minimum backoff) for an error response."""
        status = response.status_code
        if status in RETRYABLE_STATUSES:
            wait = retry_after_seconds(response.headers)
            floor = self.throttle_floor if status == 429 and wait is None else 0.0
            return True, wait, floor
        if status == 403 and (is_rate_limited_403(response.headers, message)
                              or is_google_rate_limited_403(response.text)):
            self.stats.incr("throttled")
            wait = retry_after_seconds(response.headers)
            return True, wait, self._floor_403 if wait is None else 0.0
        return False, None, 0.0

    def _backoff(self, retry_index: int, floor: float) -> float:
        """Exponential backoff with full jitter, never below ``floor``."""
        ceiling = min(self.backoff_max, self.backoff_base * 2**retry_index)
        return max(floor, self._random.uniform(0, ceiling))

    def _decode(self, response: requests.Response) -> Any:
        if response.status_code == 204 or (response.request.method == "HEAD"):
            return None
        try:
            return response.json()
        except ValueError:
            shown = snippet(response.text) if response.text else "(empty body)"
            raise self._shape_error(response, f"invalid JSON: {shown}") from None

    def _shape_error(self, response: requests.Response, message: str) -> HttpError:
        self.stats.incr("errors")
        method = response.request.method or "GET"
        error = HttpError(method, response.url, response.status_code, message, None, response.reason or "")
        self._log.warning("%s", error)
        return error


_ID_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-.]{12,}$|@")


def _pace_key(url: str) -> str:
    """The rate-limit family of a URL: its path with id-like segments masked (``/api/v1/users/*/factors``)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    return "/".join("*" if _ID_SEGMENT.search(part) else part for part in path.split("/"))


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("https", 443), ("http", 80)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _passes(check: BodyCheck, body: Any) -> bool:
    try:
        return bool(check(body))
    except Exception:  # a malformed body is simply not a read
        return False


def _new_session(max_concurrency: int) -> requests.Session:
    session = requests.Session()
    # One pooled connection per concurrent request, else urllib3 discards connections.
    adapter = HTTPAdapter(pool_connections=10, pool_maxsize=max(10, max_concurrency))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
