"""YAML input files: bounded reading and parsing, and line numbers so errors can name where a value came from."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.reader import ReaderError

from agent.errors import InputError
from agent.yamlsafe import MAX_DEPTH, LineDict, LineList, TextFloat, parse_bounded, scalar_text

__all__ = [
    "LineDict",
    "LineList",
    "TextFloat",
    "display_path",
    "dotted",
    "key_line",
    "line_of",
    "load_yaml_file",
    "load_yaml_text",
    "read_input_file",
    "reject_unknown_keys",
    "scalar_text",
]


MAX_YAML_BYTES = 8 * 1024 * 1024


def read_input_file(path: Path | str, max_bytes: int = MAX_YAML_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `max_bytes`; anything else is an InputError.

    Devices (/dev/zero), FIFOs, sockets and directories are refused before they are opened, so an
    input file can never block or stream forever; at most `max_bytes` + 1 bytes are ever read.
    """
    name = display_path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(name, "file not found") from None
    except OSError as exc:
        raise InputError(name, f"cannot read {what}: {exc.strerror}") from None
    except ValueError:  # an embedded NUL byte
        raise InputError(name, "not a valid file name (it contains a NUL byte)") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(name, f"is a directory; expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(name, f"is not a regular file (a device, pipe or socket); expected a {what}")
    if info.st_size > max_bytes:
        raise InputError(name, f"{what} is {info.st_size} bytes; at most {max_bytes} bytes are accepted")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(name, f"cannot read {what}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced between stat and open
            raise InputError(name, f"is not a regular file; expected a {what}")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise InputError(name, f"cannot read {what}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise InputError(name, f"{what} is larger than {max_bytes} bytes")
    return data


def display_path(path: Path | str) -> str:
    """A path as printable text: bytes that are not UTF-8 are shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _yaml_error(source: str, exc: yaml.YAMLError, text: str) -> InputError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "syntax error"
        if "maximum nesting depth" in problem:  # libyaml's own scanner limit, hit before our composer's
            problem = f"nesting deeper than {MAX_DEPTH} levels"
        return InputError(source, f"invalid YAML: {problem}", line=line)
    if isinstance(exc, ReaderError):  # a character YAML does not allow (control characters...)
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        position = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, max(position, 0)) + 1
        return InputError(source, f"invalid YAML: character {char!r} (U+{ord(char[:1] or ' '):04X}) is not "
                          "allowed", line=line)
    return InputError(source, f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text with the limits of agent.yamlsafe; every problem is an InputError naming `source`."""
    if len(text) > MAX_YAML_BYTES:
        raise InputError(source, f"larger than {MAX_YAML_BYTES} bytes")
    try:
        return parse_bounded(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc, text) from None
    except RecursionError:  # defence in depth: the composer's depth limit should make this unreachable
        raise InputError(source, "invalid YAML: nested too deeply") from None


def load_yaml_file(path: Path | str) -> Any:
    """Read and parse a YAML file (regular file, bounded size, UTF-8); any problem is an InputError."""
    source = display_path(path)
    data = read_input_file(path, what="YAML file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(source, "file is not UTF-8 text", line=line) from None
    return load_yaml_text(text, source)


def line_of(document: Any, path: Sequence[Any]) -> int | None:
    """The line of the value at `path` (keys and list indexes), or of its nearest known parent."""
    node = document
    best: int | None = getattr(node, "line", None) or None
    for part in path:
        if isinstance(node, LineDict) and part in node:
            best = node.key_lines.get(part, best)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_lines[part]
            node = node[part]
        else:
            break
    return best


def key_line(node: Any, key: Any = None) -> int | None:
    """The line of `key` in a mapping read by this module (or of the mapping itself), if known."""
    if isinstance(node, LineDict):
        if key is not None and key in node.key_lines:
            return node.key_lines[key]
        return node.line or None
    return None


def reject_unknown_keys(node: Any, allowed: Sequence[str], source: str, line: int | None, field: str) -> None:
    """One clear InputError naming the first key of `node` that is not in `allowed`."""
    for key in node:
        if key not in allowed:
            raise InputError(source, f"unknown key {key!r}: allowed keys are {', '.join(allowed)}",
                             line=key_line(node, key) or line, field=f"{field}.{key}")


def dotted(path: Sequence[Any]) -> str:
    """Render a location path like ("sources", 0, "type") as `sources[0].type`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
