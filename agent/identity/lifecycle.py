"""Cross-source rules on the account lifecycle: leavers with access, orphan accounts, stale accounts.

They read only `identity.account` and `hr.person` (see agent/identity/shape.py), so a new identity
source needs no change here. Dates are judged on the run's clock (`ctx.now`, which `ANNEXA_NOW`
moves), never on the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime

from agent.identity.join import (
    Directory,
    IdentitySettings,
    PersonRecord,
    PersonState,
    account_label,
    parse_day,
    parse_time,
)
from agent.identity.shape import IDENTITY_TYPE, PERSON_TYPE
from agent.model import Resource, Status
from agent.rules.engine import Evaluation, PythonRuleContext

Resources = Mapping[str, Sequence[Resource]]


def directory(resources: Resources, ctx: PythonRuleContext) -> Directory:
    """Everyone on the HR records of this run, with the accounts that resolve to them."""
    return Directory(resources.get(PERSON_TYPE, ()), resources.get(IDENTITY_TYPE, ()),
                     IdentitySettings.from_config(ctx.identity))


def int_param(ctx: PythonRuleContext, name: str, default: int) -> int:
    value = ctx.params.get(name, default)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def past_grace(state: PersonState, grace: int) -> bool:
    """A leaver whose grace period is over (an unknown leaving date has no grace to give)."""
    return state.state == "left" and (state.days_since_left is None or state.days_since_left > grace)


def since_text(state: PersonState) -> str:
    if state.days_since_left is None:
        return f"has left ({state.reason})"
    return f"left {state.days_since_left} days ago (end date {state.end_date})"


# -- leavers ---------------------------------------------------------------------------------------
def leaver_accounts(resources: Resources, ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """Every account of a person who left (past `leaver_grace_days`) must be disabled, in every source."""
    people = directory(resources, ctx)
    grace = int_param(ctx, "leaver_grace_days", 0)
    today = ctx.now.date()
    for person in people.people.values():
        yield from _judge_leaver(person, person.state(today), grace, people.settings)


def _judge_leaver(person: PersonRecord, state: PersonState, grace: int, settings: IdentitySettings
                  ) -> Iterator[Evaluation]:
    if state.state == "error":
        for account in person.accounts:
            yield Evaluation(account, Status.ERROR, f"{account_label(account)} belongs to {person.key}, whose HR "
                             f"record cannot be used ({person.lines()}: {state.reason}); leaving cannot be judged")
        return
    if state.state != "left":
        for account in person.accounts:
            yield Evaluation(account, Status.PASS, f"{account_label(account)} belongs to {person.key}: {state.reason}")
        return
    holders = [a for a in person.accounts if a.data.get("active") and not settings.service_reason(a.data)]
    still = ", ".join(account_label(a) for a in holders)
    overdue = past_grace(state, grace)
    for account in person.accounts:
        label = account_label(account)
        if account not in holders:
            why = settings.service_reason(account.data)
            text = f"service account ({why})" if why else "disabled"
            yield Evaluation(account, Status.PASS, f"{label}: {person.key} {since_text(state)}; "
                             f"this account is {text}")
        elif overdue:
            yield Evaluation(account, Status.FAIL, f"{label} is still active although {person.key} "
                             f"{since_text(state)}; {len(holders)} active account(s) left: {still}")
        else:
            yield Evaluation(account, Status.PASS, f"{label}: {person.key} {since_text(state)}, within the "
                             f"{grace}-day grace period")
    for record in person.records:
        if holders and overdue:
            yield Evaluation(record, Status.FAIL, f"{person.key} {since_text(state)} and still has {len(holders)} "
                             f"active account(s): {still}")
        else:
            detail = "within the grace period" if holders else (
                f"all {len(person.accounts)} account(s) found are disabled" if person.accounts
                else "no account found in any identity source")
            yield Evaluation(record, Status.PASS, f"{person.key} {since_text(state)}; {detail}")


# -- orphans ---------------------------------------------------------------------------------------
def orphan_accounts(resources: Resources, ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """Active accounts must belong to a current employee, or be a known service account."""
    people = directory(resources, ctx)
    grace = int_param(ctx, "leaver_grace_days", 0)
    allow_external = bool(ctx.params.get("allow_external", False))
    today = ctx.now.date()
    for account in people.accounts:
        if account.data.get("active"):
            yield _judge_orphan(account, people, today, grace, allow_external)


def _judge_orphan(account: Resource, people: Directory, today: date, grace: int,
                  allow_external: bool) -> Evaluation:
    label = account_label(account)
    why = people.settings.service_reason(account.data)
    if why:
        return Evaluation(account, Status.PASS, f"{label} is a service account ({why})")
    owner = people.owner(account)
    if owner is not None:
        state = owner.state(today)
        if state.state == "error":
            return Evaluation(account, Status.ERROR, f"{label} belongs to {owner.key}, whose HR record cannot be "
                              f"used ({owner.lines()}: {state.reason})")
        if past_grace(state, grace):
            return Evaluation(account, Status.FAIL, f"{label} belongs to {owner.key}, who is no longer employed: "
                              f"{since_text(state)}")
        return Evaluation(account, Status.PASS, f"{label} belongs to {owner.key} ({state.reason})")
    if account.data.get("external") and allow_external:
        return Evaluation(account, Status.PASS, f"{label} is an external account, allowed by allow_external")
    tried = people.settings.account_candidates(account.data)
    if people.unidentified:
        return Evaluation(account, Status.ERROR, f"{label} matches no one on the HR records, but "
                          f"{len(people.unidentified)} HR record(s) could not be read ({people.unidentified_lines()}); "
                          "it may belong to one of them")
    hint = (f"no HR record for {', '.join(tried)}" if tried
            else "it has no e-mail; map it with identity.aliases (e.g. "
                 f"'{account.data.get('provider')}:{account.data.get('login')}': someone@company)")
    external = " (an external account)" if account.data.get("external") else ""
    return Evaluation(account, Status.FAIL, f"{label}{external} is active but matches no current employee: {hint}")


# -- stale accounts --------------------------------------------------------------------------------
def stale_accounts(resources: Resources, ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """Active accounts unused for more than `stale_after_days`; new joiners who have not signed in yet pass.

    Accounts of a source that cannot report sign-in times at all (`last_login_known` false) are not
    judged: no finding, because the source will never be able to say (see docs/people.md).
    HR start dates are used when HR records are in the run; the account's creation date otherwise.
    """
    people = directory(resources, ctx)
    limit = int_param(ctx, "stale_after_days", 90)
    for account in people.accounts:
        if account.data.get("active") and account.data.get("last_login_known", True):
            yield _judge_stale(account, people.owner(account), ctx.now, limit)


def _judge_stale(account: Resource, owner: PersonRecord | None, now: datetime, limit: int) -> Evaluation:
    label = account_label(account)
    raw_last = account.data.get("last_login")
    if raw_last:
        last = parse_time(raw_last)
        if last is None:
            return Evaluation(account, Status.ERROR, f"{label}: last sign-in {raw_last!r} is not a timestamp")
        days = (now - last).days
        status = Status.FAIL if days > limit else Status.PASS
        return Evaluation(account, status, f"{label} last signed in {days} days ago (limit {limit})")
    began = _newest_start(account, owner)
    if began is None:
        return Evaluation(account, Status.ERROR, f"{label} has never signed in and neither its creation date nor "
                          "an HR start date is known, so it cannot be told from a new joiner's account")
    age = (now.date() - began).days
    if age <= limit:
        return Evaluation(account, Status.PASS, f"{label} has not signed in yet; it is {age} days old, "
                          f"a joiner within the {limit}-day window")
    return Evaluation(account, Status.FAIL, f"{label} has never signed in since it started {age} days ago "
                      f"(limit {limit})")


def _newest_start(account: Resource, owner: PersonRecord | None) -> date | None:
    """The later of the account's creation day and the owner's HR start day (None if neither is known)."""
    days: list[date] = []
    created = parse_time(account.data.get("created"))
    if created is not None:
        days.append(created.date())
    if owner is not None:
        days.extend(d for d in (parse_day(r.data.get("start_date")) for r in owner.records) if d is not None)
    return max(days) if days else None
