"""The timeline and snapshot rows rendered in Python are the bytes the template loops rendered."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.export.html import _env
from agent.export.table_rows import snapshot_rows, timeline_rows

# The loops as they stood in timeline.html and snapshots.html (same environment: autoescape, trim/lstrip).
TIMELINE_LOOP = """  {% for e in rows %}
    <tr><td class="num">{{ first + loop.index0 }}</td><td>{{ e.first_seen|ts }}</td>
      <td>{% if e.open %}still open{% else %}{{ e.last_seen|ts }}{% endif %}</td>
      <td><span class="badge s-{{ e.status }}">{{ e.status }}</span></td><td><code>{{ e.rule_id }}</code></td>
      <td>{{ e.severity }}</td><td>{{ e.resource_name }}<br><span class="mono small">{{ e.resource_id }}</span></td>
      <td>{{ e.message }}</td>
      <td>{% if e.evidence_file %}<a href="{{ e.evidence_file }}">snapshot</a>{% endif %}</td></tr>
  {% endfor %}
"""
SNAPSHOT_LOOP = """  {% for r in rows %}
    <tr><td class="num">{{ first + loop.index0 }}</td>
      <td>{{ r.name }}<br><span class="mono small">{{ r.resource_id }}</span></td><td><code>{{ r.type }}</code></td>
      <td>{{ r.account or "" }} {{ r.region or "" }}</td>
      <td><ol>{% for v in r.versions %}<li>{% if v.missing %}<span class="mono">{{ v.hex[:12] }}</span> (not in the store){% else %}<a class="mono" href="{{ v.href }}">{{ v.hex[:12] }}</a>{% endif %}
        {{ v.first_seen|ts }} &ndash; {{ v.last_seen|ts }}{% if v.open %} (current){% endif %}</li>{% endfor %}</ol></td></tr>
  {% endfor %}
"""  # noqa: E501

T1 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T2 = datetime(2026, 2, 3, 4, 5, 6)  # naive, as SQLite returns it
HOSTILE = '<img src=x onerror="alert(1)"> & \'co\''


def test_timeline_rows_match_the_template_loop() -> None:
    rows = [
        {"first_seen": T1, "last_seen": T2, "open": False, "status": "fail", "rule_id": "r.<1>", "severity": "high",
         "resource_name": HOSTILE, "resource_id": "arn:x/1", "message": HOSTILE, "evidence_file": "evidence/a&b.json"},
        {"first_seen": T2, "last_seen": None, "open": True, "status": "pass", "rule_id": "r2", "severity": None,
         "resource_name": "n", "resource_id": "i", "message": None, "evidence_file": None},
    ]
    for first in (1, 501):
        want = _env().from_string(TIMELINE_LOOP).render(rows=rows, first=first)
        assert str(timeline_rows(rows, first)) == want
    assert "&lt;img" in want and "None" in want  # escaped, and None shown as the template showed it


def test_snapshot_rows_match_the_template_loop() -> None:
    groups = [
        {"name": HOSTILE, "resource_id": "arn:<x>", "type": "t&t", "account": None, "region": "r1", "versions": [
            {"hex": "ab" * 32, "href": "evidence/" + "ab" * 32 + ".json", "missing": False, "first_seen": T1,
             "last_seen": T2, "open": False},
            {"hex": "cd" * 32, "href": "evidence/x.json", "missing": True, "first_seen": T2, "last_seen": T2,
             "open": True}]},
        {"name": "plain", "resource_id": "id", "type": "t", "account": "111", "region": None, "versions": []},
    ]
    want = _env().from_string(SNAPSHOT_LOOP).render(rows=groups, first=7)
    assert str(snapshot_rows(groups, 7)) == want
    assert "(not in the store)" in want and "(current)" in want
