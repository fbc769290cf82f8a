"""AWS IAM users in the shared identity shape (`identity.account`), beside the raw `aws.iam.user`.

What each field rests on:
- active: a console password (login profile) or at least one `Active` access key: the user can
  sign in or call the API right now;
- email: an `email`/`mail` tag on the user, else the user name when it is an e-mail address;
- last_login: the later of `PasswordLastUsed` and each access key's `LastUsedDate` (IAM records
  both; a user who never used either has none);
- mfa_enrolled: an MFA device is assigned. mfa_enforced: for a console user, an assigned device is
  always asked for at console sign-in, so enforced equals enrolled; for a user without a console
  password MFA only applies where policies demand it, which is not known here (None);
- privileged: `*:*` granted directly or through one of the user's groups (AdministratorAccess or an
  equivalent customer-managed or inline policy);
- kind: IAM has no marker separating people from machines, so it stays `unknown`; name machine
  users in `identity.service_accounts` (e.g. `aws:ci-deployer`).
"""

from __future__ import annotations

from typing import Any

from agent.identity.join import normalise_email
from agent.identity.shape import IdentityAccount
from agent.model import Resource

EMAIL_TAGS = ("email", "mail", "e-mail", "emailaddress", "email_address")


def _email(user: dict[str, Any]) -> str | None:
    for tag in user.get("Tags") or []:
        if str(tag.get("Key", "")).casefold() in EMAIL_TAGS and normalise_email(tag.get("Value")):
            return str(tag["Value"]).strip()
    name = user.get("UserName")
    return name if normalise_email(name) else None


def _mfa_method(serial: str) -> str:
    if ":u2f/" in serial:
        return "security_key"
    if ":mfa/" in serial:
        return "virtual"
    return "hardware"


def _last_use(user: dict[str, Any]) -> str | None:
    """The latest of the console password's and the access keys' last use (ISO strings compare in order)."""
    uses = [user.get("PasswordLastUsed")]
    uses += [(key.get("LastUsed") or {}).get("LastUsedDate") for key in user.get("AccessKeys") or []]
    known = [u for u in uses if isinstance(u, str) and u]
    return max(known) if known else None


def _privileges(user: dict[str, Any], group_admin: dict[str, list[str]]) -> list[str]:
    out = [f"{g.get('PolicyName')} ({g.get('Type')} policy)" for g in user.get("FullAdminGrants") or []]
    for group in user.get("GroupList") or []:
        out.extend(f"{name} (via group {group})" for name in group_admin.get(group, []))
    return out


def identity_account(user_resource: Resource, group_admin: dict[str, list[str]]) -> Resource:
    """The `identity.account` for one collected `aws.iam.user` (its data as the collector stored it)."""
    user = user_resource.data
    console = user.get("LoginProfile") is not None
    keys = [k for k in user.get("AccessKeys") or [] if k.get("Status") == "Active"]
    devices = user.get("MFADevices") or []
    parts = (["console"] if console else []) + (["access_keys"] if keys else [])
    privileges = _privileges(user, group_admin)
    email = _email(user)
    account = IdentityAccount(
        provider="aws", tenant=str(user_resource.account or ""), account_id=str(user.get("UserId") or ""),
        url=user_resource.id, raw_type=user_resource.type, login=str(user.get("UserName") or ""),
        status="+".join(parts) or "no_credentials", active=bool(parts), email=email,
        emails=[email] if email else [], created=user.get("CreateDate"), last_login=_last_use(user),
        last_login_known=True, mfa_enrolled=bool(devices),
        mfa_enforced=bool(devices) if console else None,
        mfa_methods=sorted({_mfa_method(str(d.get("SerialNumber", ""))) for d in devices}),
        privileged=bool(privileges), privileges=privileges, external=False)
    resource = account.to_resource()
    resource.region = user_resource.region
    return resource
