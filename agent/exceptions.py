"""Risk acceptances ("exceptions"): a failing check that the organisation has knowingly accepted.

``exceptions.yaml`` lists acceptances, each with a rule (id or glob), optionally a resource (exact id,
glob, or ``/regex/``), a justification, an owner (the risk owner), an approver and an expiry date; for
the exception register an auditor reads, also the approval date (``approved_on``) and, once withdrawn
early, ``revoked_on`` with a ``revoked_reason`` (both optional, so older files stay valid). During a run, a
``fail`` finding they cover becomes ``excepted``; ``pass`` and ``error`` findings are never touched (an
error means "not evaluated" and must stay visible). An acceptance past its expiry, or revoked, no longer applies.

Expiry: a date (``2026-12-31``) means "through the end of that day, UTC"; a timestamp is exact.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import clock
from agent.errors import InputError
from agent.model import Finding, Status, content_hash
from agent.yamlfile import LineList, key_line, load_yaml_file, load_yaml_text, reject_unknown_keys, scalar_text

if TYPE_CHECKING:
    from agent.config import Config
    from agent.rules.spec import Rule

REQUIRED = ("rule", "justification", "owner", "approved_by", "expires")
KEYS = ("id", "rule", "resource", "justification", "owner", "approved_by", "approved_on", "expires", "revoked_on",
        "revoked_reason")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class RiskException:
    id: str
    rule: str
    resource: str | None
    justification: str
    owner: str
    approved_by: str
    expires: dt.datetime          # first instant at which the acceptance no longer applies (UTC)
    expires_text: str             # as written: "2026-12-31" or a timestamp
    line: int | None = None
    _regex: re.Pattern[str] | None = None
    approved_on: dt.date | None = None
    revoked: dt.datetime | None = None  # first instant at which it no longer applies, when revoked early
    revoked_text: str | None = None
    revoked_reason: str | None = None

    def active(self, now: dt.datetime) -> bool:
        return now < self.expires and (self.revoked is None or now < self.revoked)

    def state(self, now: dt.datetime) -> str:
        """active, expired or revoked at ``now`` (a revocation before the expiry wins)."""
        if self.revoked is not None and now >= self.revoked and self.revoked <= self.expires:
            return "revoked"
        return "active" if self.active(now) else "expired"

    @property
    def ends(self) -> dt.datetime:
        """The first instant at which the acceptance no longer applies."""
        return min(self.expires, self.revoked) if self.revoked is not None else self.expires

    def matches_rule(self, rule_id: str) -> bool:
        return fnmatchcase(rule_id, self.rule)

    def matches_resource(self, resource_id: str) -> bool:
        """Exact id, glob, or /regex/; the whole id must match, so a pattern covers no more than written."""
        if self.resource is None:
            return True
        if self._regex is not None:
            return self._regex.fullmatch(resource_id) is not None
        if _GLOB_CHARS & set(self.resource):
            return fnmatchcase(resource_id, self.resource)
        return resource_id == self.resource

    def covers(self, finding: Finding) -> bool:
        return self.matches_rule(finding.rule) and self.matches_resource(finding.resource_id)

    def as_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        at = now or clock.now()
        return {"id": self.id, "rule": self.rule, "resource": self.resource,
                "justification": self.justification, "owner": self.owner, "approved_by": self.approved_by,
                "approved_on": self.approved_on.isoformat() if self.approved_on else None,
                "expires": self.expires_text, "revoked_on": self.revoked_text, "revoked_reason": self.revoked_reason,
                "state": self.state(at),
                "days_left": max(0, (self.expires - at).days) if self.active(at) else 0}


def _parse_expiry(value: Any, source: str, line: int | None, field: str) -> tuple[dt.datetime, str]:
    when: dt.datetime | None = None
    text = ""
    try:
        if isinstance(value, str) and value.strip():
            text = value.strip()
            value = dt.date.fromisoformat(text) if len(text) == 10 else clock.parse_instant(text)
        if isinstance(value, dt.datetime):
            when = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
            text = when.isoformat().replace("+00:00", "Z")
        elif isinstance(value, dt.date):
            when = dt.datetime.combine(value + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
            text = value.isoformat()
    except (OverflowError, clock.InstantOutOfRange):
        raise InputError(source, f"{text or scalar_text(value)} is out of range: give a date before "
                         "9999-12-31 (an acceptance must expire and be reviewed)", line=line, field=field) from None
    except ValueError:
        when = None
    if when is None:
        raise InputError(source, "must be a date (2026-12-31) or a timestamp (2026-12-31T18:00:00Z)",
                         line=line, field=field)
    return when, text


def _parse_day(value: Any, source: str, line: int | None, field: str) -> dt.date | None:
    """An optional calendar date (2026-01-15); a timestamp is cut to its UTC day."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo is None else value.astimezone(dt.UTC)).date()
    if isinstance(value, dt.date):
        return value
    try:
        text = str(value).strip()
        return dt.date.fromisoformat(text) if len(text) == 10 else clock.parse_instant(text).date()
    except (ValueError, OverflowError, clock.InstantOutOfRange):
        raise InputError(source, "must be a date such as 2026-01-15", line=line, field=field) from None


def _text(entry: Mapping[str, Any], key: str, source: str, where: str, line: int | None) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(source, "must be a text value", line=line, field=f"{where}.{key}")
    text = scalar_text(value).strip()
    return text or None


def _parse_entry(entry: Any, index: int, source: str, line: int | None,
                 known_rules: Sequence[str] | None) -> RiskException:
    where = f"exceptions[{index}]"
    if not isinstance(entry, Mapping):
        raise InputError(source, "must be a mapping with rule, justification, owner, approved_by, expires",
                         line=line, field=where)
    reject_unknown_keys(entry, KEYS, source, line, where)
    texts = {k: _text(entry, k, source, where, key_line(entry, k) or line)
             for k in ("id", "rule", "resource", "justification", "owner", "approved_by", "revoked_reason")}
    for key in REQUIRED:
        if (entry.get(key) is None if key == "expires" else texts[key] is None):
            raise InputError(source, f"required: every risk acceptance needs {', '.join(REQUIRED)}",
                             line=line, field=f"{where}.{key}")
    rule = texts["rule"] or ""
    if known_rules is not None and not any(fnmatchcase(r, rule) for r in known_rules):
        raise InputError(source, f"{rule!r} matches no known rule id (see `annexa rules list`)",
                         line=key_line(entry, "rule") or line, field=f"{where}.rule")
    resource = texts["resource"]
    regex = None
    if resource and len(resource) >= 2 and resource.startswith("/") and resource.endswith("/"):
        try:
            regex = re.compile(resource[1:-1])
        except re.error as exc:
            raise InputError(source, f"invalid regular expression: {exc}",
                             line=key_line(entry, "resource") or line, field=f"{where}.resource") from None
    expires, expires_text = _parse_expiry(entry.get("expires"), source, key_line(entry, "expires") or line,
                                          f"{where}.expires")
    approved_on = _parse_day(entry.get("approved_on"), source, key_line(entry, "approved_on") or line,
                             f"{where}.approved_on")
    if approved_on is not None and dt.datetime.combine(approved_on, dt.time(), tzinfo=dt.UTC) >= expires:
        raise InputError(source, f"approved on {approved_on.isoformat()}, after the expiry {expires_text}",
                         line=key_line(entry, "approved_on") or line, field=f"{where}.approved_on")
    revoked = revoked_text = None
    if entry.get("revoked_on") is not None:
        revoked, revoked_text = _parse_expiry(entry.get("revoked_on"), source,
                                              key_line(entry, "revoked_on") or line, f"{where}.revoked_on")
        if approved_on is not None and revoked.date() <= approved_on:
            raise InputError(source, f"revoked on {revoked_text}, before it was approved on "
                             f"{approved_on.isoformat()}", line=key_line(entry, "revoked_on") or line,
                             field=f"{where}.revoked_on")
    elif texts["revoked_reason"] is not None:
        raise InputError(source, "revoked_reason needs revoked_on (the date the acceptance was withdrawn)",
                         line=key_line(entry, "revoked_reason") or line, field=f"{where}.revoked_on")
    ex_id = texts["id"] or "EX-" + content_hash([rule, resource])[7:15].upper()
    return RiskException(id=ex_id, rule=rule, resource=resource, justification=texts["justification"] or "",
                         owner=texts["owner"] or "", approved_by=texts["approved_by"] or "", expires=expires,
                         expires_text=expires_text, line=line, _regex=regex, approved_on=approved_on,
                         revoked=revoked, revoked_text=revoked_text, revoked_reason=texts["revoked_reason"])


def parse_exceptions(document: Any, source: str,
                     known_rules: Iterable[str] | None = None) -> list[RiskException]:
    """Validate a parsed exceptions document; errors name the file, line and field (exit 2)."""
    rules = sorted(set(known_rules)) if known_rules is not None else None
    if document is None:
        return []
    if not isinstance(document, Mapping):
        raise InputError(source, "must be a mapping with an 'exceptions' list",
                         line=getattr(document, "line", None))
    for key in document:
        if key != "exceptions":
            raise InputError(source, "unknown key: the file has only 'exceptions'", line=key_line(document, key),
                             field=str(key))
    items = document.get("exceptions")
    if items is None:
        return []
    if not isinstance(items, list):
        raise InputError(source, "must be a list of risk acceptances", line=key_line(document, "exceptions"),
                         field="exceptions")
    lines = items.item_lines if isinstance(items, LineList) else [None] * len(items)
    out: list[RiskException] = []
    seen: dict[str, int | None] = {}
    for index, entry in enumerate(items):
        ex = _parse_entry(entry, index, source, lines[index], rules)
        if ex.id in seen:
            raise InputError(source, f"duplicate id {ex.id} (also on line {seen[ex.id]}); "
                             "give each acceptance its own id", line=lines[index],
                             field=f"exceptions[{index}].id")
        seen[ex.id] = lines[index]
        out.append(ex)
    return out


def load_exceptions(path: Path, known_rules: Iterable[str] | None = None) -> list[RiskException]:
    """Load and validate ``exceptions.yaml``. ``known_rules``: rule ids every ``rule`` must match."""
    return parse_exceptions(load_yaml_file(path), str(path), known_rules)


def parse_exceptions_text(text: str, source: str,
                          known_rules: Iterable[str] | None = None) -> list[RiskException]:
    return parse_exceptions(load_yaml_text(text, source), source, known_rules)


def apply_exceptions(finding: Finding, exceptions: Sequence[RiskException], now: dt.datetime) -> Finding:
    """Turn a covered ``fail`` into ``excepted`` (first active acceptance in file order wins)."""
    if finding.status != Status.FAIL:
        return finding
    for ex in exceptions:
        if ex.active(now) and ex.covers(finding):
            finding.status = Status.EXCEPTED
            finding.exception = ex.id
            finding.message = (f"{finding.message} (excepted: {ex.id} until {ex.expires_text}, "
                               f"approved by {ex.approved_by})")
            return finding
    return finding


def finding_hook(exceptions: Sequence[RiskException], now: dt.datetime | None = None
                 ) -> Callable[[Finding], Finding] | None:
    """The runner's finding hook for these acceptances, judged at ``now`` (the run's clock)."""
    at = now or clock.now()
    live = [ex for ex in exceptions if ex.active(at)]
    if not live:
        return None
    return lambda finding: apply_exceptions(finding, live, at)


def finding_hook_from_config(cfg: Config, rules: Iterable[Rule | str] | None = None,
                             now: dt.datetime | None = None) -> Callable[[Finding], Finding] | None:
    """The hook for the config's ``exceptions:`` file; None when no file is configured.

    A configured file that is missing or invalid is an error (exit 2): silently ignoring it would turn
    accepted risks back into failures without saying why.
    """
    path = cfg.exceptions_path
    if path is None:
        return None
    known = None if rules is None else [r if isinstance(r, str) else r.id for r in rules]
    return finding_hook(load_exceptions(path, known), now)
