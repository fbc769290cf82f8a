"""JSON objects exactly as the GitHub REST API returns them (users, organisations, repositories, alerts...).

Field names, types and nesting follow GitHub's REST reference (API version 2022-11-28). Only the
fields a client could rely on are built; URLs are derived the way GitHub derives them.
"""

from __future__ import annotations

from typing import Any

WEB = "https://github.com"


def api_urls(api: str, web: str) -> tuple[str, str]:
    return api.rstrip("/"), web.rstrip("/")


def simple_user(login: str, uid: int, api: str, web: str = WEB, *, kind: str = "User",
                email: str | None = None, name: str | None = None) -> dict[str, Any]:
    """`simple-user`: what listings of members, collaborators and actors return."""
    base = f"{api}/users/{login}"
    user: dict[str, Any] = {
        "login": login, "id": uid, "node_id": f"MDQ6VXNlcj{uid}", "avatar_url": f"https://avatars.example/u/{uid}?v=4",
        "gravatar_id": "", "url": base, "html_url": f"{web}/{login}", "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}", "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs", "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events", "type": kind, "user_view_type": "public",
        "site_admin": False,
    }
    if email is not None:
        user["email"] = email
    if name is not None:
        user["name"] = name
    return user


def organization(org: Any, api: str, web: str, *, owner_view: bool) -> dict[str, Any]:
    """`organization-full`. Settings and plan are only shown to owners (as GitHub does)."""
    base = f"{api}/orgs/{org.login}"
    out: dict[str, Any] = {
        "login": org.login, "id": org.id, "node_id": f"MDEyOk9yZ2FuaXphdGlvbj{org.id}", "url": base,
        "repos_url": f"{base}/repos", "events_url": f"{base}/events", "hooks_url": f"{base}/hooks",
        "issues_url": f"{base}/issues", "members_url": f"{base}/members{{/member}}",
        "public_members_url": f"{base}/public_members{{/member}}",
        "avatar_url": f"https://avatars.example/u/{org.id}?v=4", "description": org.description,
        "name": org.name, "company": None, "blog": "", "location": None, "email": None, "twitter_username": None,
        "is_verified": org.is_verified, "has_organization_projects": True, "has_repository_projects": True,
        "public_repos": sum(1 for r in org.repos.values() if r.visibility == "public"), "public_gists": 0,
        "followers": 0, "following": 0, "html_url": f"{web}/{org.login}", "created_at": org.created_at,
        "updated_at": org.updated_at, "archived_at": None, "type": "Organization",
    }
    if owner_view:
        out.update({
            "total_private_repos": sum(1 for r in org.repos.values() if r.visibility != "public"),
            "owned_private_repos": sum(1 for r in org.repos.values() if r.visibility != "public"),
            "private_gists": 0, "disk_usage": 1024, "collaborators": len(org.outside),
            "billing_email": f"billing@{org.login}.example",
            "plan": {"name": org.plan, "space": 976562499, "private_repos": 999999,
                     "filled_seats": len(org.members), "seats": max(len(org.members), 10)},
            **org.settings,
        })
    return out


def repository(org: Any, repo: Any, api: str, web: str) -> dict[str, Any]:
    """`minimal-repository` as listed by `GET /orgs/{org}/repos` (with `permissions` and, for admins,
    `security_and_analysis`)."""
    full = f"{org.login}/{repo.name}"
    base = f"{api}/repos/{full}"
    owner = simple_user(org.login, org.id, api, web, kind="Organization")
    out: dict[str, Any] = {
        "id": repo.id, "node_id": f"R_kgDO{repo.id}", "name": repo.name, "full_name": full,
        "private": repo.visibility != "public", "owner": owner, "html_url": f"{web}/{full}",
        "description": repo.description, "fork": repo.fork, "url": base,
        "archive_url": f"{base}/{{archive_format}}{{/ref}}", "branches_url": f"{base}/branches{{/branch}}",
        "collaborators_url": f"{base}/collaborators{{/collaborator}}", "hooks_url": f"{base}/hooks",
        "keys_url": f"{base}/keys{{/key_id}}", "teams_url": f"{base}/teams", "git_url": f"git://github.com/{full}.git",
        "ssh_url": f"git@github.com:{full}.git", "clone_url": f"{web}/{full}.git", "homepage": None,
        "language": repo.language, "forks_count": 0, "stargazers_count": 0, "watchers_count": 0, "size": repo.size,
        "default_branch": repo.default_branch, "open_issues_count": 0, "is_template": False,
        "topics": list(repo.topics),
        "has_issues": True, "has_projects": True, "has_wiki": False, "has_pages": False, "has_downloads": True,
        "has_discussions": False, "archived": repo.archived, "disabled": False, "visibility": repo.visibility,
        "pushed_at": repo.pushed_at, "created_at": repo.created_at, "updated_at": repo.pushed_at,
        "permissions": dict(org.viewer_permissions(repo)), "role_name": org.viewer_role(repo),
        "allow_forking": repo.visibility == "public", "web_commit_signoff_required": False,
        "license": None, "forks": 0, "open_issues": 0, "watchers": 0,
    }
    if org.viewer_is_admin(repo):
        out["security_and_analysis"] = {k: {"status": v} for k, v in repo.security.items()}
    return out


def repo_ref(org: Any, repo: Any, api: str, web: str) -> dict[str, Any]:
    """`simple-repository`, embedded in alerts."""
    full = f"{org.login}/{repo.name}"
    return {"id": repo.id, "node_id": f"R_kgDO{repo.id}", "name": repo.name, "full_name": full,
            "owner": simple_user(org.login, org.id, api, web, kind="Organization"),
            "private": repo.visibility != "public", "html_url": f"{web}/{full}", "description": repo.description,
            "fork": repo.fork, "url": f"{api}/repos/{full}"}


def team(org: Any, t: Any, api: str, web: str) -> dict[str, Any]:
    base = f"{api}/organizations/{org.id}/team/{t.id}"
    return {"id": t.id, "node_id": f"T_kwDO{t.id}", "url": base, "html_url": f"{web}/orgs/{org.login}/teams/{t.slug}",
            "name": t.name, "slug": t.slug, "description": "", "privacy": "closed",
            "notification_setting": "notifications_enabled", "permission": "pull",
            "members_url": f"{base}/members{{/member}}", "repositories_url": f"{base}/repos", "parent": None}


def hook(owner_kind: str, base: str, h: Any) -> dict[str, Any]:
    config = {"content_type": "json", "insecure_ssl": h.insecure_ssl, "url": h.url}
    if h.secret:
        config["secret"] = "********"
    url = f"{base}/hooks/{h.id}"
    out = {"type": owner_kind, "id": h.id, "name": "web", "active": h.active, "events": list(h.events),
           "config": config, "updated_at": h.created_at, "created_at": h.created_at, "url": url,
           "ping_url": f"{url}/pings", "deliveries_url": f"{url}/deliveries"}
    if owner_kind == "Repository":
        out["test_url"] = f"{url}/test"
        out["last_response"] = {"code": None, "status": "unused", "message": None}
    return out


def deploy_key(base: str, k: Any) -> dict[str, Any]:
    return {"id": k.id, "key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{k.id:08d}", "url": f"{base}/keys/{k.id}",
            "title": k.title, "verified": True, "created_at": k.created_at, "read_only": k.read_only,
            "added_by": k.added_by, "last_used": k.last_used, "enabled": True}


def collaborator(user: dict[str, Any], permission: str) -> dict[str, Any]:
    """A repository collaborator: a simple-user with `permissions` and `role_name`."""
    order = ["pull", "triage", "push", "maintain", "admin"]
    level = {"read": "pull", "write": "push"}.get(permission, permission)
    rank = order.index(level) if level in order else 0
    role = {"pull": "read", "push": "write"}.get(level, level)
    return {**user, "permissions": {p: i <= rank for i, p in enumerate(order)}, "role_name": role}


def invitation(org: Any, inv: Any, api: str, web: str, inviter: dict[str, Any]) -> dict[str, Any]:
    return {"id": inv.id, "node_id": f"OI_kwDO{inv.id}", "login": inv.login, "email": inv.email, "role": inv.role,
            "created_at": inv.created_at, "failed_at": None, "failed_reason": None, "inviter": inviter,
            "team_count": 0, "invitation_teams_url": f"{api}/organizations/{org.id}/invitations/{inv.id}/teams",
            "invitation_source": "member"}


def protection(base: str, p: dict[str, Any]) -> dict[str, Any]:
    """`branch-protection` from the settings of a classic protection rule."""
    url = f"{base}/protection"
    out: dict[str, Any] = {"url": url}
    if p.get("required_status_checks") is not None:
        checks = list(p["required_status_checks"])
        out["required_status_checks"] = {
            "url": f"{url}/required_status_checks", "strict": bool(p.get("strict", True)), "contexts": checks,
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": c, "app_id": None} for c in checks]}
    if p.get("required_approving_review_count") is not None:
        out["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": bool(p.get("dismiss_stale_reviews", False)),
            "require_code_owner_reviews": bool(p.get("require_code_owner_reviews", False)),
            "required_approving_review_count": int(p["required_approving_review_count"]),
            "require_last_push_approval": bool(p.get("require_last_push_approval", False))}
    out["required_signatures"] = {"url": f"{url}/required_signatures",
                                  "enabled": bool(p.get("required_signatures", False))}
    out["enforce_admins"] = {"url": f"{url}/enforce_admins", "enabled": bool(p.get("enforce_admins", False))}
    out["required_linear_history"] = {"enabled": bool(p.get("required_linear_history", False))}
    out["allow_force_pushes"] = {"enabled": bool(p.get("allow_force_pushes", False))}
    out["allow_deletions"] = {"enabled": bool(p.get("allow_deletions", False))}
    out["block_creations"] = {"enabled": False}
    out["required_conversation_resolution"] = {"enabled": False}
    out["lock_branch"] = {"enabled": False}
    out["allow_fork_syncing"] = {"enabled": False}
    if p.get("restrictions") is not None:
        users, teams = p["restrictions"]
        out["restrictions"] = {"url": f"{url}/restrictions", "users_url": f"{url}/restrictions/users",
                               "teams_url": f"{url}/restrictions/teams", "apps_url": f"{url}/restrictions/apps",
                               "users": users, "teams": teams, "apps": []}
    return out
