"""The chain checkpoint: the newest sealed chain position and hash, kept outside the database.

A store whose database was wiped, truncated or swapped for an older copy has fewer chain entries
than the checkpoint records (or a different hash at its position): `verify --store` fails and
`annexa run` refuses to start a new chain on it. The file lives in the evidence folder
(`<evidence>/chain-head.json`); with S3 evidence and a SQLite database it lives next to the database
file (`<db>.chain-head.json`); with S3 evidence and PostgreSQL there is none (anchor instead).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url


def checkpoint_path(url: str, evidence: str) -> Path | None:
    if not evidence.startswith("s3://"):
        return Path(evidence) / "chain-head.json"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(f"{parsed.database}.chain-head.json")
    return None


def read_checkpoint(path: Path | None) -> dict[str, Any] | None:
    """{"seq": int, "hash": str}, or None when there is no checkpoint. A damaged file is reported, not ignored."""
    if path is None:
        return None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"seq": None, "hash": None, "error": f"cannot read {path}: {exc.strerror}"}
    try:
        doc = json.loads(raw[:4096])
        seq, digest = int(doc["seq"]), str(doc["hash"])
    except (ValueError, KeyError, TypeError):
        return {"seq": None, "hash": None, "error": f"{path} is not a chain checkpoint"}
    return {"seq": seq, "hash": digest}


def write_checkpoint(path: Path | None, seq: int, digest: str) -> None:
    """Atomically record (seq, hash), never moving the checkpoint backwards (concurrent sealers)."""
    if path is None:
        return
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock", timeout=30):
        current = read_checkpoint(path)
        if current and current.get("seq") is not None and current["seq"] >= seq:
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".chain-head-")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump({"kind": "annexa.chain-checkpoint/v1", "seq": seq, "hash": digest}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
