"""Organisation-level evidence: settings, owners, members and their two-factor state, outside
collaborators, invitations, webhooks, team access, and (GraphQL) SAML single sign-on.

Each reader returns the raw JSON it read or raises; the collector records failures per evidence
item, so one unreadable listing never hides the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collectors.github.api import GitHubApi
from collectors.github.graphql import GraphQL

SAML_QUERY = """
query AnnexaSaml($org: String!, $after: String) {
  organization(login: $org) {
    requiresTwoFactorAuthentication
    samlIdentityProvider {
      ssoUrl
      issuer
      externalIdentities(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { guid samlIdentity { nameId username emails { value primary } } user { login } }
      }
    }
  }
}
"""

EMAILS_QUERY = """
query AnnexaMemberEmails($org: String!, $after: String) {
  organization(login: $org) {
    membersWithRole(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { login email organizationVerifiedDomainEmails(login: $org) }
    }
  }
}
"""


@dataclass
class Readings:
    """What the organisation-level readers found; `errors[key]` says why an item is missing."""

    org: dict[str, Any] = field(default_factory=dict)
    owners: list[dict[str, Any]] | None = None
    members: list[dict[str, Any]] | None = None
    members_2fa_disabled: set[str] | None = None
    outside: list[dict[str, Any]] | None = None
    outside_2fa_disabled: set[str] | None = None
    invitations: list[dict[str, Any]] | None = None
    hooks: list[dict[str, Any]] | None = None
    team_access: dict[str, list[dict[str, Any]]] | None = None  # repo full_name -> [{team, permission}]
    saml: dict[str, Any] | None = None
    saml_identities: dict[str, dict[str, Any]] = field(default_factory=dict)  # login -> SAML attributes
    verified_emails: dict[str, list[str]] = field(default_factory=dict)
    public_emails: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def readers(api: GitHubApi, org: str, graphql: GraphQL | None) -> dict[str, Callable[[Readings], None]]:
    """One reader per evidence item, each filling its part of `Readings` (run concurrently)."""
    base = f"/orgs/{org}"

    def owners(r: Readings) -> None:
        r.owners = api.all(f"{base}/members", {"role": "admin"})

    def members(r: Readings) -> None:
        r.members = api.all(f"{base}/members", {"role": "all"})

    def members_2fa(r: Readings) -> None:
        r.members_2fa_disabled = {u["login"] for u in api.all(f"{base}/members", {"filter": "2fa_disabled"})}

    def outside(r: Readings) -> None:
        r.outside = api.all(f"{base}/outside_collaborators")

    def outside_2fa(r: Readings) -> None:
        r.outside_2fa_disabled = {u["login"] for u in api.all(f"{base}/outside_collaborators",
                                                              {"filter": "2fa_disabled"})}

    def invitations(r: Readings) -> None:
        r.invitations = api.all(f"{base}/invitations")

    def hooks(r: Readings) -> None:
        r.hooks = api.all(f"{base}/hooks")

    def teams(r: Readings) -> None:
        access: dict[str, list[dict[str, Any]]] = {}
        for team in api.all(f"{base}/teams"):
            for repo in api.all(f"{base}/teams/{team['slug']}/repos"):
                access.setdefault(repo["full_name"], []).append(
                    {"team": team["slug"], "permission": repo.get("role_name") or _level(repo.get("permissions"))})
        r.team_access = access

    def saml(r: Readings) -> None:
        assert graphql is not None
        provider: dict[str, Any] | None = None
        identities: dict[str, dict[str, Any]] = {}
        after: str | None = None
        requires_2fa = None
        while True:
            data = graphql.query(SAML_QUERY, {"org": org, "after": after}) or {}
            organization = data.get("organization") or {}
            requires_2fa = organization.get("requiresTwoFactorAuthentication")
            provider = organization.get("samlIdentityProvider")
            if not provider:
                break
            connection = provider.get("externalIdentities") or {}
            for node in connection.get("nodes") or []:
                login = ((node or {}).get("user") or {}).get("login")
                if login:
                    identities[login] = node.get("samlIdentity") or {}
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage") or info.get("endCursor") in (None, after):
                break
            after = info["endCursor"]
        r.saml = {"enabled": provider is not None, "sso_url": (provider or {}).get("ssoUrl"),
                  "issuer": (provider or {}).get("issuer"), "identities": len(identities),
                  "requires_two_factor_graphql": requires_2fa}
        r.saml_identities = identities

    def emails(r: Readings) -> None:
        assert graphql is not None
        for node in graphql.nodes(EMAILS_QUERY, {"org": org}, ("organization", "membersWithRole")):
            if not node:
                continue
            if node.get("organizationVerifiedDomainEmails"):
                r.verified_emails[node["login"]] = list(node["organizationVerifiedDomainEmails"])
            if node.get("email"):
                r.public_emails[node["login"]] = node["email"]

    out = {"owners": owners, "members": members, "members_2fa_disabled": members_2fa, "outside": outside,
           "outside_2fa_disabled": outside_2fa, "invitations": invitations, "hooks": hooks, "teams": teams}
    if graphql is not None:
        out.update({"saml": saml, "emails": emails})
    return out


def _level(permissions: dict[str, bool] | None) -> str | None:
    for name, key in (("admin", "admin"), ("maintain", "maintain"), ("write", "push"), ("triage", "triage"),
                      ("read", "pull")):
        if (permissions or {}).get(key):
            return name
    return None


def organization_document(r: Readings, org: str) -> dict[str, Any]:
    """The `github.organization` evidence: `GET /orgs/{org}` plus the org-level readings under
    documented keys (each `*_error` says why a reading is missing)."""
    doc = dict(r.org)
    owners = sorted(u["login"] for u in r.owners) if r.owners is not None else None
    doc["owners"] = owners
    doc["owner_count"] = len(owners) if owners is not None else None
    doc["member_count"] = len(r.members) if r.members is not None else None
    doc["members_without_2fa"] = sorted(r.members_2fa_disabled) if r.members_2fa_disabled is not None else None
    doc["outside_collaborator_count"] = len(r.outside) if r.outside is not None else None
    doc["pending_invitation_count"] = len(r.invitations) if r.invitations is not None else None
    doc["hooks"] = r.hooks
    doc["saml"] = r.saml
    for key in ("owners", "members", "members_2fa_disabled", "outside", "invitations", "hooks", "saml"):
        if key in r.errors:
            doc[f"{key}_error"] = r.errors[key]
    doc["owner_view"] = "two_factor_requirement_enabled" in r.org
    return doc
