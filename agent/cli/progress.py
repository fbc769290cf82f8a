"""Run progress: a live rich display on a terminal, structured log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from agent.runtypes import RunObserver, SourceSummary

log = logging.getLogger("annexa.run")


class LogObserver(RunObserver):
    """One log line per source start/finish (and a heartbeat every 10 s of collection)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def source_started(self, name: str, type_: str) -> None:
        log.info("source started", extra={"source": name, "source_type": type_})

    def resource(self, name: str, count: int) -> None:
        now = time.monotonic()
        if now - self._last.get(name, 0) > 10:
            self._last[name] = now
            log.info("collecting", extra={"source": name, "resources": count})

    def message(self, name: str, text: str) -> None:
        log.debug(text, extra={"source": name})

    def source_finished(self, summary: SourceSummary) -> None:
        log.info("source finished", extra={"source": summary.name, "status": summary.status,
                                           "resources": summary.resources, "findings": summary.findings,
                                           "errors": len(summary.errors), "seconds": round(summary.seconds, 2)})


class RichObserver(RunObserver):
    """A spinner per source with its resource count and current activity."""

    def __init__(self) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[source]}"),
                                 TextColumn("{task.fields[count]} resources"), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), transient=False)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> RichObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def source_started(self, name: str, type_: str) -> None:
        self.tasks[name] = self.progress.add_task(f"collecting ({type_})", total=None, source=name, count=0)

    def resource(self, name: str, count: int) -> None:
        if count % 25 == 0 or count < 25:
            self.progress.update(self.tasks[name], count=count)

    def message(self, name: str, text: str) -> None:
        if name in self.tasks:
            self.progress.update(self.tasks[name], description=text[:60])

    def source_finished(self, summary: SourceSummary) -> None:
        task = self.tasks.get(summary.name)
        if task is None:
            return
        errors = f", [yellow]{len(summary.errors)} errors[/yellow]" if summary.errors else ""
        self.progress.update(task, count=summary.resources, total=1, completed=1,
                             description=f"{summary.status}{errors}")


def make_observer(quiet: bool) -> RunObserver:
    if not quiet and sys.stderr.isatty():
        return RichObserver()
    return LogObserver()
