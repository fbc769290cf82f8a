"""Okta policies and what they mean for one user: is a second factor required to sign in?

Okta evaluates policies by priority: the first ACTIVE policy whose people condition includes the
user applies, then the first of its ACTIVE rules whose conditions match the sign-in. We cannot know
each sign-in's network or device, so for a user we consider every rule that could match, in
priority order, up to the first rule that matches any sign-in (a catch-all). MFA counts as
required only if every ALLOW rule among them requires it: an office-network rule that lets a
password alone through is a gap, because a stolen password works from that network.

- The global session policy (`OKTA_SIGN_ON`, the Classic "Okta sign-on policy"):
  `actions.signon.requireFactor`.
- Authentication policies (`ACCESS_POLICY`, Identity Engine only, one per app): the rule's
  `actions.appSignOn.verificationMethod.factorMode == "2FA"`. In Identity Engine a global session
  policy without a factor still leaves MFA to these: if every authentication policy used by an
  app requires 2FA for the user, MFA is required.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIGN_ON, ACCESS, PASSWORD = "OKTA_SIGN_ON", "ACCESS_POLICY", "PASSWORD"


@dataclass
class Policies:
    """Policies of one type, each with `annexa.rules`; `error` when they could not be read."""

    kind: str
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    available: bool = True   # False: the org has no such policies (ACCESS_POLICY in a Classic org)

    @property
    def readable(self) -> bool:
        return self.error is None


def _active_by_priority(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((i for i in items if i.get("status", "ACTIVE") == "ACTIVE"), key=lambda i: i.get("priority") or 0)


def includes(conditions: dict[str, Any] | None, user_id: str, groups: set[str]) -> bool:
    """Does a policy's or rule's people condition take in this user?"""
    people = (conditions or {}).get("people") or {}
    users, grp = people.get("users") or {}, people.get("groups") or {}
    if user_id in (users.get("exclude") or []) or set(grp.get("exclude") or []) & groups:
        return False
    inc_users, inc_groups = users.get("include") or [], grp.get("include") or []
    if inc_users or inc_groups:
        return user_id in inc_users or bool(set(inc_groups) & groups)
    return True


def referenced_groups(policies: list[Policies]) -> set[str]:
    """Group ids named in the people conditions of these policies and their rules."""
    out: set[str] = set()
    for kind in policies:
        for policy in kind.items:
            for item in [policy, *policy.get("annexa", {}).get("rules", [])]:
                grp = ((item.get("conditions") or {}).get("people") or {}).get("groups") or {}
                out.update(grp.get("include") or [])
                out.update(grp.get("exclude") or [])
    return out


def _any_sign_in(rule: dict[str, Any]) -> bool:
    """A rule whose non-people conditions match every sign-in (so later rules are never reached)."""
    cond = rule.get("conditions") or {}
    network = (cond.get("network") or {}).get("connection")
    if network not in (None, "ANYWHERE"):
        return False
    if (cond.get("authContext") or {}).get("authType") not in (None, "ANY"):
        return False
    if (cond.get("riskScore") or {}).get("level") not in (None, "ANY") or (cond.get("risk") or {}).get("behaviors"):
        return False
    if (cond.get("identityProvider") or {}).get("provider") not in (None, "ANY"):
        return False
    return not any(cond.get(key) for key in ("device", "platform", "elCondition", "userType"))


def _reachable_rules(policy: dict[str, Any], user_id: str, groups: set[str]) -> list[dict[str, Any]]:
    out = []
    for rule in _active_by_priority(policy.get("annexa", {}).get("rules", [])):
        if not includes(rule.get("conditions"), user_id, groups):
            continue
        out.append(rule)
        if _any_sign_in(rule):
            break
    return out


def _signon_requires(rule: dict[str, Any]) -> bool:
    return bool(((rule.get("actions") or {}).get("signon") or {}).get("requireFactor"))


def _signon_allows(rule: dict[str, Any]) -> bool:
    return ((rule.get("actions") or {}).get("signon") or {}).get("access", "ALLOW") == "ALLOW"


def _app_requires(rule: dict[str, Any]) -> bool:
    """`ASSURANCE` with factorMode 2FA, or an `AUTH_METHOD_CHAIN` whose every chain has a second step."""
    method = ((rule.get("actions") or {}).get("appSignOn") or {}).get("verificationMethod") or {}
    if method.get("type") == "AUTH_METHOD_CHAIN":
        chains = method.get("chains") or []
        return bool(chains) and all(chain.get("next") for chain in chains)
    return method.get("factorMode") == "2FA"


def _app_allows(rule: dict[str, Any]) -> bool:
    return ((rule.get("actions") or {}).get("appSignOn") or {}).get("access", "ALLOW") == "ALLOW"


def _brief(rule: dict[str, Any], requires: bool) -> dict[str, Any]:
    return {"id": rule.get("id"), "name": rule.get("name"), "mfaRequired": requires}


def signon_mfa(signon: Policies, user_id: str, groups: set[str]) -> dict[str, Any]:
    """What the global session policy requires of this user: `{"mfaRequired": bool|None, ...}`."""
    if not signon.readable:
        return {"mfaRequired": None, "policy": None, "reason": "sign-on policies could not be read"}
    for policy in _active_by_priority(signon.items):
        if not includes(policy.get("conditions"), user_id, groups):
            continue
        if policy.get("annexa", {}).get("rulesError"):
            return {"mfaRequired": None, "policy": policy.get("name"), "reason": "its rules could not be read"}
        allow = [r for r in _reachable_rules(policy, user_id, groups) if _signon_allows(r)]
        required = all(_signon_requires(r) for r in allow)
        return {"mfaRequired": required, "policy": policy.get("name"), "policyId": policy.get("id"),
                "rules": [_brief(r, _signon_requires(r)) for r in allow]}
    return {"mfaRequired": None, "policy": None, "reason": "no active sign-on policy applies"}


def app_mfa(access: Policies, in_use: set[str] | None, user_id: str, groups: set[str]) -> dict[str, Any]:
    """Do all authentication policies that apps use require 2FA for this user?"""
    if not access.available:
        return {"mfaRequired": False, "reason": "no authentication policies (Classic Engine org)"}
    if not access.readable:
        return {"mfaRequired": None, "reason": "authentication policies could not be read"}
    used = [p for p in _active_by_priority(access.items) if in_use is None or p.get("id") in in_use]
    if not used:
        return {"mfaRequired": False, "reason": "no app uses an authentication policy"}
    weak = []
    for policy in used:
        if policy.get("annexa", {}).get("rulesError"):
            return {"mfaRequired": None, "reason": f"rules of {policy.get('name')} could not be read"}
        allow = [r for r in _reachable_rules(policy, user_id, groups) if _app_allows(r)]
        weak += [f"{policy.get('name')} / {r.get('name')}" for r in allow if not _app_requires(r)]
    return {"mfaRequired": not weak, "policies": [p.get("name") for p in used], "weakRules": weak}


def mfa_required(signon: Policies, access: Policies, in_use: set[str] | None, user_id: str,
                 groups: set[str]) -> dict[str, Any]:
    """The combined verdict stored on the user (`annexa.mfaPolicy`), `mfaRequired` None when unknown."""
    session = signon_mfa(signon, user_id, groups)
    out: dict[str, Any] = {"globalSessionPolicy": session}
    if session["mfaRequired"] is None or session["mfaRequired"]:
        out["mfaRequired"] = session["mfaRequired"]
        return out
    apps = app_mfa(access, in_use, user_id, groups)
    out["authenticationPolicies"] = apps
    out["mfaRequired"] = apps["mfaRequired"]
    return out
