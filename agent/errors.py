"""Errors that the CLI turns into one clear line and exit code 2."""

from __future__ import annotations


class AnnexaError(Exception):
    """A user-facing error: bad input, bad usage. The CLI prints it and exits with `exit_code`."""

    exit_code = 2


class InputError(AnnexaError):
    """Bad input in a file: names the file, the line (when known) and the field."""

    def __init__(self, file: str | None, message: str, *, line: int | None = None, field: str | None = None):
        self.file = file
        self.line = line
        self.field = field
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        if self.file is None and self.field:  # a command-line option: "--by: is not valid UTF-8 text"
            return f"{self.field}: {self.detail}"
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.detail}"


class ConfigError(InputError):
    """The configuration file is invalid."""


class RuleError(InputError):
    """A rule file is invalid."""


class StoreError(AnnexaError):
    """The evidence store cannot be used as asked (schema too old, unreachable)."""
