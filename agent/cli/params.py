"""Parameter checks shared by every command: text and path arguments that the rest of Annexa can use.

Applied to the whole command tree at start-up (`harden`), so a new command gets them without asking:
text options refuse NUL bytes and bytes that are not UTF-8 (a store cannot keep or compare them); path
options refuse NUL bytes, empty paths and names longer than the file system allows. Each problem is a
click BadParameter, i.e. one line and exit 2, instead of an `internal error` deep inside a command.
"""

from __future__ import annotations

import os
from typing import Any

import click

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


def text_problem(value: str) -> str | None:
    if "\0" in value:
        return "contains a NUL byte"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "is not valid UTF-8 text"
    return None


def path_problem(value: str) -> str | None:
    if value == "":
        return "must not be empty"
    if "\0" in value:
        return "contains a NUL byte"
    raw = os.fsencode(value)
    if len(raw) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    if any(len(part) > MAX_NAME_BYTES for part in raw.split(b"/")):
        return f"has a name longer than {MAX_NAME_BYTES} bytes"
    return None


class Text(click.ParamType):
    """click's STRING, minus what no store, log or report can hold."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        value = click.STRING.convert(value, param, ctx)
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            self.fail(problem, param, ctx)
        return value


class CheckedPath(click.Path):
    """click.Path that first refuses paths no system call can take (NUL, too long, empty)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | bytes):
            problem = path_problem(os.fsdecode(value))
            if problem:
                self.fail(problem, param, ctx)
        return super().convert(value, param, ctx)


TEXT = Text()


def harden(command: click.Command) -> None:
    """Give every text and path parameter of `command` (and its subcommands) the checks above."""
    for param in command.params:
        if type(param.type) is click.Path:
            checked = CheckedPath.__new__(CheckedPath)
            checked.__dict__.update(param.type.__dict__)
            param.type = checked
        elif param.type is click.STRING:
            param.type = TEXT
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            harden(sub)
