"""The interval keys a run has seen, kept compactly: 8 bytes per key instead of a Python object."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable

RUN = 1 << 16  # ids collected before they are sorted into a run


class SeenIds:
    """A set of hex interval keys (SHA-256), remembered by their first 8 bytes in sorted runs.

    Two of a source's keys sharing their first 64 bits is about as likely as guessing a random
    64-bit number (a few in 10^9 at a million keys); a shared prefix only keeps an unseen interval
    open one run longer, it never closes a seen one.
    """

    def __init__(self) -> None:
        self._runs: list[array[int]] = []
        self._pending: array[int] = array("Q")

    def add(self, key: str) -> None:
        self._pending.append(int(key[:16], 16))
        if len(self._pending) >= RUN:
            self._seal()

    def _seal(self) -> None:
        if self._pending:
            self._runs.append(array("Q", sorted(self._pending)))
            self._pending = array("Q")
        if len(self._runs) > 8:  # keep lookups cheap: merge the runs into one
            merged = array("Q", sorted(v for run in self._runs for v in run))
            self._runs = [merged]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        self._seal()
        value = int(key[:16], 16)
        for run in self._runs:
            i = bisect_left(run, value)
            if i < len(run) and run[i] == value:
                return True
        return False

    def unseen(self, keys: Iterable[str]) -> list[str]:
        """The keys of `keys` not in the set, in their order (`key not in self` for each, in one pass)."""
        self._seal()
        runs = self._runs
        out: list[str] = []
        for key in keys:
            value = int(key[:16], 16)
            for run in runs:
                i = bisect_left(run, value)
                if i < len(run) and run[i] == value:
                    break
            else:
                out.append(key)
        return out

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs) + len(self._pending)
