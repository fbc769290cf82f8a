"""The one identity shape every identity source maps its accounts into, and the HR person shape.

An identity source (Okta, Google Workspace, Entra ID, GitHub, AWS IAM, ...) yields its raw
account records as its own resource types (evidence as the API returned it) and, beside each,
one `identity.account` resource built from `IdentityAccount`. Cross-source rules (leavers,
orphans, stale accounts, MFA everywhere, privileged population) read only `identity.account` and
`hr.person`, so adding an identity source never changes those rules.

Unknown is not false: a source that does not expose sign-in times or MFA state says so
(`last_login_known=False`, `mfa_enrolled=None`) and rules judge that as `error`/not applicable,
never as a pass or a fail.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from agent.model import Resource

IDENTITY_TYPE = "identity.account"
PERSON_TYPE = "hr.person"
Kind = Literal["human", "service", "unknown"]


@dataclass
class IdentityAccount:
    """One account in one identity source, in the shared shape."""

    provider: str                 # okta | google_workspace | azure | github | aws | ...
    tenant: str                   # the org / tenant / customer / AWS account it lives in
    account_id: str               # the provider's own id
    url: str                      # canonical id: the raw account resource's id (html_url, API URL, ARN)
    raw_type: str                 # the raw resource type it was derived from, e.g. okta.user
    login: str                    # user name / login / UPN
    status: str                   # the provider's own status word, as returned
    active: bool                  # can sign in or act right now
    email: str | None = None      # primary e-mail, as the source gives it
    emails: list[str] = field(default_factory=list)  # every e-mail the source knows for the account
    display_name: str | None = None
    kind: Kind = "unknown"        # from the source's own marker (service principal, bot, machine user)
    created: str | None = None    # ISO 8601
    last_login: str | None = None  # ISO 8601; None = never, when last_login_known
    last_login_known: bool = True  # False when the source cannot tell sign-in times at all
    mfa_enrolled: bool | None = None  # None = the source does not expose it / could not be read
    mfa_enforced: bool | None = None
    mfa_methods: list[str] = field(default_factory=list)
    privileged: bool = False
    privileges: list[str] = field(default_factory=list)  # admin roles / permissions that make it privileged
    external: bool | None = None  # guest, outside collaborator, another company's identity

    def to_resource(self) -> Resource:
        """The `identity.account` resource (its evidence is this shape; the raw record is stored beside it)."""
        return Resource(type=IDENTITY_TYPE, id=self.url, name=self.login or self.email or self.account_id,
                        data=asdict(self), account=self.tenant)


@dataclass
class Person:
    """One person of an HR roster (CSV export or HR API)."""

    email: str
    name: str | None
    status: str                  # as the roster says it (active, terminated, on leave, ...)
    origin: str                  # canonical id: `file:///path#L12` for a CSV row, the API URL for an HR API
    start_date: str | None = None  # ISO date
    end_date: str | None = None    # ISO date; in the future while serving notice
    manager: str | None = None
    department: str | None = None
    employee_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    status_left: bool | None = None  # the source says `status` means "has left" (None: not classified)
    row: int | None = None           # the CSV line the record starts on (None for an HR API)
    errors: list[str] = field(default_factory=list)  # why the record cannot be trusted (bad date, duplicate, ...)

    def to_resource(self, tenant: str | None = None) -> Resource:
        # Named by e-mail, never by the roster's free-text name: a name cell such as "=HYPERLINK(...)"
        # must not become the first cell of a row in exported CSV files.
        return Resource(type=PERSON_TYPE, id=self.origin, name=self.email or self.origin, data=asdict(self),
                        account=tenant)
