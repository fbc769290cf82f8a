"""What a GCP service collector works on: one project, with the run's shared client and helpers.

Service modules never build clients: they ask the scope for JSON (`get`, `items`, `aggregated`),
turn failures into `error` results with `fail`, and build resources with `resource`. Identical
reads within a run are made once (`memo`). An API that answered SERVICE_DISABLED in a project is
not asked again there: every later read of it raises the same error at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agent.http import HttpClient, HttpError
from agent.model import Resource
from collectors.gcp.errors import describe, is_not_enabled
from collectors.gcp.hierarchy import Hierarchy, ProjectInfo


@dataclass
class RunContext:
    """Everything shared by the tasks of one collection run."""

    http: HttpClient
    bases: dict[str, str]
    options: Any
    report: Callable[..., None]
    cursor: Any
    hierarchy: Hierarchy
    logger: Any
    rm: Any = None                      # collectors.gcp.resourcemanager.ResourceManager
    above_done: threading.Event = field(default_factory=threading.Event)  # org/folder policies and sinks read
    memo: dict[str, Any] = field(default_factory=dict)
    inflight: dict[str, threading.Event] = field(default_factory=dict)
    disabled: dict[tuple[str, str], HttpError] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ProjectScope:
    def __init__(self, run: RunContext, project: ProjectInfo):
        self.run = run
        self.project = project
        self.project_id = project.project_id
        self.number = project.number
        self.options = run.options
        self.cursor = run.cursor

    # -- reads -----------------------------------------------------------------------------
    def url(self, api: str, path: str) -> str:
        return f"{self.run.bases[api]}/{path.lstrip('/')}"

    def _check_enabled(self, api: str) -> None:
        error = self.run.disabled.get((self.project_id, api))
        if error is not None:
            raise error

    def _note(self, api: str, exc: HttpError) -> None:
        if is_not_enabled(exc):
            with self.run.lock:
                self.run.disabled[(self.project_id, api)] = exc

    def get(self, api: str, path: str, params: dict[str, Any] | None = None) -> Any:
        self._check_enabled(api)
        try:
            return self.run.http.get_json(self.url(api, path), params=params)
        except HttpError as exc:
            self._note(api, exc)
            raise

    def items(self, api: str, path: str, key: str, params: dict[str, Any] | None = None, *,
              size: tuple[str, int] | None = None) -> list[Any]:
        """Every item under `key` across `nextPageToken` pages (an absent list is an empty page)."""
        self._check_enabled(api)
        try:
            return list(self.run.http.paginate(self.url(api, path), params=params, style="page_token", items=key,
                                               page_size=size))
        except HttpError as exc:
            self._note(api, exc)
            raise

    def aggregated(self, api: str, path: str, key: str, params: dict[str, Any] | None = None,
                   ) -> tuple[dict[str, list[Any]], list[dict[str, Any]]]:
        """An aggregated list: items per scope (`zones/...`), and the warnings other than "no results".

        `items` is a map from scope to a scoped list holding either `key` or a `warning`; a scope
        with no resources carries NO_RESULTS_ON_PAGE, which is not a problem. Unreachable scopes
        (`unreachables`, or another warning code) are returned so the caller can report them.
        """
        self._check_enabled(api)
        query = {**(params or {}), "maxResults": 500, "returnPartialSuccess": "true"}
        out: dict[str, list[Any]] = {}
        problems: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            try:
                body = self.run.http.get_json(self.url(api, path), params=query)
            except HttpError as exc:
                self._note(api, exc)
                raise
            items = body.get("items") or {}
            if not isinstance(items, dict):
                raise ValueError(f"aggregated list {path}: `items` is {type(items).__name__}, not a map")
            for scope_name, scoped in items.items():
                found = (scoped or {}).get(key)
                if found:
                    out.setdefault(scope_name, []).extend(found)
                warning = (scoped or {}).get("warning")
                if warning and warning.get("code") != "NO_RESULTS_ON_PAGE":
                    problems.append({"scope": scope_name, **warning})
            for scope_name in body.get("unreachables") or []:
                problems.append({"scope": scope_name, "code": "UNREACHABLE",
                                 "message": f"{scope_name} could not be reached"})
            token = body.get("nextPageToken")
            if not token or token in seen:
                unique = {p["scope"]: p for p in problems}  # every page repeats the unreachable scopes
                return out, list(unique.values())
            seen.add(token)
            query["pageToken"] = token

    def memo(self, key: str, load: Callable[[], Any]) -> Any:
        """`load()` once per run for `key` (per project); its exception is re-raised to every caller."""
        full = f"{self.project_id}|{key}"
        while True:
            with self.run.lock:
                if full in self.run.memo:
                    value = self.run.memo[full]
                    if isinstance(value, _Failed):
                        raise value.error
                    return value
                event = self.run.inflight.get(full)
                owner = event is None
                if owner:
                    event = self.run.inflight[full] = threading.Event()
            if owner:
                break
            assert event is not None
            event.wait()
        try:
            value = load()
        except Exception as exc:
            with self.run.lock:
                self.run.memo[full] = _Failed(exc)
            raise
        else:
            with self.run.lock:
                self.run.memo[full] = value
            return value
        finally:
            with self.run.lock:
                self.run.inflight.pop(full, None)
            event.set()  # type: ignore[union-attr]

    # -- results ---------------------------------------------------------------------------
    def fail(self, resource_type: str, exc: BaseException | str, *, context: str = "",
             region: str | None = None) -> None:
        """`resource_type` could not be (fully) collected in this project: its rules become `error`."""
        message = exc if isinstance(exc, str) else describe(exc, context)
        self.run.report(resource_type, message, account=self.project_id, region=region)

    def resource(self, type_: str, full_name: str, name: str, data: dict[str, Any], *,
                 region: str | None = None) -> Resource:
        return Resource(type=type_, id=full_name, name=name, data=data, account=self.project_id, region=region)

    def each(self, items: list[Any], work: Callable[[Any], Any], workers: int = 4) -> Iterator[tuple[Any, Any]]:
        """(item, result or exception) for each item, `workers` at a time (per-item reads of one list)."""
        from concurrent.futures import ThreadPoolExecutor

        def guarded(item: Any) -> Any:
            try:
                return work(item)
            except Exception as exc:  # returned, so one item's failure is reported by the caller
                return exc

        if len(items) <= 1:
            yield from ((item, guarded(item)) for item in items)
            return
        with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="gcp-item") as pool:
            yield from zip(items, pool.map(guarded, items), strict=True)


@dataclass(frozen=True)
class _Failed:
    error: Exception
