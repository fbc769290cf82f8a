"""The collector plugin API: what a collector declares, what it receives, what it yields."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from agent import clock
from agent.model import CollectionError, Resource

if TYPE_CHECKING:
    from agent.config import SourceConfig
    from agent.health import ExpectedGap
    from agent.http import HttpClient
    from agent.sharding import Shard


class CollectorOptions(BaseModel):
    """Base for a collector's type-specific config keys; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Cursor:
    """A durable per-source key/value position (e.g. the last log event read), kept in the store.

    `get` returns what the last *completed* collection saved; `set` takes effect only when the
    source's collection completes, so an interrupted run never moves a cursor past unstored data.
    """

    def __init__(self, loader: Callable[[str], Any], saved: dict[str, Any] | None = None):
        self._load = loader
        self.pending: dict[str, Any] = {} if saved is None else saved

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.pending:
            return self.pending[key]
        value = self._load(key)
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        self.pending[key] = value


class Progress:
    """Progress reporting: collectors say what they are doing; the runner decides how to show it."""

    def __init__(self, callback: Callable[[str, str], None] | None = None, source: str = ""):
        self._callback = callback
        self._source = source

    def update(self, message: str) -> None:
        if self._callback:
            self._callback(self._source, message)


@dataclass
class CollectorContext:
    """Everything a collector gets from the runner. Collectors build no clients of their own at import."""

    source: SourceConfig
    options: Any
    logger: logging.Logger
    progress: Progress
    cursor: Cursor
    http_factory: Callable[..., HttpClient]
    errors: list[CollectionError] = field(default_factory=list)
    secret_env: Callable[[str], str | None] = lambda name: None
    expected_gaps: list[ExpectedGap] = field(default_factory=list)
    today: date = field(default_factory=lambda: clock.now().date())  # for expected gaps' expiry
    # `--shard K/N` inside a partitioned source: (account, region) -> whether this shard owns that unit.
    # None: the whole source. A collector may skip units it does not own; the runner drops their output.
    owns_unit: Callable[[str | None, str | None], bool] | None = None
    shard: Shard | None = None  # this run's share of a partitioned source (agent.sharding); None: whole

    @property
    def name(self) -> str:
        return self.source.name

    def report_error(self, resource_type: str, message: str, *, account: str | None = None,
                     region: str | None = None, reason: str | None = None,
                     exc: BaseException | None = None) -> None:
        """Record that `resource_type` could not be collected (in a scope); its rules become `error`.

        `reason` is the class from agent.health.REASONS; when the collector does not say, it is
        classified from `exc` (status code, provider error code) or from the message. An error covered
        by an active expected gap (config `expected_gaps`) is kept as `not_applicable` instead.
        Details go to the debug log: the runner logs one summary line per source.
        """
        from agent.health import REASONS, classify, find_gap

        if reason not in REASONS:
            reason = classify(exc if exc is not None else message)
        gap = find_gap(self.expected_gaps, self.source.name, resource_type, account, region, self.today)
        self.errors.append(CollectionError(self.source.name, resource_type, message, account, region, reason,
                                           gap.as_dict() if gap else None))
        self.logger.debug("collection error", extra={"source": self.source.name,
                                                     "resource_type": resource_type,
                                                     "account": account, "region": region,
                                                     "reason": reason, "expected_gap": bool(gap),
                                                     "error": message})

    def http(self, **kwargs: Any) -> HttpClient:
        """The shared HTTP client, configured with this source's endpoint and limits."""
        return self.http_factory(**kwargs)


class Collector(ABC):
    """Subclass, declare `type` and `resource_types`, implement `collect`. Register via entry point."""

    type: ClassVar[str]
    resource_types: ClassVar[dict[str, str]]  # resource type -> one-line description
    Options: ClassVar[type[CollectorOptions]] = CollectorOptions
    # Option keys holding local file paths: relative values are resolved against annexa.yaml's folder.
    path_options: ClassVar[tuple[str, ...]] = ()

    # True when `shard_unit` partitions the source's work, so `--shard K/N` splits inside the source.
    partitioned: ClassVar[bool] = False

    def __init__(self, ctx: CollectorContext):
        self.ctx = ctx

    @classmethod
    def shard_unit(cls, resource_type: str, account: str | None, region: str | None,
                   resource_id: str | None = None) -> tuple[str | None, str | None]:
        """The (account, region) unit that collects a resource of this type and scope (agent.sharding).

        `resource_id` lets a collector whose units are single resources (GitHub repositories) key
        them by id; a collection error's id is its `annexa:collection/...` scope id."""
        return account, region

    @classmethod
    def preflight(cls, options: Any, source: SourceConfig) -> None:
        """Check local inputs before a run writes anything (e.g. that a roster file can be read).

        Raise an `agent.errors.InputError` naming the file and field: `annexa run` exits 2. The
        default checks nothing; remote APIs are never called here.
        """
        return None

    @abstractmethod
    def collect(self) -> Iterator[Resource]:
        """Yield resources as they are read. Report failures with `ctx.report_error`; never raise for one."""
