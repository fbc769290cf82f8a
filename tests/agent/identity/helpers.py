"""Build `identity.account` and `hr.person` resources exactly as collectors do, and run the identity rules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from agent.config import IdentityConfig
from agent.identity.shape import IDENTITY_TYPE, PERSON_TYPE, IdentityAccount, Person
from agent.model import Resource
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.rules.params import ParamResolver
from collectors.registry import known_resource_types

NOW = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
TENANTS = {"okta": "acme.okta.com", "google_workspace": "C0acme", "aws": "111111111111", "github": "acme"}


def day(offset: int) -> str:
    """TODAY + offset days, as an ISO date."""
    return (TODAY + timedelta(days=offset)).isoformat()


def ago(days: int) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def account(provider: str, login: str, *, source: str | None = None, active: bool = True,
            email: str | None = None, **fields: Any) -> Resource:
    """One account in the shared shape, as the provider's collector builds it."""
    ids = {"okta": f"https://acme.okta.com/api/v1/users/00u{login.split('@')[0]}",
           "google_workspace": f"https://admin.googleapis.com/admin/directory/v1/users/{login}",
           "aws": f"arn:aws:iam::111111111111:user/{login}",
           "github": f"https://github.com/{login}"}
    defaults: dict[str, Any] = {"mfa_enrolled": True, "mfa_enforced": True, "created": ago(400),
                                "last_login": ago(2)}
    defaults.update(fields)
    acct = IdentityAccount(provider=provider, tenant=TENANTS[provider], account_id=login, url=ids[provider],
                           raw_type=f"{provider}.user", login=login, status="ACTIVE" if active else "SUSPENDED",
                           active=active, email=email if email is not None else (login if "@" in login else None),
                           **defaults)
    resource = acct.to_resource()
    resource.source = source or f"{provider}-main"
    return resource


def person(email: str, *, status: str = "active", start: str | None = None, end: str | None = None,
           row: int | None = None, errors: list[str] | None = None, source: str = "hr",
           origin: str | None = None) -> Resource:
    p = Person(email=email, name=email.split("@")[0].title(), status=status,
               origin=origin or f"file:///hr/roster.csv#{email or row}", start_date=start, end_date=end,
               row=row, errors=errors or [])
    resource = p.to_resource()
    resource.source = source
    return resource


def identity_rules(*ids: str, params: dict[str, Any] | None = None, now: datetime = NOW) -> RuleSet:
    rules = [r for r in load_rules(known_types=set(known_resource_types())) if r.provider == "identity"
             and (not ids or r.id in ids)]
    return RuleSet(rules, now=now, params=ParamResolver(params or {}))


def evaluate(rule_id: str, resources: Iterable[Resource], *, identity: IdentityConfig | None = None,
             params: dict[str, Any] | None = None, now: datetime = NOW) -> dict[str, tuple[str, str]]:
    """{resource id: (status, message)} of one Python identity rule over the given resources."""
    rule_set = identity_rules(rule_id, params=params, now=now)
    compiled = next(c for c in rule_set.python if c.id == rule_id)
    kept: dict[str, list[Resource]] = {IDENTITY_TYPE: [], PERSON_TYPE: []}
    for resource in resources:
        kept[resource.type].append(resource)
    out: dict[str, tuple[str, str]] = {}
    for ev in rule_set.evaluate_python(compiled, kept, identity or IdentityConfig()):
        assert ev.resource.id not in out, f"two findings for {ev.resource.id}"
        out[ev.resource.id] = (ev.status.value, ev.message)
    return out


def today_plus(days: int) -> date:
    return TODAY + timedelta(days=days)
