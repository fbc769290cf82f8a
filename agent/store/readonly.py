"""Opening a SQLite file that lives on read-only media (a mounted snapshot, a read-only volume).

A database in WAL mode normally needs its `-shm` file, which SQLite creates beside the database: in a
folder that cannot be written, a plain open fails with "unable to open database file". When the
database was closed cleanly there is no `-wal` content, and `immutable=1` reads the file exactly as
it is. When a `-wal` with content and its `-shm` were copied along, `mode=ro` reads both. A `-wal`
with content and no `-shm` cannot be read in place: committed transactions would be missed.

`immutable=1` is used only on a read-only file system. A folder that is merely not writable for this
user (a reader beside a live writer) is opened with `mode=ro`, which sees the writer's changes and
needs the writer's `-shm` to exist.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote


def _on_read_only_file_system(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class UnreadableInPlace(Exception):
    """A read-only copy whose write-ahead log cannot be read where it is."""


def folder_is_read_only(path: Path) -> bool:
    """Whether the folder of an existing `path` cannot be written (read-only media or permissions)."""
    return path.exists() and not os.access(path.parent, os.W_OK)


def read_only_uri(path: Path, *, wal_optional: bool = False) -> str:
    """A `file:` URI that opens `path` read-only in a folder that may not be writable.

    `wal_optional`: the database is a cache that can do without the log's last transactions (the
    evidence pack index, rebuilt from the packs), so a lone `-wal` is ignored rather than refused.
    """
    target = quote(str(path.resolve()))
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if _on_read_only_file_system(path.parent):  # nothing can change the file under this mount
        if wal.exists() and wal.stat().st_size > 0:
            if shm.exists():
                return f"file:{target}?mode=ro"
            if not wal_optional:
                raise UnreadableInPlace(f"{path} has a write-ahead log ({wal.name}) without its {shm.name}, in a "
                                        "folder that cannot be written: copy the database with its -wal file to "
                                        "a writable folder to read it")
        return f"file:{target}?mode=ro&immutable=1"
    return f"file:{target}?mode=ro"
