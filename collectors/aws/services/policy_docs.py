"""IAM-style policy documents (identity, trust and bucket policies) and JSON-safe API data.

Helpers shared by the IAM and S3 service modules. Analyses return plain lists and booleans that
are stored next to the raw document under clearly named keys, so a rule (and an auditor) can see
both the document and what Annexa concluded from it. An unreadable document yields `None`, never
a reassuring `False`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from agent.model import json_data

ACCOUNT_IN_ARN = re.compile(r"^arn:[^:]+:(?:iam|sts)::(\d{12}):")
ACCOUNT_ID = re.compile(r"^\d{12}$")
# Condition keys that tie a wildcard principal to the caller's organisation or to a fixed account.
ORG_KEYS = ("aws:principalorgid", "aws:principalorgpaths", "aws:resourceorgid")
SCOPING_KEYS = (*ORG_KEYS, "aws:principalaccount", "aws:sourceaccount", "aws:sourcearn", "aws:sourcevpce",
                "aws:sourcevpc", "aws:sourceip", "aws:principalarn", "aws:userid", "aws:sourceowner")


def plain(value: Any) -> Any:
    """API data made JSON-safe: datetimes as ISO 8601 UTC strings ("…Z"), bytes as base64."""
    return json_data(value)


def load_document(value: Any) -> dict[str, Any] | None:
    """A policy document as a dict. boto3 usually decodes IAM documents already; S3 returns a JSON
    string; some IAM paths return the RFC 3986 URL-encoded text. None when it cannot be read."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    for text in (value, unquote(value)):
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(document: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [s for s in as_list((document or {}).get("Statement")) if isinstance(s, dict)]


OPEN_VALUES = frozenset({"*", "0.0.0.0/0", "::/0"})


def _condition_keys(statement: dict[str, Any]) -> dict[str, list[Any]]:
    """Condition keys (lower-cased) → their values, across all operators.

    A key whose every value is a bare wildcard or an open network (`*`, `0.0.0.0/0`, `::/0`)
    narrows nothing (`aws:PrincipalOrgID: "*"` matches every caller), so it is left out: such a
    condition never turns a public statement into a private one.
    """
    out: dict[str, list[Any]] = {}
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return out
    for block in condition.values():
        if isinstance(block, dict):
            for key, values in block.items():
                listed = as_list(values)
                if listed and all(str(v).strip() in OPEN_VALUES for v in listed):
                    continue
                out.setdefault(str(key).lower(), []).extend(listed)
    return out


def allows_full_admin(document: Any) -> bool | None:
    """True if the document allows every action on every resource (`*:*`); None if unreadable.

    An `Allow` of `*` on `*` grants everything unless the same document takes something back with
    an unconditional `Deny` (an explicit deny always wins, so the policy no longer allows every
    action). A `Deny` that only applies under a condition (e.g. "without MFA") still leaves full
    administration available, so it does not count. `NotAction` allows (PowerUser-style) are not
    full administration.
    """
    doc = load_document(document)
    if doc is None:
        return None
    grants = False
    for st in statements(doc):
        if st.get("Effect") != "Allow" or "Action" not in st:
            continue
        actions = {str(a) for a in as_list(st.get("Action"))}
        resources = {str(r) for r in as_list(st.get("Resource"))}
        if actions & {"*", "*:*"} and "*" in resources:
            grants = True
    if not grants:
        return False
    return not any(st.get("Effect") == "Deny" and not st.get("Condition")
                   and (as_list(st.get("Action")) or as_list(st.get("NotAction")))
                   for st in statements(doc))


def _principal_values(principal: Any) -> list[tuple[str, str]]:
    """(kind, value) pairs of a Principal element; the bare string "*" means everyone."""
    if principal == "*":
        return [("AWS", "*")]
    if not isinstance(principal, dict):
        return []
    return [(str(kind), str(v)) for kind, values in principal.items() for v in as_list(values)]


def is_public_principal(principal: Any) -> bool:
    return any(kind == "AWS" and value == "*" for kind, value in _principal_values(principal))


def public_statements(document: Any) -> list[dict[str, Any]] | None:
    """Allow statements open to everyone (`*` principal) with no condition that scopes the caller.
    None if the document cannot be read."""
    doc = load_document(document)
    if doc is None:
        return None
    out = []
    for st in statements(doc):
        if st.get("Effect") != "Allow" or not is_public_principal(st.get("Principal")):
            continue
        keys = _condition_keys(st)
        if any(k in keys for k in SCOPING_KEYS):
            continue
        out.append(st)
    return out


def denies_insecure_transport(document: Any) -> bool | None:
    """True if a Deny statement for everyone covers all S3 actions when `aws:SecureTransport` is false."""
    doc = load_document(document)
    if doc is None:
        return None
    for st in statements(doc):
        if st.get("Effect") != "Deny" or not is_public_principal(st.get("Principal")):
            continue
        if not {str(a).lower() for a in as_list(st.get("Action"))} & {"*", "s3:*"}:
            continue
        condition = st.get("Condition") if isinstance(st.get("Condition"), dict) else {}
        for operator, block in condition.items():
            if not isinstance(block, dict) or operator.lower() not in ("bool", "boolifexists"):
                continue
            for key, values in block.items():
                if key.lower() == "aws:securetransport" and "false" in {str(v).lower() for v in as_list(values)}:
                    return True
    return False


def trusted_principals(document: Any, own_account: str, known_accounts: set[str]) -> list[dict[str, Any]] | None:
    """AWS principals outside the known accounts that a trust policy lets assume the role.

    One entry per (statement, principal) with the account (or "*"), and whether the statement
    requires an `sts:ExternalId` or restricts callers to an organisation. None if unreadable.
    """
    doc = load_document(document)
    if doc is None:
        return None
    out: list[dict[str, Any]] = []
    for index, st in enumerate(statements(doc)):
        if st.get("Effect") != "Allow":
            continue
        keys = _condition_keys(st)
        for kind, value in _principal_values(st.get("Principal")):
            if kind != "AWS":
                continue
            if value == "*":
                account = "*"
            else:
                match = ACCOUNT_IN_ARN.match(value)
                account = match.group(1) if match else (value if ACCOUNT_ID.match(value) else "?")
            if account == own_account or account in known_accounts:
                continue
            out.append({"Statement": index, "Principal": value, "Account": account,
                        "ExternalIdRequired": "sts:externalid" in keys,
                        "OrganizationRestricted": any(k in keys for k in ORG_KEYS)})
    return out
