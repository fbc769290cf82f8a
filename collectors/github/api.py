"""The GitHub transport on top of the shared HTTP client: headers, paging, ETags, rate limits, memo.

* Headers: `Authorization: Bearer` (from the runner's client), `Accept: application/vnd.github+json`,
  `X-GitHub-Api-Version`.
* Paging: `per_page=100` on the first request, then the `Link: rel="next"` URL as given — page
  numbers on most listings, `after` cursors on the audit log and the alert listings.
* Conditional requests (`etags.EtagCache`), rate-limit pacing (`ratelimit.RateBudget`).
* No request twice in a run: every GET answer (or failure) is memoised by URL, and concurrent
  callers of the same URL wait for the one request in flight.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from agent.http import HttpClient, HttpError
from agent.httpclient.paging import next_link_target
from collectors.github.etags import EtagCache
from collectors.github.ratelimit import RateBudget

ACCEPT = "application/vnd.github+json"
PER_PAGE = 100


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    next_url: str | None
    cached: bool = False


class _Slot:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Answer | None = None
        self.error: BaseException | None = None


class GitHubApi:
    def __init__(self, http: HttpClient, base_url: str, *, budget: RateBudget, cache: EtagCache | None = None,
                 logger: logging.Logger | None = None):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.cache = cache
        self.log = logger or logging.getLogger("annexa.collector.github")
        self._memo: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self.sent = 0
        self.not_modified = 0

    # -- urls ------------------------------------------------------------------------------
    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The absolute URL exactly as it will be sent (the memo and the ETag cache key)."""
        target = path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"
        return requests.Request("GET", target, params=dict(params or {})).prepare().url or target

    @staticmethod
    def kind(url: str) -> str:
        """The rate-limit budget a URL draws on."""
        if url.rstrip("/").endswith("/graphql"):
            return "graphql"
        return "audit_log" if "/audit-log" in url else "core"

    # -- GET ---------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Answer:
        """One GET, memoised for the run; raises `HttpError` (also memoised) on failure."""
        url = self.url(path, params)
        with self._lock:
            slot = self._memo.get(url)
            owner = slot is None
            if owner:
                slot = self._memo[url] = _Slot()
        assert slot is not None
        if owner:
            try:
                slot.answer = self._fetch(url)
            except BaseException as exc:
                slot.error = exc
            finally:
                slot.done.set()
        else:
            slot.done.wait()
        if slot.error is not None:
            raise slot.error
        assert slot.answer is not None
        return slot.answer

    def _fetch(self, url: str) -> Answer:
        entry = self.cache.lookup(url) if self.cache is not None else None
        headers = {"If-None-Match": entry.etag} if entry is not None else None
        kind = self.kind(url)
        self.budget.before(kind)
        with self._lock:
            self.sent += 1
        try:
            response = self.http.request("GET", url, headers=headers)
        except HttpError:
            self.budget.observe(kind, None)
            raise
        self.budget.observe(kind, response.headers)
        if response.status_code == 304 and entry is not None and self.cache is not None:
            self.cache.keep(url)
            with self._lock:
                self.not_modified += 1
            return Answer(304, entry.body, entry.next_url, cached=True)
        if response.status_code == 304:
            raise HttpError("GET", url, 304, "304 Not Modified without a kept answer", None, "", 1, None)
        body = None if response.status_code == 204 or not response.content else _json(response, url)
        next_url = next_link_target(response)
        etag = response.headers.get("ETag")
        if etag and self.cache is not None and response.status_code == 200:
            self.cache.store(url, etag, body, next_url)
        return Answer(response.status_code, body, next_url)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[Any]]:
        """Every page of a listing (a JSON array per page), following `Link: rel="next"`."""
        answer = self.get(path, {**(params or {}), "per_page": PER_PAGE})
        seen = {self.url(path, params)}
        while True:
            if not isinstance(answer.body, list):
                raise HttpError("GET", self.url(path, params), answer.status,
                                f"expected a JSON array, got {type(answer.body).__name__}", None, "", 1, None)
            yield answer.body
            if not answer.next_url or answer.next_url in seen:
                return
            seen.add(answer.next_url)
            answer = self.get(answer.next_url)

    def all(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        return [item for page in self.pages(path, params) for item in page]

    # -- GraphQL -----------------------------------------------------------------------------
    def post_graphql(self, url: str, payload: Mapping[str, Any]) -> Any:
        """POST a (checked) GraphQL document; the HTTP client allows POST to this URL only."""
        self.budget.before("graphql")
        with self._lock:
            self.sent += 1
        try:
            response = self.http.request("POST", url, json=dict(payload))
        except HttpError:
            self.budget.observe("graphql", None)
            raise
        self.budget.observe("graphql", response.headers)
        return _json(response, url)


def _json(response: requests.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise HttpError("GET", url, response.status_code, f"invalid JSON: {response.text[:120]!r}",
                        None, "", 1, None) from None
