"""Joining people across sources: one person per canonical e-mail, with HR records and accounts.

Keys and how they are normalised:
- an **e-mail** is trimmed, Unicode-normalised (NFKC) and case-folded: ` Bob@ACME.io ` is `bob@acme.io`;
- the domains listed in `identity.domains` are one company: an e-mail in any of them is rewritten to
  the *first* listed domain, so `bob@acme.io` and `bob@acme.com` are one person when both are listed;
- `identity.aliases` maps another identifier to the canonical e-mail. A key is an e-mail (an old
  address, a personal one) or `provider:login` (`github:carol-acme`, `aws:deploy-bot`) for
  accounts that carry no e-mail at all; the value is always an e-mail;
- `identity.service_accounts` holds e-mails or `provider:login` keys, shell-style globs allowed
  (`*-bot@acme.com`, `aws:ci-*`): such accounts are never leavers and never orphans.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

from agent.model import Resource

DEFAULT_LEFT_STATUSES = ("terminated", "inactive", "left", "former", "offboarded", "resigned", "dismissed",
                         "retired", "deceased", "ended", "separated")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROVIDER_KEY = re.compile(r"^[a-z][a-z0-9_]*:[^\s]+$")

State = Literal["current", "joining", "notice", "left", "error"]


def normalise_email(value: Any) -> str | None:
    """The comparable form of an e-mail address, or None if `value` is not one."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value).strip().casefold()
    if text.startswith("mailto:"):
        text = text[len("mailto:"):]
    return text if _EMAIL.match(text) else None


def normalise_key(value: str) -> str | None:
    """An alias or service-account key: an e-mail, or `provider:login` (provider lower-case)."""
    email = normalise_email(value)
    if email is not None:
        return email
    text = unicodedata.normalize("NFKC", value).strip().casefold()
    return text if _PROVIDER_KEY.match(text) else None


def parse_day(value: Any) -> date | None:
    """An ISO date (or the date part of an ISO timestamp); None when absent or not a date."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime; None when absent or unparseable."""
    if not isinstance(value, str) or not value.strip():
        return None
    from agent.clock import parse_instant

    try:
        return parse_instant(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class IdentitySettings:
    """`identity:` of annexa.yaml, normalised once for a run."""

    domains: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    service_patterns: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Any) -> IdentitySettings:
        """From an `IdentityConfig` (or anything with domains/aliases/service_accounts, or None)."""
        if config is None:
            return cls()
        domains = tuple(d.strip().casefold().lstrip("@") for d in getattr(config, "domains", []) or [] if d.strip())
        base = cls(domains=domains)
        aliases: dict[str, str] = {}
        for key, value in (getattr(config, "aliases", {}) or {}).items():
            k, v = normalise_key(str(key)), normalise_email(str(value))
            if k is None or v is None:
                continue  # IdentityConfig validation reports these at config load
            aliases[base._same_company(k)] = base._same_company(v)
        patterns = tuple(unicodedata.normalize("NFKC", p).strip().casefold()
                         for p in getattr(config, "service_accounts", []) or [] if p.strip())
        return cls(domains=domains, aliases=aliases, service_patterns=patterns)

    def _same_company(self, key: str) -> str:
        """Rewrite an e-mail in any listed domain to the first listed domain."""
        local, at, domain = key.rpartition("@")
        if at and self.domains and domain in self.domains:
            return f"{local}@{self.domains[0]}"
        return key

    def canonical(self, email: Any) -> str | None:
        """The person key of an e-mail: normalised, same-company domain, then alias."""
        normal = normalise_email(email)
        if normal is None:
            return None
        key = self._same_company(normal)
        return self.aliases.get(key, key)

    def account_candidates(self, account: Mapping[str, Any]) -> list[str]:
        """Person keys an `identity.account` may belong to, most specific first."""
        out: list[str] = []
        provider = str(account.get("provider") or "").casefold()
        for ident in (account.get("login"), account.get("account_id")):
            if provider and isinstance(ident, str) and ident:
                key = normalise_key(f"{provider}:{ident}")
                if key is not None and key in self.aliases and self.aliases[key] not in out:
                    out.append(self.aliases[key])
        emails: list[Any] = [account.get("email"), *(account.get("emails") or []), account.get("login")]
        for value in emails:
            key = self.canonical(value)
            if key is not None and key not in out:
                out.append(key)
        return out

    def service_reason(self, account: Mapping[str, Any]) -> str | None:
        """Why an account is a service account (its source's marker or identity.service_accounts), or None."""
        if account.get("kind") == "service":
            return f"{account.get('provider')} marks it as a service account"
        if not self.service_patterns:
            return None
        provider = str(account.get("provider") or "").casefold()
        names: list[str] = []
        for value in (account.get("email"), *(account.get("emails") or []), account.get("login")):
            normal = normalise_email(value)
            if normal is not None:
                names.extend({normal, self._same_company(normal)})
        for ident in (account.get("login"), account.get("account_id")):
            if isinstance(ident, str) and ident:
                names.append(unicodedata.normalize("NFKC", f"{provider}:{ident}").strip().casefold())
        for pattern in self.service_patterns:
            if any(fnmatchcase(name, pattern) for name in names):
                return f"listed in identity.service_accounts ({pattern})"
        return None


@dataclass(frozen=True)
class PersonState:
    """Where a person stands on a given day, from every HR record that names them."""

    state: State
    reason: str
    end_date: date | None = None
    start_date: date | None = None
    days_since_left: int | None = None


def record_state(data: Mapping[str, Any], today: date) -> PersonState:
    """The state one HR record gives on `today` (the end date decides; the status word when there is none)."""
    errors = data.get("errors") or []
    if errors:
        return PersonState("error", "; ".join(str(e) for e in errors))
    end, start = parse_day(data.get("end_date")), parse_day(data.get("start_date"))
    if data.get("end_date") and end is None:
        return PersonState("error", f"end date {data.get('end_date')!r} is not a date")
    if end is not None and end < today:
        return PersonState("left", f"left on {end.isoformat()}", end, start, (today - end).days)
    if end is not None:
        return PersonState("notice", f"serving notice until {end.isoformat()}", end, start)
    if start is not None and start > today:
        return PersonState("joining", f"joins on {start.isoformat()}", None, start)
    flagged = data.get("status_left")
    status = str(data.get("status") or "").strip()
    left = flagged if isinstance(flagged, bool) else status.casefold() in DEFAULT_LEFT_STATUSES
    if left:
        return PersonState("left", f"status {status!r} with no end date", None, start, None)
    return PersonState("current", f"employed (status {status or 'not given'!r})", None, start)


_PREFERENCE: dict[State, int] = {"error": 0, "current": 1, "joining": 2, "notice": 3, "left": 4}


def combine(states: Sequence[PersonState]) -> PersonState:
    """One state from several records: an error wins (cannot be judged); then any current employment;
    among leavers, the latest leaving date."""
    ordered = sorted(states, key=lambda s: (_PREFERENCE[s.state],
                                            s.days_since_left if s.days_since_left is not None else -1))
    return ordered[0]


@dataclass
class PersonRecord:
    key: str
    records: list[Resource] = field(default_factory=list)
    accounts: list[Resource] = field(default_factory=list)

    def state(self, today: date) -> PersonState:
        return combine([record_state(r.data, today) for r in self.records])

    def lines(self) -> str:
        """Where the person's records are, for messages (`roster.csv line 12`, an API URL)."""
        return ", ".join(_where(r) for r in self.records)


def _where(record: Resource) -> str:
    row = record.data.get("row")
    origin = str(record.data.get("origin") or record.id)
    if row:
        return f"{origin.split('#', 1)[0].removeprefix('file://')} line {row}"
    return origin


class Directory:
    """People of every HR record in the run, each with the accounts that resolve to them."""

    def __init__(self, persons: Iterable[Resource], accounts: Iterable[Resource], settings: IdentitySettings):
        self.settings = settings
        self.people: dict[str, PersonRecord] = {}
        self.unidentified: list[Resource] = []  # HR rows in error with no usable e-mail
        self._owner: dict[str, PersonRecord | None] = {}
        for person in persons:
            key = settings.canonical(person.data.get("email"))
            if key is None:
                self.unidentified.append(person)
                continue
            self.people.setdefault(key, PersonRecord(key)).records.append(person)
        self.accounts = list(accounts)
        for account in self.accounts:
            owner = next((self.people[k] for k in settings.account_candidates(account.data) if k in self.people),
                         None)
            self._owner[_account_key(account)] = owner
            if owner is not None:
                owner.accounts.append(account)

    def owner(self, account: Resource) -> PersonRecord | None:
        return self._owner.get(_account_key(account))

    def unidentified_lines(self) -> str:
        return ", ".join(_where(r) for r in self.unidentified[:5]) + (
            f" and {len(self.unidentified) - 5} more" if len(self.unidentified) > 5 else "")


def _account_key(account: Resource) -> str:
    return f"{account.source}\x00{account.id}"


def account_label(account: Resource) -> str:
    """`okta:carol@acme.com (acme.okta.com)`: provider, login and tenant, for lists in messages."""
    data = account.data
    return f"{data.get('provider')}:{data.get('login') or data.get('account_id')} ({data.get('tenant')})"
