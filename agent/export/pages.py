"""Rendering of the sampling pages (complete timeline, snapshots by resource, remediation, sample dates)
with the bundle's Jinja environment (autoescaped, self-contained: inline CSS and JS only)."""

from __future__ import annotations

from typing import Any

from agent.export.html import _env


def render_paged(template: str, *, page: int, pages: int | None, stem: str, has_next: bool | None = None,
                 **context: Any) -> str:
    """One page of a paged listing; `pages` None means the total is not known (then `has_next` says)."""
    from agent.export.timeline import page_name

    nxt = (page < pages) if pages is not None else bool(has_next)
    return _env().get_template(template).render(
        page=page, pages=pages, prev_href=page_name(stem, page - 1) if page > 1 else None,
        next_href=page_name(stem, page + 1) if nxt else None, **context)


def render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)
