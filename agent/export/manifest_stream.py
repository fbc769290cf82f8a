"""Reading a bundle's manifest.json and SHA256SUMS without holding them, for `annexa verify`.

A year's manifest lists hundreds of thousands of files; parsed whole, its `files` list alone takes
hundreds of MB. Here the manifest's top-level object is read key by key: every value but `files` is
decoded as usual (they are small), and the items of `files` are handed one at a time to a callback.
The result is what `json.loads` gives, except that the `files` key is left out, a second `files` key
is refused (json.loads would keep the last one; no manifest Annexa writes has two), and the text
must be UTF-8. SHA256SUMS is split into lines as `str.splitlines` splits the whole text.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

_BLOCK = 1 << 20
_SPACE = " \t\n\r"
_decoder = json.JSONDecoder()


class _Text:
    """Decoded text of a binary stream, read in blocks; `pos` indexes `buf`."""

    def __init__(self, fh: IO[bytes]):
        self.fh = fh
        self.utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        self.eof = False

    def more(self, at_least: int = _BLOCK) -> bool:
        if self.eof:
            return False
        if self.pos > _BLOCK:  # drop what was consumed, so the buffer stays about one block
            self.buf, self.pos = self.buf[self.pos:], 0
        raw = self.fh.read(max(at_least, _BLOCK))
        if not raw:
            self.eof = True
            self.buf += self.utf8.decode(b"", final=True)
            return False
        self.buf += self.utf8.decode(raw)
        return True

    def skip_space(self) -> str:
        """The next character that is not JSON whitespace ("" at the end), not consumed."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in _SPACE:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self.more():
                return ""

    def take(self, expected: str) -> None:
        if self.skip_space() != expected:
            raise ValueError(f"expected {expected!r}")
        self.pos += 1

    def value(self) -> Any:
        """The next JSON value. A value ending exactly at the end of the buffer may be cut (a number):
        it counts only when more text follows it or the stream has ended."""
        self.skip_space()
        want = _BLOCK
        while True:
            try:
                value, end = _decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if not self.more(want):
                    raise
                want *= 2  # a long value: read in growing blocks, not one block per retry
                continue
            if end < len(self.buf) or self.eof:
                self.pos = end
                return value
            if not self.more(want):
                self.pos = end
                return value


def read_manifest(fh: IO[bytes], on_file: Callable[[Any], None]) -> dict[str, Any]:
    """The manifest document without its `files` list, whose items go to `on_file` in order.

    Raises ValueError (not JSON, not an object, no `files` list, `files` twice) or UnicodeDecodeError.
    """
    text = _Text(fh)
    text.take("{")
    doc: dict[str, Any] = {}
    files_seen = False
    if text.skip_space() == "}":
        text.pos += 1
    else:
        while True:
            key = text.value()
            if not isinstance(key, str):
                raise ValueError("an object key that is not a string")
            text.take(":")
            if key == "files":
                if files_seen:
                    raise ValueError("files listed twice")
                files_seen = True
                _read_list(text, on_file)
            else:
                doc[key] = text.value()
            sep = text.skip_space()
            text.pos += 1
            if sep == "}":
                break
            if sep != ",":
                raise ValueError("expected ',' or '}'")
    if text.skip_space() != "":
        raise ValueError("extra data after the manifest object")
    if not files_seen:
        raise ValueError("no files list")
    return doc


def _read_list(text: _Text, on_item: Callable[[Any], None]) -> None:
    text.take("[")
    if text.skip_space() == "]":
        text.pos += 1
        return
    while True:
        on_item(text.value())
        sep = text.skip_space()
        text.pos += 1
        if sep == "]":
            return
        if sep != ",":
            raise ValueError("expected ',' or ']'")


_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on


def text_lines(fh: IO[bytes]) -> Iterator[str]:
    """The lines of a UTF-8 stream as `raw.decode("utf-8").splitlines()` gives them (UnicodeDecodeError
    when it is not UTF-8, possibly after some lines were yielded)."""
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    rest = ""
    while True:
        raw = fh.read(_BLOCK)
        final = not raw
        rest += utf8.decode(raw, final=final)
        lines = rest.splitlines(keepends=True)
        rest = ""
        if lines and not final:
            last = lines[-1]
            if last[-1:] not in _BREAKS or last.endswith("\r"):  # unfinished, or a CR an LF may follow
                rest = lines.pop()
        for line in lines:  # each ends with one line break at most ("\r\n" counts as one)
            if line.endswith("\r\n"):
                yield line[:-2]
            elif line[-1:] in _BREAKS:
                yield line[:-1]
            else:
                yield line
        if final:
            return
