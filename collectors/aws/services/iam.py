"""IAM (global, once per account): users, access keys, roles, groups, customer-managed policies,
the root user, the password policy.

Policies, groups, roles and users' policy attachments come from one paginated
GetAccountAuthorizationDetails; per-user lookups (login profile, MFA devices, access keys and
their last use) run on a small thread pool. Analyses of policy documents are stored next to the
documents: `AllowsFullAdmin` on each inline or managed policy, `FullAdminGrants` on principals,
`ExternalTrust` on roles.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent.identity.shape import IDENTITY_TYPE
from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services import iam_account as account
from collectors.aws.services.iam_identity import identity_account
from collectors.aws.services.policy_docs import allows_full_admin, load_document, plain, trusted_principals

USER = "aws.iam.user"
ACCESS_KEY = "aws.iam.access_key"
ROLE = "aws.iam.role"
GROUP = "aws.iam.group"
POLICY = "aws.iam.policy"
DETAIL_TYPES = (USER, ACCESS_KEY, ROLE, GROUP, POLICY, IDENTITY_TYPE)
USER_LOOKUP_WORKERS = 4
DETAIL_KEYS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def collect(scope: AwsScope) -> Iterator[Resource]:
    yield from account.password_policy(scope)
    summary = report = None
    try:
        summary = account.account_summary(scope)
    except CollectErrors as exc:
        scope.fail(account.ROOT, exc)
    try:
        report = account.credential_report(scope)
    except (*CollectErrors, account.CredentialReportTimeout) as exc:
        scope.fail(account.ROOT, exc)
        scope.fail(USER, exc)
        scope.fail(IDENTITY_TYPE, exc)
    yield from account.root_account(scope, summary, report)
    try:
        details = authorization_details(scope)
    except CollectErrors as exc:
        for rtype in DETAIL_TYPES:
            scope.fail(rtype, exc)
        return
    admin_arns = {f"arn:{scope.partition}:iam::aws:policy/AdministratorAccess"}
    for policy in details["Policies"]:
        resource = _policy(scope, policy)
        if resource.data["AllowsFullAdmin"] is not False:
            admin_arns.add(resource.id)
        yield resource
    members: dict[str, list[str]] = {}
    for user in details["UserDetailList"]:
        for group in user.get("GroupList") or []:
            members.setdefault(group, []).append(user["UserName"])
    group_admin: dict[str, list[str]] = {}
    for group in details["GroupDetailList"]:
        data = _principal_data(group, "GroupPolicyList", admin_arns)
        data["Members"] = sorted(members.get(group["GroupName"], []))
        group_admin[group["GroupName"]] = [str(g.get("PolicyName")) for g in data["FullAdminGrants"]]
        yield scope.resource(GROUP, group["Arn"], group["GroupName"], data)
    known = _known_accounts(scope)
    for role in details["RoleDetailList"]:
        data = _principal_data(role, "RolePolicyList", admin_arns)
        data["AssumeRolePolicyDocument"] = load_document(role.get("AssumeRolePolicyDocument")) \
            or role.get("AssumeRolePolicyDocument")
        data["ExternalTrust"] = trusted_principals(data["AssumeRolePolicyDocument"], scope.account_id, known)
        yield scope.resource(ROLE, role["Arn"], role["RoleName"], data)
    if report is not None:
        yield from _users(scope, details["UserDetailList"], report, admin_arns, group_admin)
    else:
        scope.fail(ACCESS_KEY, "skipped: the credential report could not be read")


def authorization_details(scope: AwsScope) -> dict[str, list[dict[str, Any]]]:
    """Users, groups, roles and customer-managed policies (with all versions) in one paginated call."""
    out: dict[str, list[dict[str, Any]]] = {key: [] for key in DETAIL_KEYS}
    paginator = scope.client("iam").get_paginator("get_account_authorization_details")
    for page in paginator.paginate(Filter=["User", "Role", "Group", "LocalManagedPolicy"]):
        for key in DETAIL_KEYS:
            out[key].extend(page.get(key) or [])
    return out


def _annotated(policies: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Inline policies with their decoded document and whether they allow `*` on `*`."""
    out = []
    for item in policies or []:
        doc = load_document(item.get("PolicyDocument"))
        out.append({**plain(item), "PolicyDocument": doc if doc is not None else item.get("PolicyDocument"),
                    "AllowsFullAdmin": allows_full_admin(doc)})
    return out


def _principal_data(entry: dict[str, Any], inline_key: str, admin_arns: set[str]) -> dict[str, Any]:
    data = plain(entry)
    data[inline_key] = _annotated(entry.get(inline_key))
    data["FullAdminGrants"] = full_admin_grants(data.get("AttachedManagedPolicies"), data[inline_key], admin_arns)
    return data


def full_admin_grants(attached: list[dict[str, Any]] | None, inline: list[dict[str, Any]],
                      admin_arns: set[str]) -> list[dict[str, Any]]:
    """Policies attached or embedded directly that grant `*:*` (an unreadable inline policy counts)."""
    grants = [{"Type": "managed", "PolicyName": a.get("PolicyName"), "PolicyArn": a.get("PolicyArn")}
              for a in attached or [] if a.get("PolicyArn") in admin_arns]
    grants += [{"Type": "inline", "PolicyName": p.get("PolicyName")} for p in inline
               if p.get("AllowsFullAdmin") is not False]
    return grants


def _policy(scope: AwsScope, policy: dict[str, Any]) -> Resource:
    data = plain(policy)
    data.setdefault("PolicyName", policy["Arn"].rsplit("/", 1)[-1])
    default = next((v for v in data.get("PolicyVersionList") or [] if v.get("IsDefaultVersion")), None)
    document = load_document(default.get("Document")) if default else None
    if default is not None and document is not None:
        default["Document"] = document
    data["AllowsFullAdmin"] = allows_full_admin(document)
    return scope.resource(POLICY, policy["Arn"], data["PolicyName"], data)


def _known_accounts(scope: AwsScope) -> set[str]:
    """Accounts whose principals are not 'external': this one, the configured list, and the
    organisation's members when this account may list them (member accounts usually may not)."""
    known = {scope.account_id}
    accounts = getattr(getattr(scope, "options", None), "accounts", "current")
    if isinstance(accounts, list):
        known.update(accounts)
    elif accounts == "organization":
        # Member accounts usually may not list the organisation: fewer known accounts only means
        # more roles are judged as trusting outsiders, never fewer.
        with contextlib.suppress(*CollectErrors):
            known.update(a["Id"] for a in scope.paginate("organizations", "list_accounts", "Accounts"))
    return known


def _user_lookups(scope: AwsScope, name: str) -> dict[str, Any] | None:
    """Console access, MFA devices and access keys (with last use) of one user; None if the user
    was deleted meanwhile. Raises API errors."""
    try:
        login = scope.call("iam", "get_login_profile", UserName=name)["LoginProfile"]
    except CollectErrors as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        login = None  # NoSuchEntity here means "no console password"
    try:
        mfa = list(scope.paginate("iam", "list_mfa_devices", "MFADevices", UserName=name))
        keys = list(scope.paginate("iam", "list_access_keys", "AccessKeyMetadata", UserName=name))
    except CollectErrors as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    for key in keys:
        key["LastUsed"] = scope.call("iam", "get_access_key_last_used",
                                     AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed")
    return plain({"LoginProfile": login, "MFADevices": mfa, "AccessKeys": keys})


def _users(scope: AwsScope, details: list[dict[str, Any]], report: dict[str, Any], admin_arns: set[str],
           group_admin: dict[str, list[str]]) -> Iterator[Resource]:
    try:
        listed = {u["UserName"]: u for u in scope.paginate("iam", "list_users", "Users")}
    except CollectErrors as exc:
        scope.fail(USER, exc)
        scope.fail(ACCESS_KEY, exc)
        scope.fail(IDENTITY_TYPE, exc)
        return
    rows = {r.get("arn"): r for r in report["Rows"]}

    def lookup(name: str) -> dict[str, Any] | Exception | None:
        try:
            return _user_lookups(scope, name)
        except CollectErrors as exc:
            return exc

    with ThreadPoolExecutor(max_workers=USER_LOOKUP_WORKERS, thread_name_prefix="aws-iam-users") as pool:
        extras = list(pool.map(lookup, [u["UserName"] for u in details]))
    for detail, extra in zip(details, extras, strict=True):
        if extra is None:
            continue
        if isinstance(extra, Exception):
            scope.fail(USER, extra)
            scope.fail(ACCESS_KEY, extra)
            scope.fail(IDENTITY_TYPE, extra)
            continue
        data = _principal_data(detail, "UserPolicyList", admin_arns)
        if "PasswordLastUsed" in listed.get(detail["UserName"], {}):
            data["PasswordLastUsed"] = plain(listed[detail["UserName"]]["PasswordLastUsed"])
        data.update(extra)
        data["CredentialReport"] = rows.get(detail["Arn"])
        user = scope.resource(USER, detail["Arn"], detail["UserName"], data)
        yield user
        yield identity_account(user, group_admin)
        for key in extra["AccessKeys"]:
            key_data = {**key, "UserArn": detail["Arn"]}
            yield scope.resource(ACCESS_KEY, f"{detail['Arn']}/access-key/{key['AccessKeyId']}",
                                 f"{detail['UserName']}/{key['AccessKeyId']}", key_data)


SERVICE = ServiceSpec(
    name="iam",
    resource_types={
        USER: "an IAM user with console access, MFA devices, access keys, policies and credential-report row",
        ACCESS_KEY: "an IAM user's access key with its age and last use",
        ROLE: "an IAM role with its trust policy (external principals analysed) and policies",
        GROUP: "an IAM group with its members and policies",
        POLICY: "a customer-managed IAM policy with its versions and whether the default allows *:*",
        account.ROOT: "the account's root user: credential-report row and account summary flags",
        account.PASSWORD_POLICY: "the account password policy (PasswordPolicy null when none is set)",
        IDENTITY_TYPE: "an account in any identity source, in the shared identity shape (here: each IAM user)",
    },
    collect=collect,
    global_=True,
    concurrency=2,
)
