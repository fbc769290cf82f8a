"""GitHub's rate limits, respected before they bite.

Primary limit: every answer carries `x-ratelimit-limit/-remaining/-reset/-resource` (core REST,
graphql, audit_log... each its own budget). `RateBudget` keeps an estimate per resource, counting
requests still in flight, and
  * pauses every caller until the reset when the budget (less a small reserve left for other
    tools sharing the token) is spent — GitHub would otherwise answer 403/429 and count the wait;
  * spreads the last `slowdown_fraction` of the budget evenly over the time left in the window,
    so a run never bursts into the wall and other users of the token are not starved.
Secondary limit: GitHub documents at most 900 REST points (one per GET) per minute; a sliding
window of `per_minute` requests keeps under it. If GitHub still answers with a secondary limit
(403/429, `retry-after`, or no header: at least one minute) the shared HTTP client waits and retries.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass
class Window:
    """What GitHub last said about one resource's budget, plus our in-flight estimate."""

    resource: str
    limit: int
    remaining: int      # GitHub's figure at the last answer
    reset: float        # epoch seconds (GitHub's clock)
    estimate: int       # remaining, less requests sent since and not yet answered
    next_slot: float = 0.0


class RateBudget:
    def __init__(self, *, reserve: int = 10, per_minute: int = 900, slowdown_fraction: float = 0.1,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.reserve = max(0, reserve)
        self.per_minute = max(0, per_minute)
        self.slowdown_fraction = slowdown_fraction
        self._sleep, self._clock, self._mono = sleep, clock, monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, Window] = {}
        self._reported: dict[str, Window] = {}  # the last answer's figures per budget, for the run summary
        self._in_flight: dict[str, int] = {}
        self._skew = 0.0            # GitHub's clock minus ours, from the Date header
        self._recent: deque[float] = deque()
        self.paused_seconds = 0.0
        self.pauses = 0

    # -- before a request ----------------------------------------------------------------
    def before(self, kind: str) -> None:
        """Block until a request of `kind` ("core", "graphql", ...) may be sent, then count it."""
        while True:
            wait, reserved = self._reserve_slot(kind)
            if wait > 0:
                self._sleep(wait)
            if reserved:
                return

    def _reserve_slot(self, kind: str) -> tuple[float, bool]:
        """(seconds to sleep, whether the request is already counted and may go after the sleep)."""
        with self._lock:
            now = self._clock() + self._skew
            window = self._windows.get(kind)
            if window is not None and now >= window.reset:
                del self._windows[kind]          # a new window: its budget is unknown until answered
                window = None
            wait = self._minute_wait()
            if window is not None and wait <= 0:
                spare = window.estimate - self.reserve
                if spare <= 0:
                    wait = window.reset - now + 1.0
                    self.pauses += 1
                    self.paused_seconds += wait
                elif window.limit and spare < window.limit * self.slowdown_fraction:
                    slot = max(now, window.next_slot)  # this request's slot, taken now
                    window.next_slot = slot + (window.reset - now) / spare
                    self._count(kind, window)
                    return max(0.0, slot - now), True
            if wait > 0:
                return wait, False
            self._count(kind, window)
            return 0.0, True

    def _count(self, kind: str, window: Window | None) -> None:
        if window is not None:
            window.estimate -= 1
        self._in_flight[kind] = self._in_flight.get(kind, 0) + 1
        if self.per_minute:
            self._recent.append(self._mono())

    def _minute_wait(self) -> float:
        if not self.per_minute:
            return 0.0
        now = self._mono()
        while self._recent and self._recent[0] <= now - 60.0:
            self._recent.popleft()
        if len(self._recent) < self.per_minute:
            return 0.0
        return self._recent[0] + 60.0 - now

    # -- after an answer -----------------------------------------------------------------
    def observe(self, kind: str, headers: Mapping[str, str] | None) -> None:
        """Record an answer (any status, a 304 included); `headers` None when no response arrived."""
        with self._lock:
            self._in_flight[kind] = max(0, self._in_flight.get(kind, 0) - 1)
            if not headers:
                return
            parsed = _parse(headers)
            if parsed is None:
                return
            limit, remaining, reset, resource = parsed
            date = headers.get("Date") or headers.get("date")
            if date:
                with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
                    self._skew = parsedate_to_datetime(date).timestamp() - self._clock()
            key = kind  # the transport names the budget a path uses (core, graphql, audit_log)
            estimate = remaining - self._in_flight.get(key, 0)
            window = self._windows.get(key)
            if window is None or reset > window.reset:
                window = self._windows[key] = Window(resource or key, limit, remaining, reset, estimate)
            elif reset == window.reset:
                window.remaining = min(window.remaining, remaining)
                window.estimate = min(window.estimate, estimate)
            self._reported[key] = window

    def snapshot(self) -> dict[str, dict[str, int | float]]:
        """The last known budget per resource: limit, remaining, reset (epoch seconds)."""
        with self._lock:
            return {w.resource: {"limit": w.limit, "remaining": w.remaining, "reset": w.reset}
                    for w in self._reported.values()}


def _parse(headers: Mapping[str, str]) -> tuple[int, int, float, str] | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        limit = int(lowered["x-ratelimit-limit"])
        remaining = int(lowered["x-ratelimit-remaining"])
        reset = float(lowered["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return None
    return limit, remaining, reset, lowered.get("x-ratelimit-resource", "")
