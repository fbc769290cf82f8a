"""Run the `annexa` CLI in this process, through its real entry point (error handling included).

Much faster than a subprocess, so property-based tests can try hundreds of inputs; subprocess tests
in tests/agent/cli cover the installed console script itself.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_annexa(*args: str) -> Outcome:
    """`annexa ARGS...` via agent.cli.main: its exit code, stdout and stderr."""
    from agent.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            root = logging.getLogger()
            for handler in list(root.handlers):  # the CLI's handler points at our StringIO
                if getattr(handler, "_annexa", False):
                    root.removeHandler(handler)
    return Outcome(code, out.getvalue(), err.getvalue())
