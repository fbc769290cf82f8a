"""The pagination styles real APIs use, served from a full list of items.

Each helper slices `items` for the request and builds the provider's own page shape: GitHub's
page-number `Link` header, Okta's `after` cursor in `Link`, Azure Resource Manager's `nextLink`,
Microsoft Graph's `@odata.nextLink`, Google's `nextPageToken`, and a cursor in the body (Slack's
`response_metadata.next_cursor`, JSON:API's `links.next`). Page sizes honour the API's default
and maximum, as the real services do (asking for more than the maximum gets the maximum).

`visible` drops items after a page is cut, as services that check each item's permissions after
paging do (GitHub, Azure Resource Manager, Graph): a page can then come back short or empty while
more pages follow, which a client must not read as the end.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from agent.fakeapi.server import Reply, Request


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int | None:
    """Offset from a token made by `_token`; None if absent; -1 if it is not one of ours."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, value = raw.partition(":")
        return int(value) if kind == "o" else -1
    except (ValueError, UnicodeDecodeError):
        return -1


def offset_token(offset: int) -> str:
    """The opaque page token the paging helpers hand out for the item at `offset`."""
    return _token(offset)


def token_offset(token: str | None) -> int | None:
    """The offset of a token from `offset_token`; None if absent, -1 if it is not one of ours."""
    return _offset(token)


def _size(request: Request, name: str, default: int, maximum: int) -> int:
    return max(1, min(request.int_arg(name, default), maximum))


def _shown(chunk: Sequence[Any], visible: Callable[[Any], bool] | None) -> list[Any]:
    return [item for item in chunk if visible is None or visible(item)]


def _query_without(request: Request, *names: str) -> list[tuple[str, str]]:
    return [(k, v) for k, values in request.query.items() if k not in names for v in values]


def link_page(request: Request, items: Sequence[Any], *, default: int = 30, maximum: int = 100,
              headers: dict[str, str] | None = None, link_path: str | None = None,
              items_key: str | None = None, extra: dict[str, Any] | None = None,
              visible: Callable[[Any], bool] | None = None) -> Reply:
    """GitHub: `page` and `per_page`, a JSON array, `Link` with next/last/prev/first.

    `link_path` is where the links point when it is not the requested path (GitHub answers
    `/orgs/acme/members` with links to `/organizations/<id>/members`); `items_key` wraps the page in
    an object, as GitHub's search does (`{"total_count", "incomplete_results", "items"}` via `extra`).
    """
    per_page = _size(request, "per_page", default, maximum)
    page = max(1, request.int_arg("page", 1))
    start = (page - 1) * per_page
    chunk = _shown(items[start:start + per_page], visible)
    last = max(1, -(-len(items) // per_page))
    base = _query_without(request, "page", "per_page")
    path = link_path or request.path

    def link(n: int, rel: str) -> str:
        return f'<{request.url_for(path, [*base, ("per_page", per_page), ("page", n)])}>; rel="{rel}"'

    links = []
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    out = dict(headers or {})
    if links:
        out["Link"] = ", ".join(links)
    body: Any = chunk if items_key is None else {**(extra or {}), items_key: chunk}
    return Reply(200, body, out)


def cursor_link_page(request: Request, items: Sequence[dict[str, Any]], *, default: int = 200,
                     maximum: int = 200, id_key: str = "id", headers: dict[str, str] | None = None,
                     separate_links: bool = False, visible: Callable[[Any], bool] | None = None) -> Reply:
    """Okta: `limit` and an opaque `after` cursor; `Link: <…>; rel="self"` and `rel="next"`.

    `separate_links` sends each relation as its own `Link` header line, as Okta does on the wire;
    otherwise they share one comma-separated header (what a client sees after joining them).
    """
    limit = _size(request, "limit", default, maximum)
    after = request.arg("after")
    start = 0
    if after:
        ids = [str(item.get(id_key)) for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    cut = list(items[start:start + limit])
    base = _query_without(request, "after", "limit")
    links = [f'<{request.url_for(request.path, [*base, ("limit", limit)] + ([("after", after)] if after else []))}>;'
             ' rel="self"']
    if start + limit < len(items) and cut:
        nxt = request.url_for(request.path, [*base, ("limit", limit), ("after", cut[-1][id_key])])
        links.append(f'<{nxt}>; rel="next"')
    chunk = _shown(cut, visible)
    if separate_links:
        return Reply(200, chunk, dict(headers or {}), repeated=[("Link", link) for link in links])
    return Reply(200, chunk, {**(headers or {}), "Link": ", ".join(links)})


def next_link_page(request: Request, items: Sequence[Any], *, page_size: int, link_key: str = "nextLink",
                   value_key: str = "value", token_param: str = "$skiptoken",
                   extra: dict[str, Any] | None = None, visible: Callable[[Any], bool] | None = None) -> Reply:
    """Azure Resource Manager (`nextLink`) and Microsoft Graph (`@odata.nextLink`, `$top`).

    The next link carries the original query plus an opaque skip token, as both services do.
    Graph honours `$top` (up to `page_size`); an unknown skip token is a 400 like the real thing.
    """
    size = _size(request, "$top", page_size, page_size) if link_key.startswith("@odata") else page_size
    start = _offset(request.arg(token_param)) or 0
    if start < 0:
        return Reply(400, {"error": {"code": "InvalidSkipToken", "message": "The skip token is not valid."}})
    chunk = _shown(items[start:start + size], visible)
    body: dict[str, Any] = {**(extra or {}), value_key: chunk}
    if start + size < len(items):
        base = _query_without(request, token_param)
        body[link_key] = request.url_for(request.path, [*base, (token_param, _token(start + size))])
    return Reply(200, body)


def page_token_page(request: Request, items: Sequence[Any], *, items_key: str, default: int, maximum: int,
                    size_param: str = "maxResults", token_param: str = "pageToken",
                    extra: dict[str, Any] | None = None, omit_empty: bool = True,
                    visible: Callable[[Any], bool] | None = None) -> Reply:
    """Google APIs: `pageToken` in, `nextPageToken` out; an empty list is omitted (as Google does)."""
    size = _size(request, size_param, default, maximum)
    start = _offset(request.arg(token_param)) or 0
    if start < 0:
        return Reply(400, {"error": {"code": 400, "message": "Invalid page token.", "status": "INVALID_ARGUMENT"}})
    chunk = _shown(items[start:start + size], visible)
    body: dict[str, Any] = dict(extra or {})
    if chunk or not omit_empty:
        body[items_key] = chunk
    if start + size < len(items):
        body["nextPageToken"] = _token(start + size)
    return Reply(200, body)


def body_cursor_page(request: Request, items: Sequence[Any], *, items_key: str, default: int = 100,
                     maximum: int = 1000, size_param: str = "limit", cursor_param: str = "cursor",
                     cursor_path: str = "response_metadata.next_cursor", next_as_url: bool = False,
                     extra: dict[str, Any] | None = None, visible: Callable[[Any], bool] | None = None) -> Reply:
    """A cursor in the JSON body at the dotted `cursor_path`.

    Slack style (default): `limit` and `cursor` in, `response_metadata.next_cursor` out, an empty
    string on the last page. `next_as_url` (JSON:API, `cursor_path="links.next"`): the value is the
    next page's URL as a relative reference carrying `cursor_param`, and is absent on the last page.
    """
    size = _size(request, size_param, default, maximum)
    start = _offset(request.arg(cursor_param)) or 0
    if start < 0:
        return Reply(400, {"ok": False, "error": "invalid_cursor"})
    body: dict[str, Any] = {**(extra or {}), items_key: _shown(items[start:start + size], visible)}
    more = start + size < len(items)
    parent, _, leaf = cursor_path.rpartition(".")
    holder = body
    for part in parent.split(".") if parent else ():
        holder = holder.setdefault(part, {})
    if next_as_url:
        if more:
            query = [*_query_without(request, cursor_param), (cursor_param, _token(start + size))]
            holder[leaf] = request.url_for(request.path, query).removeprefix(request.base_url)
    else:
        holder[leaf] = _token(start + size) if more else ""
    return Reply(200, body)
