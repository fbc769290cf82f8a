"""CPU used by the PostgreSQL backends serving one database (the server runs on this machine: /proc)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def backend_cpu(engine: Any) -> dict[int, float]:
    """{backend pid: user + system CPU seconds} for every connection now open to the engine's database."""
    from sqlalchemy import text

    with engine.connect() as conn:
        pids = [r[0] for r in conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))]
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:
            continue  # the backend ended in between
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, ...]; utime, stime at 11, 12, cutime, cstime at 13, 14."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def reaped_backend_cpu(engine: Any) -> float:
    """User + system CPU seconds of every backend the postmaster has reaped so far.

    The backends of a command run in another process end with it, taking their /proc entries along;
    the kernel adds their CPU to the postmaster's children's time when it reaps them. The difference
    across a command is its backends' CPU (plus any autovacuum worker that ended meanwhile: measure on
    a quiet server).
    """
    from sqlalchemy import text

    with engine.connect() as conn:
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    fields = _stat(_stat(backend)[1])  # the postmaster: the backend's parent
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
