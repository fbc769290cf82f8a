"""Pagination styles of the REST APIs Annexa reads: where the next page is and where the items are."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin

import requests

Style = Literal["link", "next_link", "page_token", "cursor"]
STYLES: tuple[str, ...] = ("link", "next_link", "page_token", "cursor")

_MISSING = object()

# One link-value of RFC 8288: "<target>" followed by ";"-separated parameters. Commas inside
# <...> or inside quoted parameter values do not end the link-value.
_LINK_VALUE = re.compile(r'<(?P<target>[^>]*)>(?P<params>(?:[^,"]|"(?:[^"\\]|\\.)*")*)')
_LINK_PARAM = re.compile(
    r';\s*(?P<name>[^\s=;,]+)\s*(?:=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^\s;,]*)))?'
)


@dataclass(frozen=True)
class Link:
    target: str
    rels: frozenset[str]
    params: Mapping[str, str]


def parse_link_header(value: str) -> list[Link]:
    """Parse a ``Link`` header (RFC 8288) into its link-values.

    Handles several links in one header (and repeated headers, which requests joins with
    ", "), quoted and unquoted ``rel``, and space-separated relation types
    (``rel="next last"``). Relation types are lower-cased.
    """
    links: list[Link] = []
    for match in _LINK_VALUE.finditer(value or ""):
        params: dict[str, str] = {}
        for param in _LINK_PARAM.finditer(match["params"]):
            name = param["name"].lower().rstrip("*")
            raw = param["quoted"] if param["quoted"] is not None else (param["token"] or "")
            params.setdefault(name, re.sub(r"\\(.)", r"\1", raw))
        rels = frozenset(rel.lower() for rel in params.get("rel", "").split())
        links.append(Link(target=match["target"].strip(), rels=rels, params=params))
    return links


def next_link_target(response: requests.Response) -> str | None:
    """Absolute URL of the ``rel="next"`` link of a response, resolved against its URL."""
    for link in parse_link_header(response.headers.get("Link", "")):
        if "next" in link.rels and link.target:
            return urljoin(response.url, link.target)
    return None


def get_path(data: Any, path: str) -> Any:
    """Value at ``path`` in parsed JSON: the exact key first, then a dotted path; ``_MISSING`` if absent."""
    if isinstance(data, Mapping) and path in data:
        return data[path]
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


@dataclass(frozen=True)
class PageSpec:
    """A validated description of how to page through one endpoint."""

    style: Style
    items: str | None
    cursor_path: str | None
    cursor_param: str | None

    @classmethod
    def build(
        cls, style: str, items: str | None, cursor_path: str | None, cursor_param: str | None
    ) -> PageSpec:
        if style not in STYLES:
            raise ValueError(f"unknown pagination style {style!r}; expected one of {STYLES}")
        if style == "next_link" and items is None:
            items = "value"
        if style == "page_token":
            if items is None:
                raise ValueError("style 'page_token' needs items= (e.g. 'projects', 'users')")
            cursor_path = cursor_path or "nextPageToken"
            cursor_param = cursor_param or "pageToken"
        if style == "cursor" and not cursor_path:
            raise ValueError("style 'cursor' needs cursor_path= (e.g. 'response_metadata.next_cursor')")
        return cls(style=style, items=items, cursor_path=cursor_path, cursor_param=cursor_param)  # type: ignore[arg-type]

    def extract_items(self, body: Any) -> list[Any]:
        """The items of one page; raises ValueError describing the shape if they cannot be found.

        A missing list is an error rather than an empty page (a typo in ``items`` must not
        read as "no resources") — except for Google APIs, which omit empty lists.
        """
        if self.items is None:
            if isinstance(body, list):
                return body
            if self.style == "link" and isinstance(body, Mapping) and isinstance(body.get("items"), list):
                return list(body["items"])
            raise ValueError(f"expected a JSON array, got {_describe(body)}")
        value = get_path(body, self.items)
        if (value is _MISSING or value is None) and self.style == "page_token" and isinstance(body, Mapping):
            return []
        if isinstance(value, list):
            return value
        if value is _MISSING:
            raise ValueError(f"no {self.items!r} list in the response ({_describe(body)})")
        raise ValueError(f"{self.items!r} is {type(value).__name__}, not a list")

    def next_request(
        self, response: requests.Response, body: Any, url: str, base_params: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any] | None, str] | None:
        """``(url, params, marker)`` of the following page, or None on the last page.

        ``url``/``base_params`` are those of the first request: token and cursor styles repeat
        them with the token added. ``params`` None means the URL is complete (link styles
        carry their own query); ``marker`` is what loop detection compares.
        """
        if self.style == "link":
            target = next_link_target(response)
            return None if target is None else (target, None, target)
        if self.style == "next_link":
            if not isinstance(body, Mapping):
                return None
            target = body.get("nextLink") or body.get("@odata.nextLink")
            if not isinstance(target, str) or not target:
                return None
            absolute = urljoin(response.url, target)
            return absolute, None, absolute
        assert self.cursor_path is not None
        cursor = get_path(body, self.cursor_path)
        if cursor is _MISSING or cursor is None or cursor == "" or isinstance(cursor, (dict, list, bool)):
            return None
        cursor_text = str(cursor)
        if self.cursor_param is None:  # the cursor is itself the next URL (JSON:API links.next)
            absolute = urljoin(response.url, cursor_text)
            return absolute, None, absolute
        return url, {**base_params, self.cursor_param: cursor_text}, cursor_text


def _describe(body: Any) -> str:
    if isinstance(body, Mapping):
        keys = ", ".join(sorted(map(str, body))[:8])
        return f"an object with keys [{keys}]"
    return f"a JSON {type(body).__name__}"
