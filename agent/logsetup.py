"""Logging: readable text on a terminal, one JSON object per line otherwise (for log shippers)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(level: str = "warning", fmt: str = "auto") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_annexa", False):
            root.removeHandler(handler)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler: logging.Handler
    if use_json:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False)
    handler._annexa = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    for noisy in ("botocore", "boto3", "urllib3", "azure", "google", "s3transfer", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
