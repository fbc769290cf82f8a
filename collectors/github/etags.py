"""Conditional requests across runs: GitHub does not charge a `304 Not Modified` to the rate limit.

For every GET the collector keeps the answer's `ETag`, its JSON body and its next-page link in the
source's cursor (the store's per-source key/value table), spread over a fixed number of buckets so
a run reads and writes a few dozen rows, not one per URL. On the next run the request carries
`If-None-Match`; a 304 means GitHub confirms the representation is byte-for-byte what it sent
before, so the kept body *is* what the API says now and is stored as this run's evidence (the
evidence records the content, not the moment of transfer). A 200 replaces the entry.

Only entries used in a run are written back, so entries of deleted repositories fall away, and the
cursor is saved only when the source's collection completes (never from an interrupted run).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from collectors.base import Cursor

PREFIX = "etag/"


@dataclass(frozen=True)
class Entry:
    etag: str
    body: Any
    next_url: str | None


class EtagCache:
    def __init__(self, cursor: Cursor, buckets: int = 64, prefix: str = PREFIX):
        self._cursor = cursor
        self._prefix = prefix
        self._buckets = buckets
        self._lock = threading.Lock()
        self._loaded: dict[str, dict[str, Any]] = {}
        self._used: dict[str, dict[str, Any]] = {}
        self.hits = 0
        self.stored = 0

    def _bucket(self, url: str) -> str:
        digest = hashlib.sha256(url.encode()).hexdigest()
        return f"{self._prefix}{int(digest[:8], 16) % self._buckets:02x}"

    def _load(self, bucket: str) -> dict[str, Any]:
        if bucket not in self._loaded:
            value = self._cursor.get(bucket)
            self._loaded[bucket] = value if isinstance(value, dict) else {}
            self._used.setdefault(bucket, {})
        return self._loaded[bucket]

    def lookup(self, url: str) -> Entry | None:
        with self._lock:
            raw = self._load(self._bucket(url)).get(url)
        if not isinstance(raw, dict) or not isinstance(raw.get("etag"), str):
            return None
        return Entry(raw["etag"], raw.get("body"), raw.get("next"))

    def keep(self, url: str) -> None:
        """The kept entry was confirmed by a 304: carry it into this run's cache."""
        with self._lock:
            bucket = self._bucket(url)
            raw = self._load(bucket).get(url)
            if raw is not None:
                self._used[bucket][url] = raw
                self.hits += 1

    def store(self, url: str, etag: str, body: Any, next_url: str | None) -> None:
        with self._lock:
            bucket = self._bucket(url)
            self._load(bucket)
            self._used[bucket][url] = {"etag": etag, "body": body, "next": next_url}
            self.stored += 1

    def flush(self) -> None:
        """Hand the entries used in this run to the cursor (saved when the collection completes)."""
        with self._lock:
            for bucket, entries in self._used.items():
                self._cursor.set(bucket, entries)
