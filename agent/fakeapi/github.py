"""A simulated GitHub organisation (github.com or GitHub Enterprise Server) behind a `FakeApi`.

`GitHubOrg` holds the tenant: members and their roles, two-factor state, outside collaborators,
invitations, teams, repositories with their branch protection, rulesets, collaborators, webhooks,
deploy keys and security features, the organisation-wide alert listings, the audit log and SAML
identities. `serve(org)` registers GitHub's real request paths and query parameters on a
`FakeApi` (see `github_routes` and `github_graphql`), answering with GitHub's shapes, paging,
ETags, rate-limit headers and error bodies — including what the plan or the token does not expose
(owner-only fields, Enterprise-only audit log, Advanced Security features on private repositories).
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from agent.fakeapi.server import FakeApi

_ids = itertools.count(1000)

SECURITY_OFF = {"advanced_security": "disabled", "secret_scanning": "disabled",
                "secret_scanning_push_protection": "disabled", "dependabot_security_updates": "disabled",
                "secret_scanning_non_provider_patterns": "disabled", "secret_scanning_validity_checks": "disabled"}
SECURITY_ON = {**SECURITY_OFF, "advanced_security": "enabled", "secret_scanning": "enabled",
               "secret_scanning_push_protection": "enabled", "dependabot_security_updates": "enabled"}
DEFAULT_SETTINGS = {
    "default_repository_permission": "read", "members_can_create_repositories": True,
    "two_factor_requirement_enabled": True, "members_allowed_repository_creation_type": "private",
    "members_can_create_public_repositories": False, "members_can_create_private_repositories": True,
    "members_can_create_internal_repositories": True, "members_can_create_pages": True,
    "members_can_create_public_pages": False, "members_can_create_private_pages": True,
    "members_can_fork_private_repositories": False, "web_commit_signoff_required": False,
    "advanced_security_enabled_for_new_repositories": True, "dependabot_alerts_enabled_for_new_repositories": True,
    "dependabot_security_updates_enabled_for_new_repositories": True,
    "dependency_graph_enabled_for_new_repositories": True, "secret_scanning_enabled_for_new_repositories": True,
    "secret_scanning_push_protection_enabled_for_new_repositories": True,
    "secret_scanning_push_protection_custom_link_enabled": False, "secret_scanning_push_protection_custom_link": None,
}
PERMISSION_RANK = {"pull": 0, "read": 0, "triage": 1, "push": 2, "write": 2, "maintain": 3, "admin": 4}


def _id() -> int:
    return next(_ids)


@dataclass
class User:
    login: str
    id: int = field(default_factory=_id)
    email: str | None = None          # public profile e-mail
    name: str | None = None
    kind: str = "User"                # "User" or "Bot"
    verified_domain_emails: list[str] = field(default_factory=list)


@dataclass
class Hook:
    url: str
    insecure_ssl: str = "0"
    secret: bool = True
    active: bool = True
    events: tuple[str, ...] = ("push",)
    id: int = field(default_factory=_id)
    created_at: str = "2024-01-10T09:00:00Z"


@dataclass
class DeployKey:
    title: str
    read_only: bool = True
    added_by: str = "alice"
    last_used: str | None = None
    id: int = field(default_factory=_id)
    created_at: str = "2024-02-01T09:00:00Z"


@dataclass
class Ruleset:
    """A ruleset; `rules` are `{type, parameters}` objects as GitHub stores them."""

    name: str
    rules: list[dict[str, Any]]
    bypass_actors: list[dict[str, Any]] = field(default_factory=list)
    enforcement: str = "active"
    repositories: list[str] | None = None  # org rulesets: repository names it targets (None = all)
    id: int = field(default_factory=_id)


@dataclass
class Repo:
    name: str
    visibility: str = "private"       # public | private | internal
    archived: bool = False
    default_branch: str = "main"
    branch_exists: bool = True        # False for an empty repository
    fork: bool = False
    size: int = 2048
    language: str | None = "Python"
    description: str | None = None
    topics: tuple[str, ...] = ()
    created_at: str = "2023-03-01T10:00:00Z"
    pushed_at: str = "2025-01-20T10:00:00Z"
    security: dict[str, str] = field(default_factory=lambda: dict(SECURITY_ON))
    protection: dict[str, Any] | None = None
    rulesets: list[Ruleset] = field(default_factory=list)
    collaborators: dict[str, str] = field(default_factory=dict)   # login -> pull|triage|push|maintain|admin
    hooks: list[Hook] = field(default_factory=list)
    keys: list[DeployKey] = field(default_factory=list)
    vulnerability_alerts: bool = True
    code_scanning_analyses: int = 1
    id: int = field(default_factory=_id)


@dataclass
class Team:
    name: str
    slug: str
    repos: dict[str, str] = field(default_factory=dict)  # repo name -> permission
    members: list[str] = field(default_factory=list)
    id: int = field(default_factory=_id)


@dataclass
class Invitation:
    login: str | None
    email: str | None
    created_at: str
    role: str = "direct_member"
    inviter: str = "alice"
    id: int = field(default_factory=_id)


@dataclass
class Alert:
    """One open (or closed) alert of Dependabot, code scanning or secret scanning."""

    repo: str
    severity: str                     # critical | high | medium | low
    created_at: str
    state: str = "open"
    package: str = "lodash"
    secret_type: str = "github_personal_access_token"
    secret: str = "ghp_" + "F" * 36   # the leaked value GitHub echoes unless hide_secret=true
    number: int = field(default_factory=_id)


@dataclass
class AuditEvent:
    action: str
    actor: str
    at_ms: int
    fields: dict[str, Any] = field(default_factory=dict)
    document_id: str = ""

    def body(self, org: GitHubOrg) -> dict[str, Any]:
        out = {"@timestamp": self.at_ms, "action": self.action, "actor": self.actor,
               "actor_id": org.user(self.actor).id if self.actor in org.users else None,
               "actor_location": {"country_code": "DE"}, "created_at": self.at_ms,
               "_document_id": self.document_id, "org": org.login, "org_id": org.id,
               "operation_type": "modify", **self.fields}
        if self.action.startswith("git."):
            out.pop("actor_location")
        return out

    def cursor(self) -> str:
        return base64.b64encode(f"{self.at_ms}|{self.document_id}".encode()).decode()


@dataclass
class GitHubOrg:
    """The whole simulated tenant. `viewer` is the user the token belongs to."""

    login: str
    plan: str = "enterprise"          # free | team | enterprise (Enterprise Cloud: audit log API, SAML)
    web: str = "https://github.com"
    token: str = "ghp_fake_token_for_tests_only_0000000000"
    viewer: str | None = None
    name: str | None = None
    description: str | None = None
    is_verified: bool = True
    created_at: str = "2019-05-01T08:00:00Z"
    updated_at: str = "2025-01-01T08:00:00Z"
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    users: dict[str, User] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)     # login -> admin | member
    two_factor_disabled: set[str] = field(default_factory=set)
    outside: set[str] = field(default_factory=set)
    invitations: list[Invitation] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    repos: dict[str, Repo] = field(default_factory=dict)
    org_rulesets: list[Ruleset] = field(default_factory=list)
    dependabot: list[Alert] = field(default_factory=list)
    code_scanning: list[Alert] = field(default_factory=list)
    secret_scanning: list[Alert] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    saml: dict[str, dict[str, Any]] | None = None   # login -> SAML attributes; None: SAML not configured
    saml_sso_url: str = "https://idp.example/sso/saml"
    id: int = field(default_factory=_id)

    # -- building ------------------------------------------------------------------------
    def user(self, login: str, **kw: Any) -> User:
        if login not in self.users:
            self.users[login] = User(login, **kw)
        else:
            for key, value in kw.items():
                setattr(self.users[login], key, value)
        return self.users[login]

    def member(self, login: str, role: str = "member", *, two_factor: bool = True, **user: Any) -> User:
        self.members[login] = role
        (self.two_factor_disabled.discard if two_factor else self.two_factor_disabled.add)(login)
        if self.viewer is None and role == "admin":
            self.viewer = login
        return self.user(login, **user)

    def outside_collaborator(self, login: str, repos: dict[str, str], *, two_factor: bool = True,
                             **user: Any) -> User:
        self.outside.add(login)
        (self.two_factor_disabled.discard if two_factor else self.two_factor_disabled.add)(login)
        for repo, permission in repos.items():
            self.repos[repo].collaborators[login] = permission
        return self.user(login, **user)

    def repo(self, name: str, **kw: Any) -> Repo:
        self.repos[name] = Repo(name, **kw)
        return self.repos[name]

    def event(self, action: str, actor: str, at_ms: int, **fields: Any) -> AuditEvent:
        doc = base64.urlsafe_b64encode(f"{self.login}-{len(self.audit)}-{at_ms}".encode()).decode().rstrip("=")
        event = AuditEvent(action, actor, at_ms, fields, doc[:22])
        self.audit.append(event)
        return event

    # -- what the token's user sees ------------------------------------------------------
    @property
    def viewer_is_owner(self) -> bool:
        return self.viewer is not None and self.members.get(self.viewer) == "admin"

    def repo_permission(self, login: str, repo: Repo) -> str | None:
        """A user's effective permission on a repository (owner, direct, team or base permission)."""
        if self.members.get(login) == "admin":
            return "admin"
        levels = [repo.collaborators.get(login)]
        levels += [t.repos.get(repo.name) for t in self.teams if login in t.members]
        if login in self.members:
            base = self.settings.get("default_repository_permission", "read")
            levels.append(None if base == "none" else base)
        ranked = [lvl for lvl in levels if lvl]
        return max(ranked, key=lambda lvl: PERMISSION_RANK[lvl]) if ranked else None

    def viewer_permissions(self, repo: Repo) -> dict[str, bool]:
        level = PERMISSION_RANK.get(self.repo_permission(self.viewer or "", repo) or "", -1)
        return {"admin": level >= 4, "maintain": level >= 3, "push": level >= 2, "triage": level >= 1,
                "pull": level >= 0 or repo.visibility == "public"}

    def viewer_role(self, repo: Repo) -> str:
        perms = self.viewer_permissions(repo)
        for role, key in (("admin", "admin"), ("maintain", "maintain"), ("write", "push"), ("triage", "triage")):
            if perms[key]:
                return role
        return "read"

    def viewer_is_admin(self, repo: Repo) -> bool:
        return self.viewer_permissions(repo)["admin"]

    def effective_rulesets(self, repo: Repo) -> list[Ruleset]:
        org_sets = [r for r in self.org_rulesets if r.repositories is None or repo.name in r.repositories]
        return [r for r in [*org_sets, *repo.rulesets] if r.enforcement == "active"]


def serve(org: GitHubOrg, fake: FakeApi | None = None, *, prefix: str = "",
          graphql_path: str = "/graphql", rate_limit: tuple[int, float] | None = None) -> FakeApi:
    """Register the organisation's REST and GraphQL routes on `fake` (a new one if None); not started.

    github.com: `prefix=""`, GraphQL at `/graphql`. GitHub Enterprise Server: `prefix="/api/v3"`,
    `graphql_path="/api/graphql"`. `rate_limit=(limit, window_seconds)` adds GitHub's primary rate
    limit (headers on every answer, 403 when spent, 304s free).
    """
    from agent.fakeapi import errors
    from agent.fakeapi.github_graphql import register_graphql
    from agent.fakeapi.github_routes import register_rest

    api = fake or FakeApi(f"github-{org.login}")
    register_rest(api, org, prefix)
    register_graphql(api, org, graphql_path)
    if rate_limit is not None:
        api.rate_limit(rate_limit[0], rate_limit[1], errors.github_rate_limited,
                       headers=errors.github_rate_headers, free_statuses=(304,))
    return api
