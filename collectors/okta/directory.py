"""Reading the Okta directory: users in every status, user types, group members, admin roles, factors.

Calls for an org of N users (D of them deprovisioned, A with admin roles, G groups named in
policies): ceil((N-D)/200) + ceil(D/200) user pages, 1 user-type call, G group reads plus their
member pages, ceil(A/100) + A role calls, and N-D factor calls (deprovisioned users hold no
usable factors). The per-user calls run `max_concurrency` at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin

from agent.http import HttpClient, HttpError, parse_link_header
from collectors.okta.api import MEMBERS_PAGE, USERS_PAGE, describe, pages

# The default list omits DEPROVISIONED users; this documented search returns exactly those.
DEPROVISIONED_SEARCH = 'status eq "DEPROVISIONED"'

T = TypeVar("T")


@dataclass
class Directory:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    users_error: str | None = None
    user_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_types_error: str | None = None
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)      # referenced groups
    members: dict[str, set[str]] = field(default_factory=dict)           # group id -> user ids
    everyone: set[str] = field(default_factory=set)                      # ids of BUILT_IN "Everyone" groups
    groups_error: str | None = None
    roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    roles_error: str | None = None
    factors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    factor_errors: dict[str, str] = field(default_factory=dict)

    def groups_of(self, user_id: str) -> set[str]:
        return {g for g, ids in self.members.items() if user_id in ids} | self.everyone


def fan_out(workers: int, fn: Callable[[str], T], keys: Iterable[str]) -> dict[str, T | Exception]:
    """`fn(key)` for every key, `workers` at a time; an exception is the result of its key."""
    def safe(key: str) -> T | Exception:
        try:
            return fn(key)
        except Exception as exc:  # reported per key by the caller
            return exc

    keys = list(keys)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="okta") as pool:
        return dict(zip(keys, pool.map(safe, keys), strict=True))


def read_users(http: HttpClient, d: Directory) -> None:
    try:
        for user in pages(http, "/api/v1/users", None, USERS_PAGE):
            d.users[user["id"]] = user
        try:
            deprovisioned = list(pages(http, "/api/v1/users", {"search": DEPROVISIONED_SEARCH}, USERS_PAGE))
        except HttpError as exc:
            if exc.status != 400:
                raise
            # An org that refuses the search expression: `filter` (also documented) returns the same users.
            deprovisioned = list(pages(http, "/api/v1/users", {"filter": DEPROVISIONED_SEARCH}, USERS_PAGE))
        for user in deprovisioned:
            d.users.setdefault(user["id"], user)
    except Exception as exc:
        d.users_error = describe(exc)


def read_user_types(http: HttpClient, d: Directory) -> None:
    try:
        d.user_types = {t["id"]: t for t in http.get_json("/api/v1/meta/types/user")}
    except Exception as exc:
        d.user_types_error = describe(exc)


def read_groups(http: HttpClient, d: Directory, group_ids: set[str]) -> None:
    """The groups policies name, and their members (the built-in Everyone group is everyone)."""
    try:
        for group_id in sorted(group_ids):
            group = http.get_json(f"/api/v1/groups/{group_id}")
            d.groups[group_id] = group
            if group.get("type") == "BUILT_IN" and (group.get("profile") or {}).get("name") == "Everyone":
                d.everyone.add(group_id)
                continue
            d.members[group_id] = {u["id"] for u in pages(http, f"/api/v1/groups/{group_id}/users", None,
                                                           MEMBERS_PAGE)}
    except Exception as exc:
        d.groups_error = describe(exc)


def read_roles(http: HttpClient, d: Directory, workers: int) -> None:
    """Users holding admin roles (`/api/v1/iam/assignees/users`), then each one's role assignments.

    Cheaper than asking every user for roles: the assignee list is usually a handful of people.
    Assignments through a group are returned too (`assignmentType: GROUP`). An org without the
    assignee listing (404) is asked user by user instead.
    """
    try:
        assignees = [a["id"] for a in _assignee_pages(http)]
    except HttpError as exc:
        if exc.status != 404:
            d.roles_error = describe(exc)
            return
        # No assignee listing in this org: ask every user who can hold a role (one call per user).
        assignees = [uid for uid, u in d.users.items() if u.get("status") != "DEPROVISIONED"]
    except Exception as exc:
        d.roles_error = describe(exc)
        return
    results = fan_out(workers, lambda uid: http.get_json(f"/api/v1/users/{uid}/roles"), assignees)
    for user_id, result in results.items():
        if isinstance(result, Exception):
            d.roles_error = describe(result)
            return
        d.roles[user_id] = list(result)


def _assignee_pages(http: HttpClient) -> Iterator[dict[str, Any]]:
    """`/api/v1/iam/assignees/users`: `{"value": [...]}` pages, the next one in `_links.next.href` (or `Link`)."""
    url: str | None = "/api/v1/iam/assignees/users"
    params: dict[str, Any] | None = {"limit": 100}
    seen: set[str] = set()
    while url is not None:
        response = http.request("GET", url, params=params)
        body = response.json()
        yield from body.get("value", []) if isinstance(body, dict) else body
        following = ((body.get("_links") or {}).get("next") or {}).get("href") if isinstance(body, dict) else None
        if not following:
            following = next((urljoin(response.url, link.target) for link in
                              parse_link_header(response.headers.get("Link", "")) if "next" in link.rels), None)
        if following in seen:
            return
        url, params = following, None
        if following:
            seen.add(following)


def read_factors(http: HttpClient, d: Directory, workers: int) -> None:
    wanted = [uid for uid, u in d.users.items() if u.get("status") != "DEPROVISIONED"]
    results = fan_out(workers, lambda uid: http.get_json(f"/api/v1/users/{uid}/factors"), wanted)
    for user_id, result in results.items():
        if isinstance(result, Exception):
            d.factor_errors[user_id] = describe(result)
        else:
            d.factors[user_id] = list(result)
