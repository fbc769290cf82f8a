"""The SCIM filter expressions the Okta fake understands (`filter`, `search`)."""

from __future__ import annotations

import pytest

from agent.fakeapi import scim

USER = {"status": "ACTIVE", "lastUpdated": "2024-05-01T10:00:00.000Z",
        "profile": {"login": "Alice@acme.example", "department": None}, "target": [{"id": "a"}, {"id": "b"}]}


@pytest.mark.parametrize(("expression", "expected"), [
    ('status eq "ACTIVE"', True),
    ('status eq "STAGED" or status eq "ACTIVE"', True),
    ('status eq "ACTIVE" and profile.login sw "bob"', False),
    ('(status lt "ACTIVE" or status gt "ACTIVE")', False),
    ('lastUpdated gt "2024-01-01T00:00:00.000Z"', True),
    ("profile.login pr", True),
    ("profile.department pr", False),
    ('not (status eq "ACTIVE")', False),
    ('target.id eq "b"', True),
    ('profile.login co "acme"', True),
])
def test_expressions(expression: str, expected: bool) -> None:
    assert scim.matches(scim.parse(expression), USER) is expected


def test_case_rules() -> None:
    node = scim.parse('profile.login eq "alice@ACME.example"')
    assert not scim.matches(node, USER)                 # filter: values are case-sensitive
    assert scim.matches(node, USER, ignore_case=True)   # search: values are not
    assert scim.parse('status EQ "ACTIVE"') == scim.parse('status eq "ACTIVE"')  # operators never are


@pytest.mark.parametrize("bad", ['status eq', 'status is "ACTIVE"', '(status eq "A"', 'status eq "A" or', ''])
def test_invalid_expressions(bad: str) -> None:
    with pytest.raises(scim.FilterError):
        scim.parse(bad)


def test_comparisons_lists_every_attribute_used() -> None:
    node = scim.parse('status eq "A" or (id eq "x" and not (profile.login sw "y"))')
    assert [(c.path, c.op) for c in scim.comparisons(node)] == [("status", "eq"), ("id", "eq"),
                                                                ("profile.login", "sw")]
