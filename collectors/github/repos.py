"""Per-repository evidence: the default branch's protection and rulesets, collaborators, webhooks,
deploy keys and the security features, merged into the repository's own JSON under documented keys.

Work per repository is split in two so the thread pool never waits: part A (protection, rules,
collaborators, webhooks, deploy keys) needs nothing else; part B (Dependabot enablement, code
scanning set-up, the alert evidence) runs once the organisation-wide alert listings are in, because
those listings already answer some per-repository questions (a repository with open Dependabot
alerts has Dependabot alerts enabled; one with code scanning alerts has code scanning set up), so
those calls are skipped.

Archived repositories are read-only: nobody can push, so branch protection, webhooks, deploy keys
and vulnerability alerts (which GitHub stops raising) are not read; who holds access to the code is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from agent.http import HttpError
from collectors.github import errors
from collectors.github.alerts import AlertIndex
from collectors.github.api import GitHubApi
from collectors.github.protection import effective

WRITE_ROLES = ("admin", "maintain", "write", "push")


@dataclass
class RepoJob:
    repo: dict[str, Any]
    doc: dict[str, Any] = field(default_factory=dict)
    collaborators: list[dict[str, Any]] | None = None

    @property
    def full_name(self) -> str:
        return str(self.repo["full_name"])

    @property
    def archived(self) -> bool:
        return bool(self.repo.get("archived"))


def _try(job: RepoJob, key: str, what: str, read: Any, needs: str = "") -> Any:
    """Run `read()`; on failure record `<key>_error` in the evidence and return None."""
    try:
        return read()
    except (HttpError, ValueError) as exc:
        job.doc[f"{key}_error"] = errors.describe(exc, f"{what} of {job.full_name}", needs)
        return None


def part_a(api: GitHubApi, org: str, job: RepoJob) -> None:
    """Everything that depends on nothing else (runs as soon as the repository is listed)."""
    name = job.full_name
    job.collaborators = _try(job, "collaborators", "direct collaborators",
                             lambda: api.all(f"/repos/{name}/collaborators", {"affiliation": "direct"}),
                             "push access to the repository (Metadata: read for apps)")
    if job.archived:
        job.doc["archived_not_read"] = ["default_branch_protection", "hooks", "deploy_keys", "dependabot",
                                        "code_scanning"]
        return
    job.doc["default_branch_protection"] = _branch(api, org, job)
    job.doc["hooks"] = _try(job, "hooks", "webhooks", lambda: api.all(f"/repos/{name}/hooks"),
                            "admin on the repository (Webhooks: read)")
    job.doc["deploy_keys"] = _try(job, "deploy_keys", "deploy keys", lambda: api.all(f"/repos/{name}/keys"),
                                  "admin on the repository (Administration: read)")


def _branch(api: GitHubApi, org: str, job: RepoJob) -> dict[str, Any]:
    name, branch = job.full_name, job.repo.get("default_branch") or "main"
    out: dict[str, Any] = {"branch": branch, "exists": True}
    ref = quote(branch, safe="/")
    classic: dict[str, Any] | None = None
    classic_ok = True
    try:
        classic = api.get(f"/repos/{name}/branches/{ref}/protection").body
    except HttpError as exc:
        text = exc.provider_message.lower()
        if exc.status == 404 and "branch not protected" in text:
            classic = None
        elif exc.status == 404 and "branch not found" in text:
            out["exists"] = False
        else:
            classic_ok = False
            out["protection_error"] = errors.describe(exc, f"branch protection of {name}:{branch}",
                                                      "admin on the repository (Administration: read)")
    out["protection"] = classic
    rules: list[dict[str, Any]] | None
    try:
        rules = api.all(f"/repos/{name}/rules/branches/{ref}")
    except HttpError as exc:
        rules = None
        out["rules_error"] = errors.describe(exc, f"rulesets for {name}:{branch}", "read access (Metadata: read)")
    out["rules"] = rules
    details: dict[str, dict[str, Any] | None] = {}
    for rule in rules or []:
        rid, source = rule.get("ruleset_id"), rule.get("ruleset_source_type")
        if rid is None or str(rid) in details:
            continue
        path = f"/orgs/{org}/rulesets/{rid}" if source == "Organization" else f"/repos/{name}/rulesets/{rid}"
        try:
            details[str(rid)] = api.get(path).body
        except HttpError as exc:
            details[str(rid)] = None
            out.setdefault("rulesets_error", []).append(errors.describe(exc, f"ruleset {rid}"))
    out["rulesets"] = details
    if out["exists"]:
        out["effective"] = effective(classic, classic_ok, rules, details)
    return out


def part_b(api: GitHubApi, job: RepoJob, alerts: dict[str, AlertIndex]) -> None:
    """Security features and alerts, once the organisation-wide listings have been read."""
    if job.archived:
        return
    name = job.full_name
    saa = job.repo.get("security_and_analysis")
    public = job.repo.get("visibility") == "public" or job.repo.get("private") is False

    def status(key: str) -> str | None:
        return ((saa or {}).get(key) or {}).get("status") if isinstance(saa, dict) else None

    ghas = status("advanced_security") == "enabled" or status("code_security") == "enabled"
    secret_plan = public or ghas or status("secret_protection") == "enabled"
    # -- Dependabot -------------------------------------------------------------------------
    dep_index = alerts["dependabot"]
    dependabot: dict[str, Any] = {}
    if dep_index.for_repo(name):
        dependabot.update(alerts_enabled=True, enabled_source="open alerts in the organisation listing")
    else:
        try:
            api.get(f"/repos/{name}/vulnerability-alerts")
            dependabot.update(alerts_enabled=True, enabled_source="GET vulnerability-alerts: 204")
        except HttpError as exc:
            admin = (job.repo.get("permissions") or {}).get("admin")
            if exc.status == 404 and admin is not False:
                dependabot.update(alerts_enabled=False, enabled_source="GET vulnerability-alerts: 404")
            else:
                dependabot.update(alerts_enabled=None, enabled_error=errors.describe(
                    exc, f"Dependabot alerts setting of {name}", "admin on the repository (Administration: read)"))
    disabled = dependabot.get("alerts_enabled") is False
    dependabot["open_alerts"] = None if (dep_index.error or disabled) else dep_index.for_repo(name)
    if dep_index.error:
        dependabot["alerts_error"] = dep_index.error
    elif dependabot.get("alerts_enabled") is False:
        dependabot["alerts_error"] = ("not_enabled: Dependabot alerts are disabled for this repository, so its "
                                      "vulnerable dependencies are unknown")
    job.doc["dependabot"] = dependabot
    # -- code scanning -----------------------------------------------------------------------
    cs_index = alerts["code_scanning"]
    code: dict[str, Any] = {"available": public or ghas if saa is not None or public else None}
    if code["available"] is None:
        code["error"] = ("denied: code scanning availability of " + name + " is unknown: not available "
                         "(permission) — security_and_analysis is only shown to repository admins")
    elif not code["available"]:
        code["error"] = ("not_enabled: code scanning is not available (plan) for private repository " + name
                         + ": GitHub Advanced Security / Code Security is not enabled")
    elif cs_index.for_repo(name):
        code.update(configured=True, configured_source="alerts in the organisation listing")
    else:
        try:
            found = api.get(f"/repos/{name}/code-scanning/analyses", {"per_page": 1}).body
            code.update(configured=bool(found), configured_source="GET code-scanning/analyses")
        except HttpError as exc:
            if exc.status == 404 and "no analysis found" in exc.provider_message.lower():
                code.update(configured=False, configured_source="GET code-scanning/analyses: no analysis found")
            else:
                code.update(configured=None, error=errors.describe(exc, f"code scanning analyses of {name}",
                                                                   "security_events (Code scanning alerts: read)"))
    code["open_alerts"] = None if (cs_index.error or not code["available"] or code.get("configured") is False) \
        else cs_index.for_repo(name)
    if cs_index.error:
        code["alerts_error"] = cs_index.error
    elif code.get("configured") is False:
        code["alerts_error"] = "not_enabled: code scanning is not set up for this repository, so it raises no alerts"
    job.doc["code_scanning"] = code
    # -- secret scanning ---------------------------------------------------------------------
    ss_index = alerts["secret_scanning"]
    secret: dict[str, Any] = {"enabled": None, "push_protection": None, "available": secret_plan if saa else None}
    if saa is None:
        secret["error"] = ("denied: secret scanning settings of " + name + ": not available (permission) — "
                           "security_and_analysis is only shown to repository admins")
    else:
        scanning, pushing = status("secret_scanning"), status("secret_scanning_push_protection")
        secret["enabled"] = scanning == "enabled" if scanning else None
        secret["push_protection"] = pushing == "enabled" if pushing else None
        if not secret_plan and scanning != "enabled":
            secret["error"] = ("not_enabled: secret scanning is not available (plan) for private repository "
                               + name + ": GitHub Advanced Security / Secret Protection is not enabled")
    secret["open_alerts"] = None if (ss_index.error or not secret["enabled"]) else ss_index.for_repo(name)
    if ss_index.error:
        secret["alerts_error"] = ss_index.error
    elif secret["enabled"] is False:
        secret["alerts_error"] = ("not_enabled: secret scanning is turned off for this repository, "
                                  "so leaks go undetected")
    job.doc["secret_scanning"] = secret


def document(job: RepoJob, team_access: dict[str, list[dict[str, Any]]] | None, team_error: str | None,
             default_permission: str | None, outside: set[str] | None) -> dict[str, Any]:
    """The `github.repository` evidence: the listed JSON plus everything read for it."""
    doc = {**job.repo, **job.doc}
    collabs = job.collaborators
    doc["collaborators"] = collabs
    if collabs is not None:
        doc["admin_collaborators"] = sorted(c["login"] for c in collabs if role_of(c) == "admin")
        if outside is not None:
            doc["outside_collaborators"] = [{"login": c["login"], "permission": role_of(c)}
                                            for c in collabs if c["login"] in outside]
    teams = None if team_access is None else team_access.get(job.full_name, [])
    doc["teams"] = teams
    if team_error:
        doc["teams_error"] = team_error
    protection = (doc.get("default_branch_protection") or {}).get("effective") or {}
    doc["push_access"] = {
        "restricted_to": protection.get("push_restricted_to"),
        "users": None if collabs is None else sorted(c["login"] for c in collabs if role_of(c) in WRITE_ROLES),
        "teams": None if teams is None else sorted(t["team"] for t in teams if t["permission"] in WRITE_ROLES),
        "all_members": None if default_permission is None else default_permission in ("write", "admin"),
    }
    return doc


def role_of(collaborator: dict[str, Any]) -> str:
    role = collaborator.get("role_name")
    if role:
        return str(role)
    perms = collaborator.get("permissions") or {}
    for name, key in (("admin", "admin"), ("maintain", "maintain"), ("write", "push"), ("triage", "triage")):
        if perms.get(key):
            return name
    return "read"
