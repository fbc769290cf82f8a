"""What a service collector works on: one subscription (ARM) or the tenant (Graph), with helpers.

Service modules never build clients: they read through `scope.api`, turn failures into `error`
results with `scope.fail`, and share per-run lookups (the directory's users, role names) through
`scope.cache`, so a lookup several services need is made once per run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agent.model import Resource
from collectors.azure.api import AzureApi
from collectors.azure.errors import describe

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class RunCache:
    """Per-run memo: `get(key, fn)` runs `fn` once; other threads asking meanwhile wait for its result.
    A failure is remembered too (and raised to every asker), so a denied lookup is not retried."""

    values: dict[str, tuple[bool, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    inflight: dict[str, threading.Event] = field(default_factory=dict)

    def get(self, key: str, fn: Callable[[], T]) -> T:
        while True:
            with self.lock:
                if key in self.values:
                    ok, value = self.values[key]
                    if ok:
                        return value  # type: ignore[no-any-return]
                    raise value
                event = self.inflight.get(key)
                owner = event is None
                if owner:
                    event = self.inflight[key] = threading.Event()
            if owner:
                break
            assert event is not None
            event.wait()
        try:
            result = fn()
        except Exception as exc:
            with self.lock:
                self.values[key] = (False, exc)
            raise
        else:
            with self.lock:
                self.values[key] = (True, result)
            return result
        finally:
            with self.lock:
                self.inflight.pop(key, None)
            event.set()  # type: ignore[union-attr]


@dataclass
class Scope:
    api: AzureApi
    cache: RunCache
    report: Callable[..., None]
    tenant_id: str
    graph_root: str                     # canonical Graph root for object ids (https://graph.microsoft.com)
    options: Any = None
    cursor: Any = None
    subscription_id: str | None = None  # None for the tenant (Graph) scope
    subscription: dict[str, Any] | None = None
    item_workers: int = 4
    # every resource type a service reported as failed in this scope (so summaries can say "unknown")
    failed: set[str] = field(default_factory=set)

    @property
    def account(self) -> str:
        return self.subscription_id or self.tenant_id

    def fail(self, resource_type: str, exc: BaseException | str) -> None:
        """`resource_type` could not be (fully) collected in this scope: its rules become `error`."""
        self.failed.add(resource_type)
        self.report(resource_type, exc if isinstance(exc, str) else describe(exc), account=self.account)

    def resource(self, type_: str, id_: str, name: str, data: dict[str, Any], *,
                 region: str | None = None) -> Resource:
        return Resource(type=type_, id=id_, name=name, data=data, account=self.account,
                        region=region if region is not None else data.get("location"))

    def graph_id(self, path: str) -> str:
        """The canonical id of a Graph object: `https://graph.microsoft.com/v1.0/<path>`."""
        return f"{self.graph_root}/v1.0/{path.lstrip('/')}"

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """`fn` over `items` on a few threads (per-item lookups), results in order."""
        listed = list(items)
        if len(listed) <= 1 or self.item_workers <= 1:
            yield from (fn(item) for item in listed)
            return
        with ThreadPoolExecutor(max_workers=min(self.item_workers, len(listed)),
                                thread_name_prefix="azure-item") as pool:
            yield from pool.map(fn, listed)


def same_id(a: str | None, b: str | None) -> bool:
    """ARM ids compare without regard to case (Azure mixes `resourceGroups` and `resourcegroups`)."""
    return a is not None and b is not None and a.lower() == b.lower()


def parent_id(resource_id: str, levels: int = 2) -> str:
    return resource_id.rsplit("/", levels)[0]
