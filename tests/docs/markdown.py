"""Just enough Markdown for the documentation tests: headings, sections, links and GitHub anchors."""

from __future__ import annotations

import re
from collections.abc import Iterator

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:name|id)\s*=\s*["']([^"']+)["']""", re.I)


def prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks."""
    fence: str | None = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if match:
            if fence is None:
                fence = match.group(1)
                continue
            if match.group(1) == fence:
                fence = None
                continue
        if fence is None:
            yield line


def headings(text: str) -> Iterator[tuple[int, str]]:
    for line in prose_lines(text):
        match = HEADING.match(line)
        if match:
            yield len(match.group(1)), match.group(2)


def sections(text: str) -> dict[str, str]:
    """{heading text: its body up to the next heading of the same or a higher level} (first of duplicates)."""
    out: dict[str, str] = {}
    open_: list[tuple[int, str, list[str]]] = []
    fence: str | None = None

    def close(level: int) -> None:
        while open_ and open_[-1][0] >= level:
            _, title, body = open_.pop()
            out.setdefault(title, "\n".join(body))

    for line in text.splitlines():
        match = FENCE.match(line)
        if match and (fence is None or match.group(1) == fence):
            fence = match.group(1) if fence is None else None
        heading = HEADING.match(line) if fence is None and not match else None
        if heading:
            level = len(heading.group(1))
            close(level)
            open_.append((level, heading.group(2), []))
            continue
        for _, _, body in open_:
            body.append(line)
    close(1)
    return out


def links(text: str) -> list[str]:
    """Link targets of the prose: inline links and images, reference definitions, HTML href/src."""
    prose = "\n".join(INLINE_CODE.sub("", line) for line in prose_lines(text))
    return [*INLINE_LINK.findall(prose), *REFERENCE_DEF.findall(prose), *HTML_LINK.findall(prose)]


def slug(title: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces to '-'."""
    rendered = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "")
    return re.sub(r"[^\w\- ]", "", rendered.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    out: set[str] = set()
    seen: dict[str, int] = {}
    for _, title in headings(text):
        base = slug(title)
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    out.update(HTML_ANCHOR.findall(text))
    return out
