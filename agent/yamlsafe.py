"""A bounded YAML parser for every input file: limits on size, nesting and alias expansion, typed keys.

Hostile YAML must fail fast with one clear error, never exhaust memory, hang or hit Python's recursion
limit. libyaml (when present) produces the events; the composer here is our own, so that nesting and
aliases are counted *while* the document is read:

- nesting deeper than MAX_DEPTH (aliases expanded in place) is refused;
- an alias counts every node it stands for, as if the anchored value were copied there, and the
  document may hold at most MAX_ALIAS_NODES such nodes (a "billion laughs" fails after a few lines);
- an alias that refers to a node containing it (a cycle) is refused.

Mapping keys are always the key's own text (``5.10:`` is the string "5.10", ``on:`` is "on"); a list or
mapping as a key is refused. Integers have at most MAX_INT_DIGITS digits. Floats keep the text they
were written as (``TextFloat.source_text``), so a control id written ``5.10`` can still be read as
A.5.10 wherever a control id is expected. Only the YAML core types are accepted (no ``!!binary``,
``!!set``, ``!!python/...``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000
MAX_INT_DIGITS = 19
_INT64 = 2**63

try:  # libyaml parses about three times faster; only its event stream is used (never its composer)
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _Parser  # type: ignore[assignment]
    from yaml.reader import Reader as _Reader
    from yaml.scanner import Scanner as _Scanner

    _PURE = True
else:
    _PURE = False


class TextFloat(float):
    """A float that remembers how it was written (``5.10`` stays "5.10" in ``source_text``)."""

    source_text: str

    def __new__(cls, value: float, source_text: str) -> TextFloat:
        obj = super().__new__(cls, value)
        obj.source_text = source_text
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (TextFloat, (float(self), self.source_text))


def scalar_text(value: Any) -> str:
    """A scalar as the text it was written as: ``5.10`` stays "5.10" (str() would give "5.1")."""
    if isinstance(value, TextFloat):
        return value.source_text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class LineDict(dict):  # type: ignore[type-arg]
    """A dict that knows the line of itself and of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list):  # type: ignore[type-arg]
    """A list that knows the line of itself and of each of its items (1-based)."""

    line: int = 0
    item_lines: list[int]


class _BoundedComposer(Composer):
    """PyYAML's composer with depth, alias-expansion and cycle checks (node sizes kept on the nodes)."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._alias_nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.get_event()
            node = self.anchors.get(event.anchor)
            if node is None:
                raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
            size = getattr(node, "_annexa_size", None)
            if size is None:
                raise ComposerError(None, None, f"alias *{event.anchor} refers to a value that contains it",
                                    event.start_mark)
            self._alias_nodes += size
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise ComposerError(None, None, f"aliases expand to more than {MAX_ALIAS_NODES} values "
                                    "(a YAML alias bomb?)", event.start_mark)
            if self._depth + node._annexa_height > MAX_DEPTH:
                raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels (through alias "
                                    f"*{event.anchor})", event.start_mark)
            return node
        event = self.peek_event()
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            first = self.anchors[anchor].start_mark.line + 1
            raise ComposerError(None, None, f"anchor &{anchor} is defined twice (first on line {first})",
                                event.start_mark)
        self.descend_resolver(parent, index)
        if self.check_event(ScalarEvent):
            node = self.compose_scalar_node(anchor)
            node._annexa_size, node._annexa_height = 1, 0  # type: ignore[attr-defined]
        else:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
            if self.check_event(SequenceStartEvent):
                node = self.compose_sequence_node(anchor)
                children: list[Node] = list(node.value)
            else:
                node = self.compose_mapping_node(anchor)
                children = [n for pair in node.value for n in pair]
            self._depth -= 1
            node._annexa_size = 1 + sum(c._annexa_size for c in children)  # type: ignore[attr-defined]
            node._annexa_height = 1 + max((c._annexa_height for c in children), default=0)  # type: ignore[attr-defined]
        self.ascend_resolver()
        return node


def _checked_collection(node: Node, kind: type[Node], what: str) -> None:
    if not isinstance(node, kind):
        raise ConstructorError(None, None, f"expected {what}, found {node.id}", node.start_mark)


class _Constructor(SafeConstructor):
    """Core YAML types only; lines remembered; keys as written; bounded integers."""

    yaml_constructors: dict[Any, Any] = {}

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError, IndexError) as exc:
            raise ConstructorError(None, None, f"cannot read value {_short(node)} as {_tag_name(node)}: {exc}",
                                   node.start_mark) from None

    def construct_line_mapping(self, node: Node) -> LineDict:
        _checked_collection(node, MappingNode, "a mapping")
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != f"{_CORE}merge")
        self.flatten_mapping(node)  # type: ignore[arg-type]
        merged = len(node.value) - explicit  # flatten_mapping puts the merged (`<<:`) pairs first
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        written: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, ScalarNode):
                raise ConstructorError(None, None, "a mapping key must be plain text, not a list or mapping",
                                       key_node.start_mark)
            key = key_node.value
            if index >= merged:  # a key written here: may override a merged one, never repeat itself
                if key in written:
                    raise ConstructorError(None, None, f"duplicate key {_shorten(key)!r}", key_node.start_mark)
                written.add(key)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result

    def construct_line_sequence(self, node: Node) -> LineList:
        _checked_collection(node, SequenceNode, "a list")
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result

    def construct_bounded_int(self, node: Node) -> int:
        _checked_collection(node, ScalarNode, "a number")
        text = str(node.value)
        digits = sum(ch.isalnum() for ch in text)
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(None, None, f"number with {digits} digits is out of range (at most "
                                   f"{MAX_INT_DIGITS}); quote it if it is meant as text", node.start_mark)
        value = SafeConstructor.construct_yaml_int(self, node)  # type: ignore[arg-type]
        if not -_INT64 <= value < _INT64:
            raise ConstructorError(None, None, f"number {_shorten(text)} is out of range (64-bit integers "
                                   "only); quote it if it is meant as text", node.start_mark)
        return value

    def construct_text_float(self, node: Node) -> TextFloat:
        _checked_collection(node, ScalarNode, "a number")
        return TextFloat(SafeConstructor.construct_yaml_float(self, node), str(node.value))  # type: ignore[arg-type]

    def construct_checked_timestamp(self, node: Node) -> dt.date | dt.datetime:
        _checked_collection(node, ScalarNode, "a date")
        if self.timestamp_regexp.match(str(node.value)) is None:
            raise ConstructorError(None, None, f"not a date or timestamp: {_shorten(str(node.value))!r}",
                                   node.start_mark)
        try:
            return SafeConstructor.construct_yaml_timestamp(self, node)  # type: ignore[arg-type]
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(None, None, f"invalid date {_shorten(str(node.value))!r}: {exc}",
                                   node.start_mark) from None


_CORE = "tag:yaml.org,2002:"
_Constructor.add_constructor(f"{_CORE}null", SafeConstructor.construct_yaml_null)
_Constructor.add_constructor(f"{_CORE}bool", SafeConstructor.construct_yaml_bool)
_Constructor.add_constructor(f"{_CORE}int", _Constructor.construct_bounded_int)
_Constructor.add_constructor(f"{_CORE}float", _Constructor.construct_text_float)
_Constructor.add_constructor(f"{_CORE}timestamp", _Constructor.construct_checked_timestamp)
_Constructor.add_constructor(f"{_CORE}str", SafeConstructor.construct_yaml_str)
_Constructor.add_constructor(f"{_CORE}seq", _Constructor.construct_line_sequence)
_Constructor.add_constructor(f"{_CORE}map", _Constructor.construct_line_mapping)
_Constructor.add_constructor(None, SafeConstructor.construct_undefined)


def _short(node: Node) -> str:
    return repr(_shorten(str(node.value))) if isinstance(node, ScalarNode) else node.id


def _tag_name(node: Node) -> str:
    tag = str(node.tag)
    return tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


if _PURE:  # pragma: no cover
    class BoundedLoader(_Reader, _Scanner, _Parser, _BoundedComposer, _Constructor, Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _Reader.__init__(self, stream)
            _Scanner.__init__(self)
            _Parser.__init__(self)
            _BoundedComposer.__init__(self)
            _Constructor.__init__(self)
            Resolver.__init__(self)
else:
    class BoundedLoader(_BoundedComposer, _Parser, _Constructor, Resolver):  # type: ignore[no-redef,misc]
        """libyaml events, our composer: CParser also has a composer (get_single_node...), but it recurses
        in C and crashes on deep nesting, so the Python Composer comes first in the MRO."""

        def __init__(self, stream: str) -> None:
            _Parser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            _Constructor.__init__(self)
            Resolver.__init__(self)


def parse_bounded(text: str) -> Any:
    """Parse one YAML document with the limits above; errors are yaml.YAMLError subclasses."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
