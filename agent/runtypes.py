"""Light types shared by the runner and its observers (no database imports, so the CLI starts fast)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.model import CollectionError


@dataclass
class SourceSummary:
    name: str
    type: str
    resources: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    errors: list[CollectionError] = field(default_factory=list)
    status: str = "running"
    seconds: float = 0.0



class RunInterrupted(Exception):
    """The run was asked to stop (SIGTERM in the daemon); the store holds a run marked incomplete."""


class RunObserver:
    """Progress hooks; the CLI renders them as a rich display or as log lines."""

    def source_started(self, name: str, type_: str) -> None: ...
    def resource(self, name: str, count: int) -> None: ...
    def message(self, name: str, text: str) -> None: ...
    def source_finished(self, summary: SourceSummary) -> None: ...
