"""ARM and Microsoft Graph over the shared HTTP client: api-versions, paging, `$batch`, read pacing.

Two clients, one per audience (ARM and Graph tokens differ), each confined to its own origin so a
next link elsewhere never receives a token. Only GETs leave the process, plus Graph `$batch`
requests whose every inner request is a GET (the client inspects the body before sending).

ARM reports how many reads a subscription (or the tenant) has left in
`x-ms-ratelimit-remaining-subscription-reads` / `-tenant-reads`; when that runs low the collector
spaces its requests to that scope at the bucket's refill rate instead of running into 429s.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from agent.http import HttpClient, HttpError
from collectors.azure.versions import api_version

REMAINING_HEADERS = ("x-ms-ratelimit-remaining-subscription-reads", "x-ms-ratelimit-remaining-tenant-reads")
LOW_READS = 25            # below this many remaining reads a scope is paced
REFILL_PER_SECOND = 25.0  # ARM refills subscription reads at 25 per second
BATCH_MAX = 20            # Graph accepts at most 20 requests per $batch
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?]+)", re.I)
_BATCH_PATH = r"/\$batch$"


def is_read_only_batch(body: Any) -> bool:
    """A Graph `$batch` body whose every request is a GET (no body, no other method)."""
    if not isinstance(body, Mapping):
        return False
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests or len(requests) > BATCH_MAX:
        return False
    return all(isinstance(r, Mapping) and str(r.get("method", "")).upper() == "GET" and "body" not in r
               for r in requests)


class CallLog:
    """Every request the collector made, by API and path (for the bench and the permissions test)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def record(self, api: str, method: str, url: str) -> None:
        path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
        with self._lock:
            self.calls[(api, method, path)] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(count for (_api, method, _path), count in self.calls.items() if method != "BATCHED")


class ReadPacer:
    """Spaces requests to a subscription (or the tenant) once ARM says its reads are running out."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, low: int = LOW_READS,
                 refill: float = REFILL_PER_SECOND):
        self._sleep, self.low, self.refill = sleep, low, refill
        self._remaining: dict[str, int] = {}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self.waited = 0.0

    def before(self, key: str) -> None:
        with self._lock:
            remaining = self._remaining.get(key)
            if remaining is None or remaining >= self.low:
                return
            now = time.monotonic()
            spacing = (1.0 if remaining > 0 else 2.0) / self.refill
            at = max(now, self._next.get(key, now))
            self._next[key] = at + spacing
            self.waited += at - now
        if at > now:
            self._sleep(at - now)

    def after(self, key: str, headers: Mapping[str, str]) -> None:
        for name in REMAINING_HEADERS:
            value = headers.get(name)
            if value is not None:
                try:
                    with self._lock:
                        self._remaining[key] = int(value)
                except ValueError:
                    pass
                return


def _scope_key(path: str) -> str:
    match = _SUBSCRIPTION.search(path)
    return match.group(1).lower() if match else "tenant"


class AzureApi:
    """Read access to ARM (`arm_*`) and Graph v1.0 (`graph_*`) for one source."""

    def __init__(self, arm: HttpClient, graph: HttpClient, *, pacer: ReadPacer | None = None,
                 log: CallLog | None = None):
        self.arm = arm
        self.graph = graph
        self.pacer = pacer or ReadPacer()
        self.log = log or CallLog()

    # -- ARM -------------------------------------------------------------------------------------
    def _arm_params(self, path: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"api-version": api_version(path), **(params or {})}

    def arm_get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        key = _scope_key(path)
        self.pacer.before(key)
        self.log.record("arm", "GET", path)
        response = self.arm.request("GET", path, params=self._arm_params(path, params))
        self.pacer.after(key, response.headers)
        return response.json()

    def arm_list(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Items of every page (`value` + `nextLink`)."""
        key = _scope_key(path)
        self.pacer.before(key)
        self.log.record("arm", "GET", path)
        pages = self.arm.pages(path, params=self._arm_params(path, params), style="next_link")
        for page in pages:
            self.pacer.after(key, page.response.headers)
            yield from page.items
            if page.body.get("nextLink"):
                self.pacer.before(key)
                self.log.record("arm", "GET", path)

    # -- Graph -----------------------------------------------------------------------------------
    def graph_get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        self.log.record("graph", "GET", path)
        return self.graph.get_json(path, params=params)

    def graph_list(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Items of every page (`value` + `@odata.nextLink`)."""
        self.log.record("graph", "GET", path)
        for page in self.graph.pages(path, params=params, style="next_link"):
            yield from page.items
            if page.body.get("@odata.nextLink"):
                self.log.record("graph", "GET", path)

    def graph_batch(self, paths: Sequence[str]) -> list[Any | HttpError]:
        """GET each path (with its query) through `$batch`, 20 at a time; a list answer is followed to its
        last page. Returns, in order, each body or the HttpError of that request. A throttled or failed
        inner request is retried alone through the client (with its Retry-After and backoff)."""
        out: list[Any | HttpError] = []
        for start in range(0, len(paths), BATCH_MAX):
            chunk = list(paths[start:start + BATCH_MAX])
            body = {"requests": [{"id": str(i), "method": "GET", "url": p} for i, p in enumerate(chunk)]}
            self.log.record("graph", "POST", "/$batch")
            for p in chunk:
                self.log.record("graph", "BATCHED", p.split("?", 1)[0])
            answer = self.graph.request("POST", "/$batch", json=body).json()
            by_id = {str(r.get("id")): r for r in answer.get("responses") or [] if isinstance(r, Mapping)}
            for i, path in enumerate(chunk):
                response = by_id.get(str(i))
                status = response.get("status") if response else None
                if isinstance(status, int) and status < 400 and isinstance(response.get("body"), Mapping):
                    out.append(self._rest_of_pages(response["body"]))
                    continue
                try:  # throttled, failed or missing inside the batch: ask again on its own
                    out.append(self._single(path))
                except HttpError as exc:
                    out.append(exc)
        return out

    def _single(self, path_and_query: str) -> Any:
        path, _, query = path_and_query.partition("?")
        self.log.record("graph", "GET", path)
        body = self.graph.get_json(path + (f"?{query}" if query else ""))
        return self._rest_of_pages(body) if isinstance(body, Mapping) else body

    def _rest_of_pages(self, body: Mapping[str, Any]) -> Any:
        if "value" not in body or not body.get("@odata.nextLink"):
            return body
        items = list(body["value"])
        for page in self.graph.pages(str(body["@odata.nextLink"]), style="next_link"):
            self.log.record("graph", "GET", urlsplit(page.response.url).path)
            items.extend(page.items)
        return {**body, "value": items, "@odata.nextLink": None}


def build_api(http: Callable[..., HttpClient], *, arm_endpoint: str, graph_endpoint: str,
              arm_auth: Callable[[], Mapping[str, str]], graph_auth: Callable[[], Mapping[str, str]],
              sleep: Callable[[float], None] = time.sleep) -> AzureApi:
    """The two clients from the source's HTTP factory (its concurrency and rate limit apply to each)."""
    arm_base = arm_endpoint.rstrip("/")
    graph_base = graph_endpoint.rstrip("/") + "/v1.0"
    arm = http(base_url=arm_base, auth=arm_auth, origins=[arm_base], user_agent="annexa-azure")
    graph = http(base_url=graph_base, auth=graph_auth, origins=[graph_endpoint.rstrip("/")],
                 allow_post=[(re.escape(graph_base) + _BATCH_PATH, is_read_only_batch)], user_agent="annexa-azure")
    return AzureApi(arm, graph, pacer=ReadPacer(sleep=sleep))
