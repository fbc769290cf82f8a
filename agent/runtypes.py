"""Light types shared by the runner and its observers (no database imports, so the CLI starts fast)."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from agent.errors import AnnexaError
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


class Terminated(BaseException):
    """SIGTERM during `annexa run`: unwinds like Ctrl-C (a BaseException, so no `except Exception`
    on the way swallows it) and the run is sealed `incomplete` on the way out."""


class RunFailed(AnnexaError):
    """The run stopped on an unexpected error (a full disk, a bug) after it began: one line, exit 70."""

    exit_code = 70

    def __init__(self, run_id: int, cause: BaseException, sealed: bool):
        self.run_id = run_id
        self.cause = cause
        self.sealed = sealed
        outcome = ("it was sealed as incomplete" if sealed else
                   "it could not be sealed and will be sealed as incomplete by the next run")
        full = disk_full(cause)
        if full is not None:
            text = f"run {run_id} stopped: the disk is full ({full}); {outcome}. Free some space and run again"
        else:
            text = (f"run {run_id} stopped on an unexpected error: {type(cause).__name__}: {_brief(cause)}; "
                    f"{outcome} (re-run with --log-level debug for a traceback)")
        super().__init__(text)


def interruption(cause: BaseException) -> str:
    """Why a run ended `incomplete`, as sealed in its manifest (`interruption`)."""
    if isinstance(cause, Terminated):
        return "SIGTERM"
    if isinstance(cause, KeyboardInterrupt):
        return "SIGINT"
    if isinstance(cause, RunInterrupted):
        return "stop requested"
    full = disk_full(cause)
    if full is not None:
        return f"disk full: {full}"
    return f"error: {type(cause).__name__}"


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_SQLSTATE = "53100"  # PostgreSQL: disk_full
DISK_FULL_TEXT = ("database or disk is full", "No space left on device")


def disk_full(exc: BaseException) -> str | None:
    """What says the disk is full in `exc` or its causes (OSError ENOSPC/EDQUOT, SQLite's "database or
    disk is full", PostgreSQL's disk_full), or None."""
    todo: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS:
            return f"{err.strerror}: {err.filename}" if err.filename else str(err.strerror)
        orig = getattr(err, "orig", None)
        if isinstance(orig, BaseException):  # SQLAlchemy's wrapper: the driver's own error reads better
            todo.append(orig)
            continue
        if getattr(err, "sqlstate", None) == DISK_FULL_SQLSTATE or any(t in str(err) for t in DISK_FULL_TEXT):
            return _brief(err)
        todo.extend([err.__cause__, err.__context__])
    return None


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text.split(" [SQL: ")[0]  # SQLAlchemy appends the statement and its parameters: not for users
    return text if len(text) <= 300 else text[:297] + "..."


class RunObserver:
    """Progress hooks; the CLI renders them as a rich display or as log lines."""

    def source_started(self, name: str, type_: str) -> None: ...
    def resource(self, name: str, count: int) -> None: ...
    def message(self, name: str, text: str) -> None: ...
    def source_finished(self, summary: SourceSummary) -> None: ...
