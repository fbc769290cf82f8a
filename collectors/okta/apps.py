"""Okta applications and who is assigned to them.

Calls: ceil(apps/200) app pages, then per app ceil(assigned users/500) + ceil(assigned groups/200),
`max_concurrency` apps at a time. Each app's evidence is the API's app object plus, under
`annexa`, its user and group assignments joined with the assigned users' Okta status, so a rule
can see access that outlived the person's Okta account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.http import HttpClient
from collectors.okta.api import APP_GROUPS_PAGE, APP_USERS_PAGE, APPS_PAGE, describe, pages
from collectors.okta.directory import fan_out

CANNOT_SIGN_IN = frozenset({"DEPROVISIONED", "SUSPENDED"})


@dataclass
class Apps:
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    users: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    assignment_errors: dict[str, str] = field(default_factory=dict)

    def access_policies(self) -> set[str] | None:
        """Ids of the authentication policies apps use (None if the apps could not be read)."""
        if self.error is not None:
            return None
        out = set()
        for app in self.items:
            href = (((app.get("_links") or {}).get("accessPolicy")) or {}).get("href")
            if href:
                out.add(href.rstrip("/").rsplit("/", 1)[-1])
        return out


def read_apps(http: HttpClient, workers: int) -> Apps:
    out = Apps()
    try:
        out.items = list(pages(http, "/api/v1/apps", None, APPS_PAGE))
    except Exception as exc:
        out.error = describe(exc)
        return out

    def assignments(app_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        users = list(pages(http, f"/api/v1/apps/{app_id}/users", None, APP_USERS_PAGE))
        groups = list(pages(http, f"/api/v1/apps/{app_id}/groups", None, APP_GROUPS_PAGE))
        return users, groups

    for app_id, result in fan_out(workers, assignments, [a["id"] for a in out.items]).items():
        if isinstance(result, Exception):
            out.assignment_errors[app_id] = describe(result)
        else:
            out.users[app_id], out.groups[app_id] = result
    return out


def annotate(app: dict[str, Any], apps: Apps, users: dict[str, dict[str, Any]], users_error: str | None
             ) -> dict[str, Any]:
    """The `okta.app` evidence: the app with its assignments and the assignees' Okta status."""
    assigned = []
    for entry in apps.users.get(app["id"], []):
        user = users.get(entry.get("id", ""))
        assigned.append({"id": entry.get("id"), "scope": entry.get("scope"), "status": entry.get("status"),
                         "userName": (entry.get("credentials") or {}).get("userName"),
                         "oktaStatus": user.get("status") if user else None,
                         "login": ((user or {}).get("profile") or {}).get("login")})
    groups = [{"id": g.get("id"), "priority": g.get("priority")} for g in apps.groups.get(app["id"], [])]
    inactive = [a for a in assigned if a["oktaStatus"] in CANNOT_SIGN_IN]
    annexa = {"assignedUsers": assigned, "assignedGroups": groups,
              "assignmentsError": apps.assignment_errors.get(app["id"]), "userStatusesError": users_error,
              "inactiveUserAssignments": inactive,
              "inactiveUserLogins": [a["login"] or a["userName"] or a["id"] for a in inactive]}
    return {**app, "annexa": annexa}
