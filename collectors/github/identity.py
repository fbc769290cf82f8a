"""Members and outside collaborators as raw resources and as `identity.account` (the shared shape).

What GitHub tells an organisation owner, and nothing guessed:
* e-mail: the SAML external identity's NameID / e-mails (the corporate identity the member signs in
  with), else an e-mail on a domain the organisation verified, else the public profile e-mail,
  else None;
* sign-in times: not exposed to organisation owners by the API, so `last_login_known=False`;
* MFA: from the `filter=2fa_disabled` listings (owners only), else None;
* privileged: organisation owner, or admin of a repository (directly);
* external: outside collaborators;
* kind: GitHub marks bots (`type: Bot`); otherwise machine users look like people: `unknown`.
"""

from __future__ import annotations

from typing import Any

from agent.identity.shape import IdentityAccount
from agent.model import Resource
from collectors.github.org import Readings

MEMBER_TYPE = "github.member"
OUTSIDE_TYPE = "github.outside_collaborator"


def _email(login: str, r: Readings) -> tuple[str | None, list[str]]:
    emails: list[str] = []
    saml = r.saml_identities.get(login) or {}
    name_id = saml.get("nameId")
    if isinstance(name_id, str) and "@" in name_id:
        emails.append(name_id)
    emails += [e.get("value") for e in saml.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    emails += r.verified_emails.get(login, [])
    if r.public_emails.get(login):
        emails.append(r.public_emails[login])
    unique = list(dict.fromkeys(e.lower() for e in emails if isinstance(e, str)))
    return (unique[0] if unique else None), unique


def member_resources(r: Readings, org: str, repo_admin: dict[str, list[str]]) -> list[Resource]:
    """`github.member` + `identity.account` for every member (empty when members could not be read)."""
    owners = {u["login"] for u in r.owners or []}
    out: list[Resource] = []
    for user in r.members or []:
        login = user["login"]
        admin_of = sorted(set(repo_admin.get(login, [])))  # repositories are read concurrently: any order
        role = "admin" if login in owners else ("member" if r.owners is not None else None)
        two_fa_off = (login in r.members_2fa_disabled) if r.members_2fa_disabled is not None else None
        email, emails = _email(login, r)
        data = {**user, "role": role, "two_factor_disabled": two_fa_off,
                "saml_identity": r.saml_identities.get(login), "repository_admin_of": admin_of}
        if r.members_2fa_disabled is None:
            data["two_factor_error"] = r.errors.get("members_2fa_disabled", "not read")
        out.append(Resource(MEMBER_TYPE, user["html_url"], login, data, account=org))
        privileges = (["organization owner"] if role == "admin" else []) + \
            [f"admin of {repo}" for repo in admin_of]
        out.append(IdentityAccount(
            provider="github", tenant=org, account_id=str(user.get("id")), url=user["html_url"],
            raw_type=MEMBER_TYPE, login=login, status="active", active=True, email=email, emails=emails,
            display_name=user.get("name"), kind="service" if user.get("type") == "Bot" else "unknown",
            last_login=None, last_login_known=False,
            mfa_enrolled=None if two_fa_off is None else not two_fa_off,
            mfa_enforced=_enforced(r), privileged=bool(privileges), privileges=privileges,
            external=False).to_resource())
    return out


def outside_resources(r: Readings, org: str, access: dict[str, list[dict[str, Any]]]) -> list[Resource]:
    """`github.outside_collaborator` (with the repositories it can reach) + `identity.account`."""
    out: list[Resource] = []
    for user in r.outside or []:
        login = user["login"]
        two_fa_off = (login in r.outside_2fa_disabled) if r.outside_2fa_disabled is not None else None
        repos = sorted(access.get(login, []), key=lambda a: a["repository"])
        data = {**user, "repositories": repos, "two_factor_disabled": two_fa_off}
        if r.outside_2fa_disabled is None:
            data["two_factor_error"] = r.errors.get("outside_2fa_disabled", "not read")
        out.append(Resource(OUTSIDE_TYPE, user["html_url"], login, data, account=org))
        admin_of = [a["repository"] for a in repos if a["permission"] == "admin"]
        email, emails = _email(login, r)
        out.append(IdentityAccount(
            provider="github", tenant=org, account_id=str(user.get("id")), url=user["html_url"],
            raw_type=OUTSIDE_TYPE, login=login, status="outside collaborator", active=True, email=email,
            emails=emails, display_name=user.get("name"),
            kind="service" if user.get("type") == "Bot" else "unknown", last_login=None,
            last_login_known=False, mfa_enrolled=None if two_fa_off is None else not two_fa_off,
            mfa_enforced=_enforced(r), privileged=bool(admin_of),
            privileges=[f"admin of {repo}" for repo in admin_of], external=True).to_resource())
    return out


def _enforced(r: Readings) -> bool | None:
    value = r.org.get("two_factor_requirement_enabled")
    return value if isinstance(value, bool) else None
