"""The rows of the two longest tables (timeline and snapshot pages), rendered without a template loop.

A year's bundle has hundreds of thousands of these rows; Jinja's per-row attribute lookups and filter
calls cost more than the rest of the page. Each function writes exactly what the loop in the
template used to (every value HTML-escaped as autoescaping did); tests compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape

from agent.export.html import _ts


def _e(value: Any) -> str:
    return _escaped(value) if value.__class__ is str else str(escape(value))


@lru_cache(maxsize=1 << 12)  # statuses, rule ids, severities and instants repeat row after row (bounded: ~1 MB)
def _escaped(text: str) -> str:
    return str(escape(text))


def timeline_rows(rows: Sequence[dict[str, Any]], first: int) -> Markup:
    out = []
    for n, e in enumerate(rows, start=first):
        until = "still open" if e["open"] else _e(_ts(e["last_seen"]))
        evidence = f'<a href="{_e(e["evidence_file"])}">snapshot</a>' if e["evidence_file"] else ""
        status = _e(e["status"])
        out.append(
            f'    <tr><td class="num">{n}</td><td>{_e(_ts(e["first_seen"]))}</td>\n'
            f"      <td>{until}</td>\n"
            f'      <td><span class="badge s-{status}">{status}</span></td><td><code>{_e(e["rule_id"])}</code></td>\n'
            f'      <td>{_e(e["severity"])}</td><td>{_e(e["resource_name"])}<br><span class="mono small">'
            f'{_e(e["resource_id"])}</span></td>\n'
            f'      <td>{_e(e["message"])}</td>\n'
            f"      <td>{evidence}</td></tr>\n")
    return Markup("".join(out))


def snapshot_rows(groups: Sequence[dict[str, Any]], first: int) -> Markup:
    out = []
    for n, r in enumerate(groups, start=first):
        versions = []
        for v in r["versions"]:
            short = _e(v["hex"][:12])
            link = (f'<span class="mono">{short}</span> (not in the store)' if v["missing"]
                    else f'<a class="mono" href="{_e(v["href"])}">{short}</a>')
            versions.append(f"<li>{link}        {_e(_ts(v['first_seen']))} &ndash; {_e(_ts(v['last_seen']))}"
                            f"{' (current)' if v['open'] else ''}</li>")
        out.append(
            f'    <tr><td class="num">{n}</td>\n'
            f'      <td>{_e(r["name"])}<br><span class="mono small">{_e(r["resource_id"])}</span></td>'
            f'<td><code>{_e(r["type"])}</code></td>\n'
            f'      <td>{_e(r["account"] or "")} {_e(r["region"] or "")}</td>\n'
            f'      <td><ol>{"".join(versions)}</ol></td></tr>\n')
    return Markup("".join(out))
