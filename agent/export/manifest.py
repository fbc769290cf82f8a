"""The bundle's integrity files: manifest.json, SHA256SUMS and the zip comment that ties them together.

Three independent records of the manifest's digest exist: the manifest bytes themselves, its line in
SHA256SUMS, and the zip comment (``annexa-bundle/1 manifest=sha256:… sig=sha256:…``). When one of them
is altered the other two still agree, which lets `annexa verify` name the file that was changed
instead of only saying that "something" differs.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from agent.export.zipout import FileEntry

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SIGNATURE = "manifest.sig"
INTEGRITY_FILES = (MANIFEST, SUMS, SIGNATURE)
KIND = "annexa.export-manifest/v1"
COMMENT_PREFIX = "annexa-bundle/1"

SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_COMMENT = re.compile(r"(manifest|sig)=sha256:([0-9a-f]{64})")


_FILES_MARK = "\x00files\x00"


def manifest_bytes(document: dict[str, Any], files: Iterable[FileEntry]) -> bytes:
    """The manifest as written: indented, sorted keys, UTF-8, trailing newline; one line per file."""
    out = io.BytesIO()
    write_manifest(out, document, files)
    return out.getvalue()


def write_manifest(fh: IO[bytes], document: dict[str, Any], files: Iterable[FileEntry]) -> None:
    """Write the bytes of `manifest_bytes` to `fh`, the file list one entry at a time (it is never held).

    The file list (the bulk of a large manifest) is rendered entry by entry with the C encoder rather
    than through the indenting encoder, which would build the whole list as many small strings.
    """
    head = json.dumps({**document, "files": _FILES_MARK}, indent=2, sort_keys=True, ensure_ascii=False)
    before, after = head.split(json.dumps(_FILES_MARK), 1)
    fh.write(before.encode("utf-8"))
    first = True
    for e in files:
        line = json.dumps({"path": e.path, "sha256": e.sha256, "size": e.size}, ensure_ascii=False)
        fh.write((("[\n    " if first else ",\n    ") + line).encode("utf-8"))
        first = False
    fh.write(b"[]" if first else b"\n  ]")
    fh.write((after + "\n").encode("utf-8"))


def render_sums(entries: Iterable[tuple[str, str]]) -> bytes:
    """`sha256sum -c` format: "<hex>  <path>" per line, in the order given."""
    return b"".join(iter_sums(entries))


def iter_sums(entries: Iterable[tuple[str, str]]) -> Iterator[bytes]:
    """The lines of SHA256SUMS, one at a time."""
    for path, digest in entries:
        yield f"{digest}  {path}\n".encode()


def iter_sums_entries(files: Iterable[tuple[str, str]], manifest_sha256: str,
                      signature_sha256: str | None) -> Iterator[tuple[str, str]]:
    """What SHA256SUMS must contain, without holding it: every data file, the manifest, the signature."""
    yield from files
    yield MANIFEST, manifest_sha256
    if signature_sha256 is not None:
        yield SIGNATURE, signature_sha256


def sums_entries(files: Iterable[tuple[str, str]], manifest_sha256: str,
                 signature_sha256: str | None) -> list[tuple[str, str]]:
    """What SHA256SUMS must contain: every data file (path, hex), the manifest, the signature."""
    out = list(files)
    out.append((MANIFEST, manifest_sha256))
    if signature_sha256 is not None:
        out.append((SIGNATURE, signature_sha256))
    return out


@dataclass
class ParsedSums:
    entries: dict[str, str]
    order: list[str]
    error: str | None = None


def parse_sums(raw: bytes) -> ParsedSums:
    out = ParsedSums(entries={}, order=[])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        out.error = "not UTF-8 text"
        return out
    for n, line in enumerate(text.splitlines(), start=1):
        m = SUM_LINE.match(line)
        if m is None:
            out.error = out.error or f"line {n} is not '<sha256>  <path>'"
            continue
        digest, path = m.groups()
        if path in out.entries:
            out.error = out.error or f"line {n} lists {path} a second time"
            continue
        out.entries[path] = digest
        out.order.append(path)
    return out


def zip_comment(manifest_sha256: str, signature_sha256: str | None) -> bytes:
    text = f"{COMMENT_PREFIX} manifest=sha256:{manifest_sha256}"
    if signature_sha256:
        text += f" sig=sha256:{signature_sha256}"
    return text.encode("ascii")


def parse_comment(raw: bytes) -> dict[str, str] | None:
    """{"manifest": hex, "sig": hex} from an Annexa zip comment, or None when there is none."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text.startswith(COMMENT_PREFIX):
        return None
    return dict(_COMMENT.findall(text))
