"""YAML loading that remembers line numbers, so errors can name the line a value came from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from agent.errors import InputError


class LineDict(dict):
    """A dict that knows the line of itself and of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list):
    """A list that knows the line of itself and of each of its items (1-based)."""

    line: int = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text; syntax errors become an InputError naming `source` and the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(source, f"invalid YAML: {exc.problem or exc}", line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(source, f"invalid YAML: {exc}") from None


def load_yaml_file(path: Path | str) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is an InputError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(p), "file not found") from None
    except OSError as exc:
        raise InputError(str(p), f"cannot read file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(str(p), "file is not UTF-8 text") from None
    return load_yaml_text(text, str(p))


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
