"""Members' evidence does not depend on the order in which repositories were read."""

from __future__ import annotations

from collectors.github.identity import member_resources
from collectors.github.org import Readings


def _readings() -> Readings:
    user = {"login": "dave", "id": 4, "html_url": "https://github.com/dave", "type": "User"}
    return Readings(org={"two_factor_requirement_enabled": True}, owners=[], members=[user],
                    members_2fa_disabled=set())


def test_repository_admin_list_is_the_same_whatever_order_the_repositories_were_read_in() -> None:
    first = member_resources(_readings(), "acme", {"dave": ["acme/web", "acme/api"]})
    second = member_resources(_readings(), "acme", {"dave": ["acme/api", "acme/web"]})
    assert [r.data for r in first] == [r.data for r in second]
    assert first[0].data["repository_admin_of"] == ["acme/api", "acme/web"]
    assert first[1].data["privileges"] == ["admin of acme/api", "admin of acme/web"]
