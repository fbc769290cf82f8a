"""`--shard K/N` inside a source: a deterministic partition of a source's work units.

A unit is what one shard collects and answers for. For AWS it is an account in one region, plus
one "global" unit per account (IAM, S3's bucket list, the account itself). Which shard owns a unit
is a pure function of (source, account, region, N) — a hash, not an enumeration — so:

- every process computes the same answer with no coordination and no shared listing;
- every unit, including one no longer listed (a closed account, a dropped region), belongs to
  exactly one shard for any N, so when N changes each open interval in the store has exactly one
  new owner, which closes it if it no longer sees it: nothing is left open and owned by no shard.

The price of hashing is balance: with a handful of units a shard may own none (it then seals an
empty run); with an organisation's hundreds of units the shares are even to within a few percent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (resource type, account, region, resource id) -> owned
Owner = Callable[[str, "str | None", "str | None", "str | None"], bool]


MAX_SHARDS = 1024
# Canonical spelling only: ASCII digits, no sign, no leading zero, no spaces. The text is stored as the
# run's shard and groups coverage, so "1/4" and "01/04" must not both be accepted as the same shard.
_SPELLING = re.compile(r"(0|[1-9][0-9]{0,8})/([1-9][0-9]{0,8})")
_EXPECTED = f"expected K/N with 0 <= K < N <= {MAX_SHARDS} in plain ASCII digits, e.g. 0/4"


def parse_shard_text(value: str) -> Shard:
    """`K/N` exactly as `annexa run --shard` accepts it; ValueError with one line saying what is wrong."""
    if not value:
        raise ValueError(f"is empty: {_EXPECTED}")
    m = _SPELLING.fullmatch(value) if value.isascii() else None
    shown = value if len(value) <= 40 else value[:37] + "..."
    if m is None:
        raise ValueError(f"{shown!r} is not K/N: {_EXPECTED}")
    k, n = int(m.group(1)), int(m.group(2))
    if n > MAX_SHARDS:
        raise ValueError(f"{shown!r}: at most {MAX_SHARDS} shards")
    if k >= n:
        raise ValueError(f"{shown!r}: K counts from 0, so it must be less than N ({_EXPECTED})")
    return Shard(k, n)


def unit_shard(source: str, account: str | None, region: str | None, count: int) -> int:
    """The shard (0..count-1) that owns the unit (account, region) of `source`. Stable everywhere."""
    key = f"{source}\x00{account or ''}\x00{region or ''}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, value: str) -> Shard:
        k, _, n = value.partition("/")
        return cls(int(k), int(n))

    def owns_unit(self, source: str, account: str | None, region: str | None) -> bool:
        return unit_shard(source, account, region, self.count) == self.index

    def lock_name(self, source: str) -> str:
        """The cross-process lock of this shard's part of `source` (agent.locks)."""
        return f"{source}#shard{self.index}of{self.count}"  # no "/": SQLite locks are files


def combine_coverage(rows: list[tuple[str, str, str | None, int, Any]]) -> dict[str, tuple[int, Any]]:
    """{source: (run id, finished)} from (source, type, runs.shard, run id, finished) rows: the newest
    covering run of each source per shard value.

    A run without a shard covers the whole source, and so does any run of a source that is dealt
    out whole. A partitioned source whose newest cover is a shard "K/N" was split between N shards,
    each of which saw only its part: it counts as covered only up to the least recent of those
    shards (an unsharded run newer than a shard's covers that shard's part too), so a shard that
    keeps failing never lets its part look freshly seen.
    """
    from collectors.registry import get_collector

    by_source: dict[str, list[tuple[str | None, int, Any]]] = {}
    split: set[str] = set()
    for source, stype, shard, run_id, finished in rows:
        by_source.setdefault(source, []).append((shard, run_id, finished))
        try:
            if get_collector(stype).partitioned:
                split.add(source)
        except KeyError:  # a collector no longer installed: its source is read as whole
            pass
    out: dict[str, tuple[int, Any]] = {}
    for source, covers in by_source.items():
        shard, run_id, finished = max(covers, key=lambda c: c[1])
        if shard is None or source not in split:
            out[source] = (run_id, finished)
            continue
        count = shard.rpartition("/")[2]
        whole = max((c for c in covers if c[0] is None), key=lambda c: c[1], default=None)
        parts = [c for c in covers if c[0] is not None and c[0].rpartition("/")[2] == count]
        if whole is not None:
            parts = [max(c, whole, key=lambda x: x[1]) for c in parts]
        _, run_id, finished = min(parts, key=lambda c: c[1])
        out[source] = (run_id, finished)
    return out
