"""A Python cross-source rule used by the engine tests: a leaver must have no active account."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from agent.model import Resource, Status
from agent.rules.engine import Evaluation, PythonRuleContext


def leaver_has_no_account(resources: Mapping[str, Sequence[Resource]], ctx: PythonRuleContext
                          ) -> Iterator[Evaluation]:
    leavers = {p.data["email"].lower() for p in resources.get("testkit.person", [])
               if p.data.get("status") == "terminated"}
    for account in resources.get("testkit.account", []):
        email = str(account.data.get("email", "")).lower()
        if email in leavers and account.data.get("active"):
            yield Evaluation(account, Status.FAIL, f"{email} has left but account {account.name} is active")
        else:
            yield Evaluation(account, Status.PASS, f"account {account.name} belongs to a current person")
