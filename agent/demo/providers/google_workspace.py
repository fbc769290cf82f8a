"""Acme's simulated Google Workspace for `annexa demo`: the same cast as the Okta org.

alice is the only super admin (below the recommended two); dave never enrolled in 2-Step Verification
and his organisational unit does not enforce it; frank joined 5 days ago and has not signed in yet;
heidi left 60 days ago and is suspended but still holds the Groups admin role; ivan last signed in 200
days ago; carol left 30 days ago but is still active. The admin log shows a role grant and 2SV
enforcement switched off for Engineering; the login log shows dave signing in with a password alone.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from agent.fakeapi import FakeApi
from agent.fakeapi.google_workspace import READ_SCOPES, WorkspaceTenant, serve

TOKEN_ENV = "DEMO_WORKSPACE_TOKEN"
TOKEN = "ya29.demo-workspace-token-not-a-secret"


def build_tenant() -> tuple[WorkspaceTenant, dict[str, str]]:
    t = WorkspaceTenant(domain="acme.example", static_tokens={TOKEN: READ_SCOPES})
    eng = "/Engineering"
    u = {
        "alice": t.add_user("alice@acme.example", given="Alice", family="Lindqvist", super_admin=True),
        "bob": t.add_user("bob@acme.example", given="Bob", family="Mensah", last_login_days=3),
        "carol": t.add_user("carol@acme.example", given="Carol", family="Dubois", last_login_days=31),
        "dave": t.add_user("dave@acme.example", given="Dave", family="Okafor", enrolled_2sv=False,
                           enforced_2sv=False, org_unit=eng, last_login_days=2),
        "erin": t.add_user("erin@acme.example", given="Erin", family="Novak", org_unit=eng),
        "frank": t.add_user("frank@acme.example", given="Frank", family="Ibarra", created_days=5,
                            last_login_days=None, enrolled_2sv=False),
        "grace": t.add_user("grace@acme.example", given="Grace", family="Sato"),
        "heidi": t.add_user("heidi@acme.example", given="Heidi", family="Brandt", suspended=True,
                            roles=("_GROUPS_ADMIN_ROLE",), last_login_days=61),
        "ivan": t.add_user("ivan@acme.example", given="Ivan", family="Petrov", last_login_days=200),
    }
    t.add_activity("admin", "ASSIGN_ROLE", "DELEGATED_ADMIN_SETTINGS", actor="alice@acme.example",
                   minutes_ago=60 * 24 * 4, parameters={"ROLE_NAME": "_GROUPS_ADMIN_ROLE",
                                                        "USER_EMAIL": "heidi@acme.example"})
    t.add_activity("admin", "ENFORCE_STRONG_AUTHENTICATION", "SECURITY_SETTINGS", actor="alice@acme.example",
                   minutes_ago=60 * 24 * 5, parameters={"ORG_UNIT_NAME": "Engineering", "NEW_VALUE": "false"})
    t.add_activity("login", "login_success", "login", actor="alice@acme.example", minutes_ago=300, parameters={
        "login_type": "google_password", "login_challenge_method": ["password", "security_key"],
        "is_second_factor": True, "is_suspicious": False})
    t.add_activity("login", "login_success", "login", actor="dave@acme.example", minutes_ago=200, parameters={
        "login_type": "google_password", "login_challenge_method": ["password"], "is_second_factor": False,
        "is_suspicious": False})
    return t, u


class WorkspaceDemo:
    source = "demo-workspace"
    title = "Google Workspace (simulated): 9 users, admin roles, admin and login activity"

    def __init__(self) -> None:
        self.tenant, self.ids = build_tenant()
        self.api: FakeApi | None = None

    def start(self, folder: Path, today: date) -> None:
        self.api = serve(self.tenant).start()

    def source_yaml(self) -> str:
        assert self.api is not None
        return (f"- name: {self.source}\n  type: google_workspace\n  endpoint: {self.api.url}\n"
                f"  domain: acme.example\n  token_env: {TOKEN_ENV}\n  log_lookback_days: 7\n")

    def env(self) -> dict[str, str]:
        return {TOKEN_ENV: TOKEN}

    def apply_fixes(self) -> list[str]:
        t = self.tenant
        heidi = t.user("heidi@acme.example")
        assert heidi is not None
        t.assignments = [a for a in t.assignments if a["assignedTo"] != heidi["id"]]
        heidi["isDelegatedAdmin"] = False
        dave = t.user("dave@acme.example")
        assert dave is not None
        dave["isEnrolledIn2Sv"] = True
        return ["Workspace: heidi's leftover Groups admin role was removed",
                "Workspace: dave enrolled in 2-Step Verification"]

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None


PROVIDER = WorkspaceDemo
