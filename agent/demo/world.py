"""The simulated organisation: Acme's AWS Organization with a management and two member accounts.

Everything is created through the ordinary AWS APIs against the in-process simulator (see
`agent.demo.sandbox`), the way a platform team would set the accounts up. Each step is attempted on
its own: if the simulator lacks a feature, that step is skipped (logged at debug level and listed in
`World.skipped`) and the rest of the world is still built.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

log = logging.getLogger("annexa.demo")

REGIONS = ["eu-west-1", "us-east-1"]
READ_ONLY_ROLE = "AnnexaReadOnly"
BOOTSTRAP_ROLE = "OrganizationAccountAccessRole"

# (key, account name, root e-mail) of the member accounts the management account creates.
MEMBERS = [
    ("production", "acme-production", "aws-production@acme.example"),
    ("development", "acme-development", "aws-development@acme.example"),
]


@dataclass
class DemoAccount:
    key: str
    id: str
    name: str
    session: boto3.Session
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or REGIONS[0])
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=key[1])
        return self._clients[key]


@dataclass
class World:
    """What was built: the accounts, the regions, and which seeding steps worked or were skipped."""

    regions: list[str]
    accounts: list[DemoAccount] = field(default_factory=list)
    seeded: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def account(self, key: str) -> DemoAccount:
        return next(a for a in self.accounts if a.key == key)

    @property
    def management(self) -> DemoAccount:
        return self.account("management")

    def attempt(self, kind: str, label: str, step: Callable[[], Any]) -> Any:
        """Run one seeding step; count it under `kind`, or record why it was skipped.

        Returns the step's result (True when the step returns nothing), or None when it failed.
        """
        try:
            result = step()
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.debug("demo: skipped %s (%s): %s", label, kind, reason)
            self.skipped.append(f"{kind} {label}: {reason}")
            return None
        self.seeded[kind] += 1
        return True if result is None else result


def _trust_policy(account_id: str, org_id: str) -> str:
    """Trust the management account, but only principals inside our own Organization."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}}]})


def _session_for(management: boto3.Session, account_id: str, role: str) -> boto3.Session:
    sts = management.client("sts", region_name=REGIONS[0])
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{role}",
                            RoleSessionName="acme-platform-bootstrap")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=REGIONS[0])


def _create_roles(world: World, member: DemoAccount, management_id: str, org_id: str) -> None:
    iam = member.client("iam")
    # AWS Organizations creates OrganizationAccountAccessRole in each new member account (so does the
    # simulator). The platform team limits its trust to the Organization, then creates the read-only role
    # the deployment guide asks for.
    world.attempt("iam.trust_policy", f"{member.name}/{BOOTSTRAP_ROLE}", lambda: iam.update_assume_role_policy(
        RoleName=BOOTSTRAP_ROLE, PolicyDocument=_trust_policy(management_id, org_id)))
    # The read-only role Annexa assumes (what the deployment guide asks the platform team to create).
    world.attempt("iam.role", f"{member.name}/{READ_ONLY_ROLE}", lambda: (
        iam.create_role(RoleName=READ_ONLY_ROLE, AssumeRolePolicyDocument=_trust_policy(management_id, org_id),
                        Description="Read-only access for the Annexa compliance agent"),
        iam.attach_role_policy(RoleName=READ_ONLY_ROLE, PolicyArn="arn:aws:iam::aws:policy/SecurityAudit"),
        iam.attach_role_policy(RoleName=READ_ONLY_ROLE, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")))


def build_organization(regions: list[str] | None = None) -> World:
    """Create the Organization and its accounts (no workloads yet). Must run inside the sandbox."""
    world = World(regions=list(regions or REGIONS))
    management = boto3.Session(region_name=world.regions[0])
    identity = management.client("sts", region_name=world.regions[0]).get_caller_identity()
    world.accounts.append(DemoAccount("management", identity["Account"], "acme-management", management))
    org = management.client("organizations", region_name="us-east-1")
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    for key, name, email in MEMBERS:
        status = org.create_account(Email=email, AccountName=name)["CreateAccountStatus"]
        account_id = status["AccountId"]
        session = _session_for(management, account_id, BOOTSTRAP_ROLE)
        member = DemoAccount(key, account_id, name, session)
        world.accounts.append(member)
        _create_roles(world, member, identity["Account"], org_id)
    return world


def seed(regions: list[str] | None = None) -> World:
    """The whole simulated organisation: accounts and their workloads."""
    from agent.demo import resources

    world = build_organization(regions)
    resources.seed_management(world)
    resources.seed_production(world)
    resources.seed_development(world)
    log.debug("demo world: %s; %d steps skipped", dict(world.seeded), len(world.skipped))
    return world


def apply_fixes(world: World) -> list[str]:
    """What the platform team fixes between the demo's two runs (so the history shows a change)."""
    from agent.demo import resources

    return resources.fix_findings(world)
