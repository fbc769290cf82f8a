"""The bundle's human-readable pages: index.html and controls/<id>/index.html.

Self-contained on purpose: inline CSS and a few lines of inline JS, no fonts, images or scripts from
anywhere else, so the bundle opens on an air-gapped auditor laptop. Every value is HTML-escaped by
Jinja's autoescaping (resource names and messages come from third-party APIs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from agent.export.timefmt import minute_text
from agent.store.timeutil import as_utc

if TYPE_CHECKING:
    from agent.export.controls import ControlExport
    from agent.status import ControlState

MAX_STRIP = 300
STATUS_RANK = {"failing": 3, "unknown": 2, "passing": 1, "none": 0}
BAR_STATUSES = ("pass", "excepted", "error", "fail")


@cache
def _env() -> Environment:
    env = Environment(loader=PackageLoader("agent.export", "templates"),
                      autoescape=select_autoescape(["html"], default_for_string=True, default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["ts"] = _ts
    return env


def _ts(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return minute_text(value)
    text = str(value)
    return text[:16].replace("T", " ") + " UTC" if len(text) >= 16 and text[10] == "T" else text


def buckets(times: Sequence[datetime], values: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """Group per-run values for display: one bucket per run, or per day when there are too many runs."""
    if len(times) <= MAX_STRIP:
        return [(_ts(t), [v]) for t, v in zip(times, values, strict=True)]
    out: dict[str, list[Any]] = {}
    for t, v in zip(times, values, strict=True):
        out.setdefault(as_utc(t).strftime("%Y-%m-%d"), []).append(v)  # type: ignore[union-attr]
    return list(out.items())


def status_strip(times: Sequence[datetime], statuses: Sequence[str]) -> list[dict[str, str]]:
    return [{"label": label, "status": max(group, key=lambda s: STATUS_RANK.get(s, 0))}
            for label, group in buckets(times, statuses)]


def bar_chart(times: Sequence[datetime], counts: Sequence[dict[str, int]], width: int = 900,
              height: int = 120) -> dict[str, Any]:
    """Stacked bars of finding counts by status per run (or per day: the day's last run)."""
    groups = buckets(times, counts)
    if not groups:
        return {"bars": [], "width": width, "height": height}
    step = width / len(groups)
    top = max((sum(g[-1].values()) for _, g in groups), default=0) or 1
    bars = []
    for i, (label, group) in enumerate(groups):
        c = group[-1]
        y = float(height)
        rects = []
        for status in BAR_STATUSES:
            h = c.get(status, 0) / top * (height - 4)
            if h > 0:
                y -= h
                rects.append({"status": status, "y": round(y, 2), "h": round(h, 2)})
        title = f"{label}: " + ", ".join(f"{s} {c.get(s, 0)}" for s in BAR_STATUSES)
        bars.append({"x": round(i * step, 2), "w": round(max(step - 1, 1), 2), "rects": rects, "title": title})
    return {"bars": bars, "width": width, "height": height, "top": top}


def theme_overview(states: Sequence[ControlState]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for st in states:
        if not st.applicable:
            continue
        row = rows.setdefault(st.control.theme, {"theme": st.control.theme, "applicable": 0, "passing": 0,
                                                 "failing": 0, "unknown": 0, "manual": 0})
        row["applicable"] += 1
        row[st.status] = row.get(st.status, 0) + 1
    total = {"theme": "All", "applicable": 0, "passing": 0, "failing": 0, "unknown": 0, "manual": 0}
    for row in rows.values():
        for k in ("applicable", "passing", "failing", "unknown", "manual"):
            total[k] += row[k]
    out = [*rows.values(), total]
    for row in out:
        row["pct"] = round(100 * row["passing"] / row["applicable"], 1) if row["applicable"] else 0.0
    return out


def render_control(*, state: ControlState, export: ControlExport, soa_entry: Any, run_times: Sequence[datetime],
                   period: dict[str, Any], generated_at: datetime,
                   procedures: Sequence[dict[str, Any]] | None = None) -> str:
    extra = {} if procedures is None else {"procedures": procedures}  # test procedures and full guidance
    return _env().get_template("control.html").render(
        c=state.control, st=state, x=export, soa=soa_entry, period=period, generated_at=generated_at,
        strip=status_strip(run_times, export.timeline), **extra)


def render_index(*, states: Sequence[ControlState], exports: dict[str, ControlExport],
                 excluded: Sequence[dict[str, Any]], manifest: dict[str, Any], run_times: Sequence[datetime],
                 timeline: Sequence[dict[str, int]], generated_at: datetime) -> str:
    applicable = [st for st in states if st.control.id in exports]
    runs = manifest["runs"]
    return _env().get_template("index.html").render(
        m=manifest, states=applicable, exports=exports, excluded=excluded, themes=theme_overview(applicable),
        chart=bar_chart(run_times, timeline), runs=runs[-200:][::-1], runs_total=len(runs),
        generated_at=generated_at)
