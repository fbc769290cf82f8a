"""Run a long-lived `annexa` command (daemon, metrics serve) as a real process and read its JSON logs."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = "tests.support.testkit,tests.support.slowkit"


def annexa_env(config: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "ANNEXA_CONFIG": str(config), "ANNEXA_PLUGINS": PLUGINS,
            **extra}


class AnnexaProcess:
    """`annexa --log-format json --log-level info ARGS…` with its stderr log lines collected as dicts."""

    def __init__(self, config: Path, *args: str):
        self.args = [sys.executable, "-m", "agent", "--log-format", "json", "--log-level", "info", *args]
        self.config = config
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.log: list[dict[str, Any]] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> AnnexaProcess:
        self.proc = subprocess.Popen(self.args, env=annexa_env(self.config), cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                doc = json.loads(line)
            except ValueError:
                doc = {"msg": line.rstrip("\n"), "raw": True}
            self.lines.put(doc)

    def _drain(self) -> None:
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def wait_for(self, msg: str, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        """The first log line (seen so far or arriving) whose msg contains `msg` and matches `fields`."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            for doc in self.log:
                if msg in str(doc.get("msg")) and all(doc.get(k) == v for k, v in fields.items()):
                    return doc
            if self.proc is not None and self.proc.poll() is not None and self.lines.empty():
                time.sleep(0.1)
                self._drain()
                raise AssertionError(f"process exited ({self.proc.returncode}) before logging {msg!r}:\n"
                                     + "\n".join(json.dumps(d) for d in self.log))
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line {msg!r} within {timeout}s:\n"
                                     + "\n".join(json.dumps(d) for d in self.log))
            time.sleep(0.05)

    def messages(self) -> list[dict[str, Any]]:
        self._drain()
        return list(self.log)

    def listen_address(self) -> str:
        return str(self.wait_for("serving /metrics")["listen"])

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.05)
        self._drain()
        return code

    def __enter__(self) -> AnnexaProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(status, content type, body) — HTTP errors are answers too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()
