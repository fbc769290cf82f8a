"""Entra ID users: the raw user (sign-in activity, type, state), their MFA registration and directory
roles, and one `identity.account` each for the cross-source people rules.

MFA registration comes from the authentication methods report
(`/reports/authenticationMethods/userRegistrationDetails`, Entra ID P1/P2). Without that licence the
collector asks each user's registered methods instead (`/users/{id}/authentication/methods`, 20 users
per `$batch`). Sign-in times (`signInActivity`) also need P1/P2: without them the account's last sign-in
is recorded as unknown, never as "never".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.identity import IDENTITY_TYPE, IdentityAccount
from agent.model import Resource
from collectors.azure.errors import describe, reason
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec, directory
from collectors.azure.services.entra_policies import enforced_for, mfa_enforcement
from collectors.azure.services.entra_roles import pim_state

USER = "azure.entra.user"
# Registered methods that are a second factor (the report's names, then the methods API's @odata.type).
MFA_METHODS = frozenset({
    "microsoftauthenticatorpush", "softwareonetimepasscode", "hardwareonetimepasscode", "mobilephone",
    "alternatemobilephone", "officephone", "fido2securitykey", "windowshelloforbusiness", "passkeydevicebound",
    "passkeydeviceboundauthenticator", "passkeydeviceboundwindowshello", "microsoftauthenticatorpasswordless",
    "macossecureenclavekey",
    "#microsoft.graph.microsoftauthenticatorauthenticationmethod", "#microsoft.graph.phoneauthenticationmethod",
    "#microsoft.graph.fido2authenticationmethod", "#microsoft.graph.softwareoathauthenticationmethod",
    "#microsoft.graph.windowshelloforbusinessauthenticationmethod",
    "#microsoft.graph.platformcredentialauthenticationmethod", "#microsoft.graph.hardwareoathauthenticationmethod",
})


def collect(scope: Scope) -> Iterator[Resource]:
    try:
        users = directory.users(scope)
    except HttpError as exc:
        scope.fail(USER, exc)
        scope.fail(IDENTITY_TYPE, exc)
        return
    registrations, registration_error = _registrations(scope, list(users.by_id))
    roles, roles_error = _roles(scope)
    policies, defaults = mfa_enforcement(scope)
    for user in users.by_id.values():
        data = dict(user)
        data["SignInActivityError"] = users.sign_in_error
        data["MfaRegistration"] = registrations.get(user["id"]) if registrations is not None else None
        data["MfaRegistrationError"] = registration_error
        data["DirectoryRoles"] = roles.get(user["id"], []) if roles is not None else None
        data["DirectoryRolesError"] = roles_error
        raw = scope.resource(USER, scope.graph_id(f"users/{user['id']}"),
                             str(user.get("userPrincipalName") or user["id"]), data, region="global")
        yield raw
        yield _identity(scope, raw, policies, defaults)


def _registrations(scope: Scope, user_ids: list[str]) -> tuple[dict[str, dict[str, Any]] | None, str | None]:
    """user id -> {isMfaRegistered, isMfaCapable, isAdmin, methodsRegistered, source}."""
    try:
        report = list(scope.api.graph_list("/reports/authenticationMethods/userRegistrationDetails"))
        return {str(r.get("id")): {**r, "source": "userRegistrationDetails"} for r in report}, None
    except HttpError as exc:
        if reason(exc) != "licence":
            return None, describe(exc)
        licence_note = describe(exc)
    out: dict[str, dict[str, Any]] = {}
    answers = scope.api.graph_batch([f"/users/{uid}/authentication/methods" for uid in user_ids])
    failures = []
    for uid, answer in zip(user_ids, answers, strict=True):
        if isinstance(answer, HttpError):
            failures.append(describe(answer))
            continue
        kinds = [str(m.get("@odata.type") or "") for m in answer.get("value") or []]
        mfa = any(k.lower() in MFA_METHODS for k in kinds)
        out[uid] = {"isMfaRegistered": mfa, "isMfaCapable": mfa, "isAdmin": None,
                    "methodsRegistered": [k.rsplit(".", 1)[-1].replace("AuthenticationMethod", "") for k in kinds],
                    "source": "authentication/methods"}
    if failures:
        return (out or None), f"{failures[0]} ({len(failures)} users); report: {licence_note}"
    return out, None


def _roles(scope: Scope) -> tuple[dict[str, list[dict[str, Any]]] | None, str | None]:
    """principal id -> [{role, templateId, state}] for active and (with PIM) eligible directory roles."""
    try:
        definitions = directory.role_definitions(scope)
        active = directory.role_assignments(scope)
    except HttpError as exc:
        return None, describe(exc)
    eligible, _instances, pim_error, pim_known = pim_state(scope)
    out: dict[str, list[dict[str, Any]]] = {}
    for state, items in (("active", active), ("eligible", eligible or [])):
        for item in items:
            role_id = str(item.get("roleDefinitionId"))
            template = str((definitions.get(role_id) or {}).get("templateId") or role_id)
            out.setdefault(str(item.get("principalId")), []).append(
                {"role": directory.role_name(definitions, role_id), "templateId": template, "state": state,
                 "privileged": template in directory.PRIVILEGED_ROLES})
    return out, (None if pim_known else pim_error)


def _email(user: dict[str, Any]) -> tuple[str | None, list[str]]:
    upn = str(user.get("userPrincipalName") or "")
    candidates = [user.get("mail"), *(user.get("otherMails") or [])]
    if "#ext#" not in upn.lower() and "@" in upn:
        candidates.append(upn)
    emails: list[str] = []
    for value in candidates:
        if isinstance(value, str) and "@" in value and value.lower() not in {e.lower() for e in emails}:
            emails.append(value)
    return (emails[0] if emails else None), emails


def _last_sign_in(activity: dict[str, Any] | None) -> str | None:
    if not activity:
        return None
    times = [activity.get(k) for k in ("lastSuccessfulSignInDateTime", "lastSignInDateTime",
                                       "lastNonInteractiveSignInDateTime")]
    known = sorted(t for t in times if isinstance(t, str) and t and not t.startswith("0001-"))
    return known[-1] if known else None


def _identity(scope: Scope, raw: Resource, policies: list[dict[str, Any]], defaults: bool | None) -> Resource:
    user = raw.data
    email, emails = _email(user)
    roles = user["DirectoryRoles"]
    privileged = [f"{r['role']} ({r['state']})" for r in roles or [] if r["privileged"]]
    registration = user["MfaRegistration"]
    mfa = registration.get("isMfaRegistered") if registration else None
    methods = sorted({str(m) for m in (registration or {}).get("methodsRegistered") or []})
    enforced: bool | None
    if defaults:
        enforced = True
    elif defaults is None and not policies:
        enforced = None
    else:
        enforced = enforced_for(user["id"], {r["templateId"].lower() for r in roles or []}, policies)
    enabled = user.get("accountEnabled") is True
    account = IdentityAccount(
        provider="azure", tenant=scope.tenant_id, account_id=str(user["id"]), url=raw.id, raw_type=USER,
        login=str(user.get("userPrincipalName") or ""), status="enabled" if enabled else "disabled",
        active=enabled, email=email, emails=emails, display_name=user.get("displayName"), kind="human",
        created=user.get("createdDateTime"), last_login=_last_sign_in(user.get("signInActivity")),
        last_login_known=user.get("SignInActivityError") is None, mfa_enrolled=mfa, mfa_enforced=enforced,
        mfa_methods=methods, privileged=bool(privileged), privileges=privileged,
        external=directory.is_external(user))
    resource = account.to_resource()
    resource.region = "global"
    return resource


SERVICE = ServiceSpec("entra_users", "tenant", {
    USER: "an Entra ID user with its sign-in activity, MFA registration and directory roles",
    IDENTITY_TYPE: "an account in an identity source, in the shared identity shape",
}, collect)
