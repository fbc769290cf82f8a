"""Rate limiting, retry timing and request counters, shared by every thread of a client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class TokenBucket:
    """Token bucket with a capacity of one request: calls are spaced ``1/rate`` seconds apart.

    A caller that finds no token *reserves* the next one (the balance goes negative) and then
    sleeps outside the lock, so N threads arriving together wait 1/rate, 2/rate, ... seconds
    instead of all waking at once and racing again.
    """

    def __init__(
        self,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate_limit must be positive")
        self.rate = rate
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = 1.0
        self._updated = clock()

    def acquire(self) -> float:
        """Take one token, sleeping if needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(1.0, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass(frozen=True)
class StatsSnapshot:
    requests: int
    retries: int
    throttled: int
    errors: int


class HttpStats:
    """Thread-safe counters.

    ``requests``: attempts sent (retries included); ``retries``: attempts repeated after a
    failure; ``throttled``: rate-limit answers (429, GitHub rate-limit 403); ``errors``:
    :class:`HttpError` raised to callers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"requests": 0, "retries": 0, "throttled": 0, "errors": 0}

    def incr(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(**self._counts)

    @property
    def requests(self) -> int:
        return self.snapshot().requests

    @property
    def retries(self) -> int:
        return self.snapshot().retries

    @property
    def throttled(self) -> int:
        return self.snapshot().throttled

    @property
    def errors(self) -> int:
        return self.snapshot().errors

    def __repr__(self) -> str:
        return f"HttpStats({self.snapshot()})"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value.strip() if isinstance(value, str) else None


def _server_now(headers: Mapping[str, str], now: float) -> float:
    """The server's clock from its ``Date`` header, else ours.

    Reset epochs and Retry-After dates are on the server's clock; measuring from its Date
    header makes the wait immune to our clock skew. Date has one-second resolution and is
    truncated, so the error is towards waiting slightly longer, never shorter.
    """
    date = _header(headers, "Date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return now


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, or None if it gave no usable hint.

    Sources, in order: ``Retry-After`` as delta-seconds or HTTP-date (RFC 9110 10.2.3); then
    ``x-ratelimit-reset`` (GitHub) / ``x-rate-limit-reset`` (Okta) epoch seconds when the
    matching ``remaining`` header is 0.
    """
    now = time.time() if now is None else now
    retry_after = _header(headers, "Retry-After")
    if retry_after:
        try:
            seconds = float(retry_after)
        except ValueError:
            try:
                when = parsedate_to_datetime(retry_after).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                when = None
            if when is not None:
                return max(0.0, when - _server_now(headers, now))
        else:
            if seconds >= 0:
                return seconds
    for prefix in ("x-ratelimit", "x-rate-limit"):
        remaining = _header(headers, f"{prefix}-remaining")
        reset = _header(headers, f"{prefix}-reset")
        if reset and remaining == "0":
            try:
                return max(0.0, float(reset) - _server_now(headers, now))
            except ValueError:
                continue
    return None


def is_rate_limited_403(headers: Mapping[str, str], message: str) -> bool:
    """GitHub answers rate limits with 403: remaining==0, a Retry-After, or a "rate limit" body."""
    if _header(headers, "Retry-After"):
        return True
    if _header(headers, "x-ratelimit-remaining") == "0":
        return True
    return "rate limit" in message.lower()
