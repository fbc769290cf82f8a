"""IAM people and service users of the simulated company, with their MFA, keys and last logins.

Ages (an access key created 400 days ago, a console login 200 days ago) cannot be set through the
AWS API, so `_backdate` adjusts the simulator's own records after creation. If a future simulator
version changes those internals, the users are still created, just with fresh dates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from agent.demo.world import DemoAccount, World

log = logging.getLogger("annexa.demo")

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


@dataclass(frozen=True)
class Person:
    name: str
    console: bool = True
    mfa: bool = False
    key_age_days: int | None = None     # an access key created this many days ago
    last_login_days: int | None = None  # console password last used this many days ago
    group: str | None = None
    direct_policy: str | None = None    # a managed policy attached to the user (not via a group)


USERS: dict[str, list[Person]] = {
    "management": [
        Person("alice@acme.example", mfa=True, key_age_days=20, last_login_days=1, group="platform-admins"),
        Person("bob@acme.example", last_login_days=3, group="auditors"),
        Person("break-glass-admin", mfa=True, last_login_days=120, direct_policy=ADMIN),
        Person("security-scanner", console=False, key_age_days=400),
    ],
    "production": [
        Person("carol@acme.example", last_login_days=200, group="payments-engineers"),
        Person("payments-deployer", console=False, key_age_days=30),
        Person("ci-legacy", console=False, key_age_days=540, direct_policy=ADMIN),
    ],
    "development": [
        Person("dave@acme.example", last_login_days=5, direct_policy=ADMIN),
        Person("erin@acme.example", mfa=True, last_login_days=2, group="developers"),
        Person("frank@acme.example", mfa=True, group="developers"),  # joined 5 days ago, not signed in yet
        Person("grace@acme.example", mfa=True, last_login_days=1, group="developers"),  # serving notice
        Person("ivan@acme.example", mfa=True, last_login_days=150, group="developers"),  # stale
        Person("heidi@acme.example", console=False),  # left 60 days ago: password and keys removed
    ],
}
# The HR roster (agent/demo/providers/hr.py) tells the rest of the story: carol left 30 days ago but
# her production user is still active; machine users are listed in the demo's identity.service_accounts.

GROUP_POLICIES = {"platform-admins": ADMIN, "auditors": READ_ONLY, "payments-engineers": READ_ONLY,
                  "developers": "arn:aws:iam::aws:policy/PowerUserAccess"}


def _backdate(account_id: str, person: Person) -> None:
    """Make keys and logins look their age in the simulator's records (see the module docstring)."""
    from moto.core.utils import utcnow
    from moto.iam.models import iam_backends

    user = iam_backends[account_id]["aws"].users[person.name]
    now = utcnow()
    oldest = max(person.key_age_days or 0, person.last_login_days or 0) + 30
    user.create_date = now - timedelta(days=oldest)
    if person.key_age_days is not None:
        for key in user.access_keys:
            key.create_date = now - timedelta(days=person.key_age_days)
    if person.console and person.last_login_days is not None:
        user.password_last_used = now - timedelta(days=person.last_login_days)  # type: ignore[assignment]


def enable_mfa(acct: DemoAccount, user: str) -> None:
    iam = acct.client("iam")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=user.split("@")[0] + "-phone")
    serial = device["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")


def user_enables_mfa(acct: DemoAccount, user: str) -> None:
    enable_mfa(acct, user)


def seed_users(world: World, acct: DemoAccount, *, password_policy: bool) -> None:
    iam = acct.client("iam")
    if password_policy:
        world.attempt("iam.password_policy", acct.name, lambda: iam.update_account_password_policy(
            MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True, RequireUppercaseCharacters=True,
            RequireLowercaseCharacters=True, AllowUsersToChangePassword=True, MaxPasswordAge=90,
            PasswordReusePrevention=24))
    for person in USERS[acct.key]:
        _seed_person(world, acct, person)


def _seed_person(world: World, acct: DemoAccount, person: Person) -> None:
    iam = acct.client("iam")
    group, policy = person.group, person.direct_policy
    if group:
        world.attempt("iam.group", group, lambda: _group(acct, group))
    if world.attempt("iam.user", person.name, lambda: iam.create_user(
            UserName=person.name, Tags=[{"Key": "team", "Value": group or "service"}])) is None:
        return
    if person.console:
        world.attempt("iam.login_profile", person.name, lambda: iam.create_login_profile(
            UserName=person.name, Password="Demo-Only-Passw0rd!", PasswordResetRequired=False))
    if person.mfa:
        world.attempt("iam.mfa", person.name, lambda: enable_mfa(acct, person.name))
    if person.key_age_days is not None:
        world.attempt("iam.access_key", person.name, lambda: iam.create_access_key(UserName=person.name))
    if group:
        world.attempt("iam.membership", person.name, lambda: iam.add_user_to_group(
            GroupName=group, UserName=person.name))
    if policy:
        world.attempt("iam.user_policy", person.name, lambda: iam.attach_user_policy(
            UserName=person.name, PolicyArn=policy))
    world.attempt("iam.backdate", person.name, lambda: _backdate(acct.id, person))


def _group(acct: DemoAccount, name: str) -> None:
    iam = acct.client("iam")
    existing = {g["GroupName"] for g in iam.list_groups()["Groups"]}
    if name not in existing:
        iam.create_group(GroupName=name)
        iam.attach_group_policy(GroupName=name, PolicyArn=GROUP_POLICIES[name])
