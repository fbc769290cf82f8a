"""An Okta user as evidence (`okta.user`: the API's user object plus what Annexa looked up about it under
`annexa`) and in the shared identity shape (`identity.account`).

Status semantics (Okta's user lifecycle):
- ACTIVE, PASSWORD_EXPIRED (signs in, then must change the password), LOCKED_OUT (locked for now,
  unlocked by time, self-service or the help desk: the access is still there) and RECOVERY (a
  password reset in progress) keep the account's access: `active` is true.
- STAGED and PROVISIONED accounts have never been activated: nobody can sign in with them yet.
- SUSPENDED and DEPROVISIONED accounts cannot sign in.

A factor counts as enrolled only when its status is ACTIVE (PENDING_ACTIVATION means enrolment was
started, not finished). E-mail and security-question factors alone do not make MFA: Identity Engine
enrols every user's e-mail for recovery, and a question is something anyone close can guess.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from agent.httpclient.redact import is_secret_name
from agent.identity import IdentityAccount

ABLE_TO_SIGN_IN = frozenset({"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"})
NEVER_ACTIVATED = frozenset({"STAGED", "PROVISIONED"})
WEAK_FACTORS = frozenset({"email", "question", "password"})
SERVICE_MARKER = re.compile(r"service|machine|\bbot\b|non[-_ ]?human", re.IGNORECASE)


def scrub_factor(factor: dict[str, Any]) -> dict[str, Any]:
    """A factor without its enrolment material: a pending TOTP factor carries its shared secret and QR code."""
    return {k: v for k, v in factor.items() if k != "_embedded" and not is_secret_name(k)}


def user_url(user: dict[str, Any], org: str) -> str:
    return ((user.get("_links") or {}).get("self") or {}).get("href") or f"{org}/api/v1/users/{user['id']}"


def tenant_of(org: str) -> str:
    return urlsplit(org).netloc or org


def is_service(user: dict[str, Any], user_type: dict[str, Any] | None, service_types: list[str] | None) -> bool:
    """Only the org's own markers: the user's Okta user type, or the standard `profile.userType` attribute."""
    names = [str((user_type or {}).get(k) or "") for k in ("name", "displayName")]
    if service_types is not None:
        wanted = {s.lower() for s in service_types}
        if any(n.lower() in wanted for n in names if n):
            return True
    elif any(SERVICE_MARKER.search(n) for n in names):
        return True
    return bool(SERVICE_MARKER.search(str((user.get("profile") or {}).get("userType") or "")))


def annotate(user: dict[str, Any], *, factors: list[dict[str, Any]] | None, factors_error: str | None,
             roles: list[dict[str, Any]] | None, roles_error: str | None, user_type: dict[str, Any] | None,
             types_known: bool, service_types: list[str] | None, mfa_policy: dict[str, Any],
             groups: list[str]) -> dict[str, Any]:
    """The `okta.user` evidence: the raw user with `annexa` lookups merged in."""
    status = user.get("status")
    factors = None if factors is None else [scrub_factor(f) for f in factors]
    active_factors = [f for f in factors or [] if f.get("status") == "ACTIVE"]
    strong = [f for f in active_factors if f.get("factorType") not in WEAK_FACTORS]
    if status == "DEPROVISIONED":
        enrolled: bool | None = False  # deactivation removes a user's factors
    elif factors is None:
        enrolled = None
    else:
        enrolled = bool(strong)
    admin = [r for r in roles or [] if r.get("status", "ACTIVE") == "ACTIVE"]
    service = is_service(user, user_type, service_types)
    annexa = {
        "canSignIn": status in ABLE_TO_SIGN_IN,
        "neverActivated": status in NEVER_ACTIVATED,
        "factors": factors, "factorsError": factors_error,
        "activeFactorTypes": sorted({f.get("factorType") for f in active_factors if f.get("factorType")}),
        "pendingFactorTypes": sorted({f.get("factorType") for f in factors or []
                                      if f.get("status") == "PENDING_ACTIVATION" and f.get("factorType")}),
        "mfaEnrolled": enrolled,
        "roles": roles if roles_error is None else None, "rolesError": roles_error,
        "adminRoles": sorted({_role_name(r) for r in admin}),
        "privileged": bool(admin),
        "userType": {k: (user_type or {}).get(k) for k in ("id", "name", "displayName")} if user_type else None,
        "kind": "service" if service else ("human" if types_known or user_type else "unknown"),
        "mfaPolicy": mfa_policy,
        "mfaRequired": mfa_policy.get("mfaRequired"),
        "policyGroups": groups,
    }
    return {**user, "annexa": annexa}


def _role_name(role: dict[str, Any]) -> str:
    return str(role.get("type") if role.get("type") not in (None, "CUSTOM") else role.get("label") or "CUSTOM")


def identity(data: dict[str, Any], org: str) -> IdentityAccount:
    profile = data.get("profile") or {}
    annexa = data["annexa"]
    emails: list[str] = []
    for value in (profile.get("email"), profile.get("secondEmail"), profile.get("login")):
        if isinstance(value, str) and "@" in value and value.lower() not in {e.lower() for e in emails}:
            emails.append(value)
    name = " ".join(p for p in (profile.get("firstName"), profile.get("lastName")) if p) or profile.get("displayName")
    return IdentityAccount(
        provider="okta", tenant=tenant_of(org), account_id=data["id"], url=user_url(data, org), raw_type="okta.user",
        login=profile.get("login") or data["id"], status=str(data.get("status")), active=annexa["canSignIn"],
        email=profile.get("email"), emails=emails, display_name=name or None, kind=annexa["kind"],
        created=data.get("created"), last_login=data.get("lastLogin"), last_login_known=True,
        mfa_enrolled=annexa["mfaEnrolled"], mfa_enforced=annexa["mfaRequired"],
        mfa_methods=annexa["activeFactorTypes"], privileged=annexa["privileged"],
        privileges=annexa["adminRoles"], external=None)
