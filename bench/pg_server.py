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
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the backend ended in between
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out
