"""Python rules with bugs, for the tests that check a rule's failure stays that rule's `error` findings."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence

from agent.model import Resource, Status
from agent.rules.engine import Evaluation, PythonRuleContext


def raises(resources: Mapping[str, Sequence[Resource]], ctx: PythonRuleContext) -> Iterator[Evaluation]:
    for account in resources.get("testkit.account", []):
        yield Evaluation(account, Status.PASS, "fine so far")
    raise KeyError("email")


def exits(resources: Mapping[str, Sequence[Resource]], ctx: PythonRuleContext) -> Iterator[Evaluation]:
    sys.exit(0)


def returns_garbage(resources: Mapping[str, Sequence[Resource]], ctx: PythonRuleContext) -> list[object]:
    return [{"status": "pass"}]
