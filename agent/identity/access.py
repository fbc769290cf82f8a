"""Cross-source rules on authentication and privilege: MFA everywhere, privileged accounts.

Unknown is never a pass: an account whose source could not say whether MFA is enrolled or
enforced is `error`. Service accounts (their source's marker, or `identity.service_accounts`) are
machines: the MFA rules skip them and `identity.service_account_not_privileged` judges them instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from agent.identity.join import Directory, PersonRecord, account_label
from agent.identity.lifecycle import Resources, directory, int_param, past_grace, since_text
from agent.identity.shape import PERSON_TYPE
from agent.model import Resource, Status
from agent.rules.engine import Evaluation, PythonRuleContext


def _humans(people: Directory) -> Iterator[Resource]:
    """Active accounts that are not service accounts."""
    for account in people.accounts:
        if account.data.get("active") and not people.settings.service_reason(account.data):
            yield account


def _methods(account: Resource) -> str:
    methods = account.data.get("mfa_methods") or []
    return f" ({', '.join(str(m) for m in methods)})" if methods else ""


def mfa_enrolled(resources: Resources, ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """Every active human account, in every source, has a second factor enrolled."""
    for account in _humans(directory(resources, ctx)):
        label = account_label(account)
        enrolled = account.data.get("mfa_enrolled")
        if enrolled is True:
            yield Evaluation(account, Status.PASS, f"{label} has MFA enrolled{_methods(account)}")
        elif enrolled is False:
            yield Evaluation(account, Status.FAIL, f"{label} is active with no second factor enrolled")
        else:
            yield Evaluation(account, Status.ERROR, f"{label}: {account.data.get('provider')} did not report "
                             "whether MFA is enrolled, so it cannot be judged")


def privileged_mfa_enforced(resources: Resources, ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """Privileged human accounts cannot sign in without a second factor."""
    for account in _humans(directory(resources, ctx)):
        if not account.data.get("privileged"):
            continue
        label = account_label(account)
        enforced, enrolled = account.data.get("mfa_enforced"), account.data.get("mfa_enrolled")
        if enforced is True:
            yield Evaluation(account, Status.PASS, f"{label} is privileged and MFA is enforced at sign-in")
        elif enforced is False or enrolled is False:
            what = "no second factor is enrolled" if enrolled is False else "MFA is not enforced at sign-in"
            yield Evaluation(account, Status.FAIL, f"{label} is privileged ({_privileges(account)}) but {what}")
        else:
            yield Evaluation(account, Status.ERROR, f"{label} is privileged but {account.data.get('provider')} did "
                             "not report whether MFA is enforced for it")


def _privileges(account: Resource) -> str:
    return ", ".join(str(p) for p in account.data.get("privileges") or []) or "privileged"


def privileged_access_review(resources: Resources, ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """The privileged accounts of every source, one finding each: the population of the access review.

    Fails when the holder has left, matches nobody on the HR records (when HR records are in the run)
    or has no second factor; `error` when the holder's HR record or the MFA state cannot be read.
    """
    people = directory(resources, ctx)
    grace = int_param(ctx, "leaver_grace_days", 0)
    has_hr = bool(resources.get(PERSON_TYPE))
    today = ctx.now.date()
    for account in people.accounts:
        if account.data.get("active") and account.data.get("privileged"):
            yield _review(account, people, people.owner(account), has_hr, grace, today)


def _review(account: Resource, people: Directory, owner: PersonRecord | None, has_hr: bool, grace: int,
            today: date) -> Evaluation:
    label = f"{account_label(account)} holds {_privileges(account)}"
    service = people.settings.service_reason(account.data)
    problems: list[str] = []
    unknown: list[str] = []
    holder = f"service account ({service})" if service else "holder not checked against HR (no HR records in the run)"
    if owner is not None and not service:
        state = owner.state(today)
        holder = f"holder {owner.key}: {state.reason}"
        if state.state == "error":
            unknown.append(f"the holder's HR record cannot be used ({owner.lines()})")
        elif past_grace(state, grace):
            problems.append(f"the holder {owner.key} {since_text(state)}")
    elif has_hr and not service:
        holder = "matches no one on the HR records"
        problems.append("it matches no current employee")
    if not service:
        if account.data.get("mfa_enrolled") is False:
            problems.append("no second factor is enrolled")
        elif account.data.get("mfa_enrolled") is None:
            unknown.append("its MFA state was not reported")
    if problems:
        return Evaluation(account, Status.FAIL, f"{label}; {'; '.join(problems)}")
    if unknown:
        return Evaluation(account, Status.ERROR, f"{label}; cannot be judged: {'; '.join(unknown)}")
    return Evaluation(account, Status.PASS, f"{label}; {holder}")


def service_account_not_privileged(resources: Resources, ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """Service accounts hold no standing administrator rights (a stolen machine key must not own the tenant)."""
    people = directory(resources, ctx)
    for account in people.accounts:
        why = people.settings.service_reason(account.data)
        if not (account.data.get("active") and why):
            continue
        label = account_label(account)
        if account.data.get("privileged"):
            yield Evaluation(account, Status.FAIL, f"{label} is a service account ({why}) with standing "
                             f"administrator rights: {_privileges(account)}")
        else:
            yield Evaluation(account, Status.PASS, f"{label} is a service account ({why}) without administrator "
                             "rights")
