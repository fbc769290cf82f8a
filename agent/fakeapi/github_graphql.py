"""GitHub's GraphQL endpoint for the simulated organisation, executed by a real GraphQL engine.

Only the part of GitHub's schema Annexa reads is declared: the organisation's two-factor
requirement, its SAML identity provider with the external identities (the member ↔ corporate
e-mail join), and members with their verified-domain e-mails. Queries are validated and executed
by graphql-core against this schema, so a malformed query fails as it would on GitHub; the schema
has no mutation type, so a mutation is answered with an error (and never changes anything).
"""

from __future__ import annotations

import base64
from typing import Any

from graphql import build_schema, graphql_sync

from agent.fakeapi.errors import github_error
from agent.fakeapi.github import GitHubOrg
from agent.fakeapi.server import FakeApi, Reply, Request

SCHEMA = build_schema("""
  scalar URI
  type Query {
    organization(login: String!): Organization
    viewer: User!
  }
  type PageInfo { hasNextPage: Boolean! endCursor: String hasPreviousPage: Boolean! startCursor: String }
  type Organization {
    login: String!
    requiresTwoFactorAuthentication: Boolean
    samlIdentityProvider: OrganizationIdentityProvider
    membersWithRole(first: Int, after: String): OrganizationMemberConnection!
  }
  type OrganizationIdentityProvider {
    ssoUrl: URI
    issuer: String
    externalIdentities(first: Int, after: String, login: String): ExternalIdentityConnection!
  }
  type ExternalIdentityConnection { nodes: [ExternalIdentity] pageInfo: PageInfo! totalCount: Int! }
  type ExternalIdentity {
    guid: String!
    samlIdentity: ExternalIdentitySamlAttributes
    user: User
  }
  type ExternalIdentitySamlAttributes {
    nameId: String
    username: String
    givenName: String
    familyName: String
    emails: [UserEmailMetadata!]
  }
  type UserEmailMetadata { value: String! primary: Boolean type: String }
  type User {
    login: String!
    name: String
    email: String!
    organizationVerifiedDomainEmails(login: String!): [String!]!
  }
  type OrganizationMemberEdge { node: User role: String hasTwoFactorEnabled: Boolean cursor: String! }
  type OrganizationMemberConnection {
    nodes: [User] edges: [OrganizationMemberEdge] pageInfo: PageInfo! totalCount: Int!
  }
""")


def _cursor(i: int) -> str:
    return base64.b64encode(f"cursor:{i}".encode()).decode()


def _start(after: str | None) -> int:
    if not after:
        return 0
    try:
        return int(base64.b64decode(after).decode().split(":", 1)[1]) + 1
    except (ValueError, IndexError, UnicodeDecodeError):
        return 0


def _page(items: list[Any], first: int | None, after: str | None) -> tuple[list[Any], dict[str, Any], int]:
    size = max(1, min(first or 100, 100))
    start = _start(after)
    chunk = items[start:start + size]
    end = start + len(chunk) - 1
    info = {"hasNextPage": start + size < len(items), "endCursor": _cursor(end) if chunk else None,
            "hasPreviousPage": start > 0, "startCursor": _cursor(start) if chunk else None}
    return chunk, info, start


def _user(org: GitHubOrg, login: str) -> dict[str, Any]:
    u = org.user(login)
    return {"login": login, "name": u.name, "email": u.email or "",
            "organizationVerifiedDomainEmails": lambda info, login: list(u.verified_domain_emails)
            if login.lower() == org.login.lower() else []}


def _organization(org: GitHubOrg) -> dict[str, Any]:
    owner = org.viewer_is_owner

    def identities(info: Any, first: int | None = None, after: str | None = None,
                   login: str | None = None) -> dict[str, Any]:
        rows = sorted((org.saml or {}).items())
        if login:
            rows = [r for r in rows if r[0] == login]
        chunk, info_, _ = _page(rows, first, after)
        nodes = [{"guid": f"guid-{name}", "user": _user(org, name) if name in org.users else None,
                  "samlIdentity": {"nameId": attrs.get("nameId"), "username": attrs.get("nameId"),
                                   "givenName": attrs.get("givenName"), "familyName": attrs.get("familyName"),
                                   "emails": [{"value": e, "primary": i == 0, "type": "work"}
                                              for i, e in enumerate(attrs.get("emails", []))]}}
                 for name, attrs in chunk]
        return {"nodes": nodes, "pageInfo": info_, "totalCount": len(rows)}

    def members(info: Any, first: int | None = None, after: str | None = None) -> dict[str, Any]:
        rows = sorted(org.members.items())
        chunk, info_, start = _page(rows, first, after)
        edges = [{"node": _user(org, login), "role": "ADMIN" if role == "admin" else "MEMBER",
                  "hasTwoFactorEnabled": (login not in org.two_factor_disabled) if owner else None,
                  "cursor": _cursor(start + i)} for i, (login, role) in enumerate(chunk)]
        return {"nodes": [e["node"] for e in edges], "edges": edges, "pageInfo": info_, "totalCount": len(rows)}

    saml = None
    if org.saml is not None and org.plan == "enterprise" and owner:
        saml = {"ssoUrl": org.saml_sso_url, "issuer": "https://idp.example/issuer", "externalIdentities": identities}
    return {"login": org.login,
            "requiresTwoFactorAuthentication": org.settings.get("two_factor_requirement_enabled") if owner else None,
            "samlIdentityProvider": saml, "membersWithRole": members}


def register_graphql(api: FakeApi, org: GitHubOrg, path: str) -> None:
    def handler(request: Request) -> Reply:
        if request.header("Authorization") != f"Bearer {org.token}":
            return github_error(401, "Bad credentials", "https://docs.github.com/graphql")
        try:
            payload = request.json()
        except ValueError:
            return Reply(200, {"errors": [{"message": "Problems parsing JSON"}]})
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return Reply(200, {"errors": [{"message": "A query attribute must be specified and must be a string."}]})

        def organization(info: Any, login: str) -> dict[str, Any] | None:
            return _organization(org) if login.lower() == org.login.lower() else None

        root = {"organization": organization, "viewer": lambda info: _user(org, org.viewer or "ghost")}
        result = graphql_sync(SCHEMA, payload["query"], root_value=root,
                              variable_values=payload.get("variables") or None)
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [{"message": e.message, "locations": [{"line": loc.line, "column": loc.column}
                                                                  for loc in (e.locations or [])],
                               "path": e.path} for e in result.errors]
        if result.data is not None:
            body["data"] = result.data
        return Reply(200, body)

    api.add("POST", path, handler)
