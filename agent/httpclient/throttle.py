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


# Google APIs answer per-user and per-project rate limits with 403 and one of these `errors[].reason`s.
GOOGLE_RATE_LIMIT_REASONS = ('"rateLimitExceeded"', '"userRateLimitExceeded"')


def is_google_rate_limited_403(body: str) -> bool:
    """A Google 403 whose legacy `errors[].reason` says "rate limit" (retry), not "forbidden" (give up)."""
    return any(reason in body for reason in GOOGLE_RATE_LIMIT_REASONS)


@dataclass
class _Budget:
    remaining: int
    reset: float      # epoch seconds on our clock
    next_at: float = 0.0


class HeaderPacer:
    """Slows requests down *before* a rate limit is hit, from the server's own rate-limit headers.

    Okta (``X-Rate-Limit-Limit/Remaining/Reset``) and GitHub (``x-ratelimit-*``) say on every
    response how many calls are left until the reset epoch. Once fewer than ``low_fraction`` of
    the limit remain, the remaining calls are spread evenly until the reset (and, with none left,
    the next call waits for the reset) instead of running into a 429. Limits are per endpoint
    family, so budgets are kept per ``key`` (the client uses the path with ids masked).
    """

    def __init__(self, low_fraction: float, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, max_wait: float = 120.0) -> None:
        if not 0 < low_fraction < 1:
            raise ValueError("low_fraction must be between 0 and 1")
        self.low_fraction = low_fraction
        self.max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: dict[str, _Budget] = {}
        self.waited = 0.0

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        """Record the budget a response announced."""
        headers = {str(k).lower(): v for k, v in headers.items()}
        for prefix in ("x-rate-limit", "x-ratelimit"):
            limit, remaining, reset = (_header(headers, f"{prefix}-{n}") for n in ("limit", "remaining", "reset"))
            if remaining is None or reset is None:
                continue
            try:
                left, at, cap = int(remaining), float(reset), int(limit) if limit else 0
            except ValueError:
                return
            now = self._clock()
            at = now + max(0.0, at - _server_now({"Date": headers.get("date", "")}, now))  # the reset on our clock
            with self._lock:
                previous = self._budgets.get(key)
                floor = max(1, int(cap * self.low_fraction)) if cap else 1
                if left > floor:
                    self._budgets.pop(key, None)
                else:
                    self._budgets[key] = _Budget(left, at, previous.next_at if previous else 0.0)
            return

    def before(self, key: str) -> float:
        """Wait, if this key's budget is low, and return the seconds waited."""
        with self._lock:
            budget = self._budgets.get(key)
            if budget is None:
                return 0.0
            now = self._clock()
            if now >= budget.reset:
                self._budgets.pop(key, None)
                return 0.0
            if budget.remaining <= 0:
                at = budget.reset
            else:
                at = max(now, budget.next_at)
                budget.next_at = at + (budget.reset - now) / (budget.remaining + 1)
                budget.remaining -= 1
            wait = min(self.max_wait, max(0.0, at - now))
        if wait > 0:
            self._sleep(wait)
            with self._lock:
                self.waited += wait
        return wait
