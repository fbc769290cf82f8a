"""OSCAL per-interval observations: one observation per (rule, resource) finding interval of the period,
whose ``subjects`` point at inventory items (one per resource, in ``local-definitions``).

Added to the document built by agent.export.oscal. Each control's finding lists, in
``related-observations``, the intervals of its rules that were ``pass`` or ``fail`` (``excepted`` ones
too, they are risk-accepted failures); ``error`` intervals (the rule could not be evaluated, or the
resource type could not be collected) are observations with a remark and are related to no finding,
so they support neither ``satisfied`` nor ``not-satisfied``. A collection scope is not a resource:
its observations name the source component as subject. UUIDs of inventory items and observations are
derived from the store (resource key, interval hash), so the same subject keeps its UUID across
exports. ``methods`` only uses OSCAL's values (here ``TEST``).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import closing
from typing import IO, Any

from agent.export.history import RunIndex, control_findings
from agent.export.population import is_collection_scope
from agent.store.hashing import key_of
from agent.store.timeutil import as_utc

NS_UUID = uuid.UUID("6f1d3c2e-8a4b-5c6d-9e0f-a1b2c3d4e5f6")
NS = "https://annexa.dev/ns/oscal"
RELATED = ("pass", "fail", "excepted")
OBSERVED = ("id", "row_hash", "status", "rule_id", "resource_id", "source", "resource_type", "resource_name",
            "account", "region", "message", "title", "severity", "first_seen", "last_seen", "open", "evidence",
            "exception")  # the columns an observation reads (not the controls list, a JSON column)


def _prop(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "ns": NS, "value": str(value)}


def _ts(value: Any) -> str:
    return as_utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")  # type: ignore[union-attr]


class _Observations:
    """Turns finding interval rows into OSCAL observations, collecting inventory items on the way."""

    def __init__(self, doc: dict[str, Any], control_rules: dict[str, Sequence[str]], folders: dict[str, str]):
        local = doc["assessment-results"]["results"][0].get("local-definitions", {})
        self.components = {c["title"]: c["uuid"] for c in local.get("components", []) if c.get("type") == "service"}
        self.tool = next((c["uuid"] for c in local.get("components", []) if c.get("type") == "software"), None)
        self.folders = folders
        self.rule_controls: dict[str, list[str]] = {}
        for cid, rules in control_rules.items():
            for rule in rules:
                self.rule_controls.setdefault(rule, []).append(cid)
        self.inventory: dict[str, dict[str, Any]] = {}

    def observation(self, row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The observation of one interval, and the controls whose finding relates to it."""
        status = row["status"]
        cids = self.rule_controls.get(row["rule_id"], [])
        components = self.components
        subject: dict[str, Any]
        if is_collection_scope(row["resource_id"]):
            comp = components.get(row["source"])
            subject = {"subject-uuid": comp, "type": "component", "title": row["source"]} if comp else {}
        else:
            rkey = key_of(row["source"], row["resource_type"], row["resource_id"])
            item = self.inventory.get(rkey)
            if item is None:
                item = {"uuid": str(uuid.uuid5(NS_UUID, "resource:" + rkey)),
                        "description": f"{row['resource_type']} {row['resource_name']} from source {row['source']}.",
                        "props": [_prop("resource-id", row["resource_id"]),
                                  _prop("resource-type", row["resource_type"]),
                                  _prop("resource-name", row["resource_name"]), _prop("source", row["source"])]
                        + ([_prop("account", row["account"])] if row["account"] else [])
                        + ([_prop("region", row["region"])] if row["region"] else [])}
                if row["source"] in components:
                    item["implemented-components"] = [{"component-uuid": components[row["source"]]}]
                self.inventory[rkey] = item
            subject = {"subject-uuid": item["uuid"], "type": "inventory-item", "title": row["resource_name"]}
        last_seen = _ts(row["last_seen"])
        obs: dict[str, Any] = {
            "uuid": str(uuid.uuid5(NS_UUID, f"interval:{row['id']}:{row['row_hash']}")),
            "title": f"{row['rule_id']}: {status}",
            "description": row["message"] or row["title"],
            "props": [_prop("rule", row["rule_id"]), _prop("status", status), _prop("severity", row["severity"]),
                      _prop("first-seen", _ts(row["first_seen"])), _prop("last-seen", last_seen),
                      _prop("open", "yes" if row["open"] else "no"), _prop("method-detail", "automated")]
            + [_prop("control-id", cid) for cid in cids],
            "methods": ["TEST"], "types": ["finding"],
            "collected": last_seen,
        }
        if self.tool:
            obs["origins"] = [{"actors": [{"type": "tool", "actor-uuid": self.tool}]}]
        if subject:
            obs["subjects"] = [subject]
        hexd = (row["evidence"] or "").removeprefix("sha256:")
        if hexd and cids and cids[0] in self.folders:
            obs["relevant-evidence"] = [{"href": f"{self.folders[cids[0]]}/evidence/{hexd}.json",
                                         "description": "Configuration snapshot the rule evaluated."}]
        if status == "error":
            obs["remarks"] = ("The rule could not be evaluated (or the resource type could not be collected); "
                              "this observation supports neither satisfied nor not-satisfied.")
        elif status == "not_applicable":
            obs["remarks"] = ("Not collected: a declared, approved and expiring expected gap covers this scope "
                              "(reason, approver and expiry in the description); it supports neither satisfied "
                              "nor not-satisfied.")
        elif status == "excepted":
            obs["remarks"] = f"Failure covered by risk acceptance {row['exception'] or ''}".strip() + "."
        return obs, (cids if status in RELATED else [])


def add_interval_observations(doc: dict[str, Any], store: Any, index: RunIndex, *,
                              control_rules: dict[str, Sequence[str]], folders: dict[str, str]) -> int:
    """Add inventory items and per-interval observations to `doc`; returns the number of observations.

    Holds every observation in memory: the bundle streams them instead (`write_assessment_results`).
    """
    result = doc["assessment-results"]["results"][0]
    local = result.setdefault("local-definitions", {})
    maker = _Observations(doc, control_rules, folders)
    observations: list[dict[str, Any]] = []
    related: dict[str, list[dict[str, str]]] = {cid: [] for cid in control_rules}
    for row in control_findings(store, index, sorted(maker.rule_controls)):
        obs, cids = maker.observation(row)
        observations.append(obs)
        for cid in cids:
            related[cid].append({"observation-uuid": obs["uuid"]})
    if maker.inventory:
        local["inventory-items"] = list(maker.inventory.values())
    if observations:
        result.setdefault("observations", []).extend(observations)
    for finding in result.get("findings", []):
        cid = finding["target"]["target-id"].removesuffix("_obj")
        if related.get(cid):
            finding.setdefault("related-observations", []).extend(related[cid])
    return len(observations)


_MARK = "\x00annexa-stream:"


def write_assessment_results(fh: IO[bytes], doc: dict[str, Any], store: Any, index: RunIndex, *,
                             control_rules: dict[str, Sequence[str]], folders: dict[str, str],
                             rules_in_period: Collection[str] | None = None) -> int:
    """Write `doc` with its interval observations as `json.dumps(doc, indent=1, ensure_ascii=False)` + newline
    would after `add_interval_observations`, byte for byte, without holding the observations.

    Observations are rendered one by one into a temporary file and each control's related-observation
    references into a temporary SQLite table; the document is then rendered with a marker element
    where each list continues, and the markers are replaced by the spilled items as it is written.
    `rules_in_period`: the rules with intervals in the period, when known (no query for the others).
    """
    result = doc["assessment-results"]["results"][0]
    local = result.setdefault("local-definitions", {})
    maker = _Observations(doc, control_rules, folders)
    count = 0
    with tempfile.TemporaryFile() as obs_file, closing(sqlite3.connect("")) as db:
        db.execute("CREATE TABLE related (n INTEGER PRIMARY KEY, cid TEXT, uuid TEXT)")
        pending: list[tuple[str, str]] = []
        queried = sorted(r for r in maker.rule_controls if rules_in_period is None or r in rules_in_period)
        for row in control_findings(store, index, queried, columns=OBSERVED):
            obs, cids = maker.observation(row)
            obs_file.write(render_observation(obs).encode("utf-8") + b"\0")
            count += 1
            pending.extend((cid, obs["uuid"]) for cid in cids)
            if len(pending) >= 5000:
                db.executemany("INSERT INTO related (cid, uuid) VALUES (?, ?)", pending)
                pending.clear()
        db.executemany("INSERT INTO related (cid, uuid) VALUES (?, ?)", pending)
        if maker.inventory:
            local["inventory-items"] = list(maker.inventory.values())
        if count:
            result.setdefault("observations", []).append(_MARK + "observations")
        with_related = {cid for (cid,) in db.execute("SELECT DISTINCT cid FROM related")}
        for finding in result.get("findings", []):
            cid = finding["target"]["target-id"].removesuffix("_obj")
            if cid in with_related:
                finding.setdefault("related-observations", []).append(_MARK + "related:" + cid)
        text = dumps_indented(doc) + "\n"
        marker = json.dumps(_MARK)[:-1]  # the marker's JSON form, without its closing quote
        obs_file.seek(0)
        pos = 0
        while True:
            at = text.find(marker, pos)
            if at < 0:
                break
            line_start = text.rfind("\n", 0, at) + 1
            end = text.index('"', at + len(marker))
            name = json.loads(text[at:end + 1])[len(_MARK):]
            fh.write(text[pos:line_start].encode("utf-8"))
            indent = text[line_start:at]
            if name == "observations":
                items: Iterator[bytes] = _spilled(obs_file)
            else:
                items = (f'{{\n "observation-uuid": {_str(u)}\n}}'.encode() for (u,) in
                         db.execute("SELECT uuid FROM related WHERE cid = ? ORDER BY n", (name[len("related:"):],)))
            _write_items(fh, items, indent.encode("utf-8"))
            pos = end + 1
        fh.write(text[pos:].encode("utf-8"))
    return count


_str = json.encoder.encode_basestring  # the C function when available; keeps non-ASCII as it is


def dumps_indented(value: Any, level: int = 0) -> str:
    """`json.dumps(value, indent=1, ensure_ascii=False)` for the JSON types an OSCAL document holds.

    The standard encoder falls back to its pure-Python implementation whenever `indent` is set; this
    recursion does the same layout several times faster (one string per container, C escaping).
    """
    cls = value.__class__
    if cls is str:
        return _str(value)
    if cls is dict:
        if not value:
            return "{}"
        inner = level + 1
        pad = _PADS[inner] if inner < len(_PADS) else "\n" + " " * inner
        try:
            parts = [_str(k) + ": " + (_str(v) if v.__class__ is str else dumps_indented(v, inner))
                     for k, v in value.items()]
        except TypeError:  # a key that is not a string (the encoder writes it as one)
            parts = [_key(k) + ": " + dumps_indented(v, inner) for k, v in value.items()]
        return "{" + pad + ("," + pad).join(parts) + pad[:-1] + "}"
    if cls is list or cls is tuple:
        if not value:
            return "[]"
        inner = level + 1
        pad = _PADS[inner] if inner < len(_PADS) else "\n" + " " * inner
        return "[" + pad + ("," + pad).join([dumps_indented(v, inner) for v in value]) + pad[:-1] + "]"
    if isinstance(value, str):  # subclasses: as the standard encoder treats them
        return _str(value)
    if isinstance(value, dict):
        return dumps_indented(dict(value), level)
    if isinstance(value, list | tuple):
        return dumps_indented(list(value), level)
    return json.dumps(value)  # numbers, true/false/null: as the standard encoder writes them


_PADS = ["\n" + " " * n for n in range(32)]


def render_observation(obs: dict[str, Any]) -> str:
    """`dumps_indented(obs)` for one interval observation, its lists of flat string objects (props,
    subjects, evidence) and of strings laid out directly instead of through the general recursion.

    A year's export renders hundreds of thousands of observations. Anything else, or a list that turns
    out not to be flat (the string encoder refuses a non-string), goes through `dumps_indented`, so
    the text is the same.
    """
    parts = []
    for key, value in obs.items():
        cls = value.__class__
        if cls is str:
            parts.append(_str(key) + ": " + _str(value))
            continue
        text = None
        if cls is list and value:
            first = value[0].__class__
            try:
                if first is str:
                    text = "[\n  " + ",\n  ".join([_str(v) for v in value]) + "\n ]"
                elif first is dict and all(v for v in value):
                    text = "[\n  " + ",\n  ".join([
                        "{\n   " + ",\n   ".join([_str(k) + ": " + _str(x) for k, x in v.items()]) + "\n  }"
                        for v in value]) + "\n ]"
            except (TypeError, AttributeError):  # not flat after all
                text = None
        parts.append(_str(key) + ": " + (text if text is not None else dumps_indented(value, 1)))
    return "{\n " + ",\n ".join(parts) + "\n}"


def _key(key: Any) -> str:
    return _str(key) if isinstance(key, str) else json.dumps({key: 0})[1:-4]


def _spilled(fh: IO[bytes]) -> Iterator[bytes]:
    """The NUL-separated items of the temporary file (JSON text never holds a raw NUL)."""
    rest = b""
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            break
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _write_items(fh: IO[bytes], items: Iterable[bytes], indent: bytes) -> None:
    """List items as the indenting encoder places them: every line indented, items joined by ",\\n"."""
    first = True
    for item in items:
        if not first:
            fh.write(b",\n")
        first = False
        fh.write(indent + item.replace(b"\n", b"\n" + indent))
