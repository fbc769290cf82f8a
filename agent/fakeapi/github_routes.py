"""GitHub REST routes of the simulated organisation: real paths, query parameters, paging and errors."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from agent.fakeapi import github_shapes as shapes
from agent.fakeapi.errors import github_error
from agent.fakeapi.github import PERMISSION_RANK, GitHubOrg, Repo, Ruleset
from agent.fakeapi.paging import link_page
from agent.fakeapi.server import FakeApi, Reply, Request

API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})
DOCS = "https://docs.github.com/rest"
UPGRADE = "Upgrade to GitHub Pro or make this repository public to enable this feature."
GHAS_REQUIRED = "Advanced Security must be enabled for this repository to use code scanning."


def not_found(doc: str = DOCS) -> Reply:
    return github_error(404, "Not Found", doc)


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _index(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        kind, _, value = base64.b64decode(cursor).decode().rpartition(":")
        return int(value) if kind == "cursor:v2" else None
    except (ValueError, UnicodeDecodeError):
        return None


def cursor_page(request: Request, items: Sequence[Any], *, keys: Sequence[str] | None = None) -> Reply:
    """GitHub's cursor paging (`after`/`before`, `per_page` ≤ 100, default 30), links carry the cursor.

    `keys` are opaque cursors per item (the audit log's); otherwise positions are encoded.
    """
    per_page = max(1, min(request.int_arg("per_page", 30), 100))
    cursors = list(keys) if keys is not None else [_cursor(i) for i in range(len(items))]
    after, before = request.arg("after"), request.arg("before")
    start, stop = 0, len(items)
    for value, is_after in ((after, True), (before, False)):
        if not value:
            continue
        position = cursors.index(value) if value in cursors else _index(value)
        if position is None:
            return github_error(400, "Invalid cursor", DOCS)
        if is_after:
            start = position + 1
        else:
            stop = position
    if before and not after:
        start = max(0, stop - per_page)
    chunk = list(items[start:min(stop, start + per_page)])
    base = [(k, v) for k, vs in request.query.items() if k not in ("after", "before", "page") for v in vs]
    links = []
    if chunk and start + len(chunk) < stop:
        target = request.url_for(request.path, [*base, ("after", cursors[start + len(chunk) - 1]), ("before", "")])
        links.append(f'<{target}>; rel="next"')
    if chunk and start > 0:
        target = request.url_for(request.path, [*base, ("after", ""), ("before", cursors[start])])
        links.append(f'<{target}>; rel="prev"')
    return Reply(200, chunk, {"Link": ", ".join(links)} if links else {}, etag=True)


def register_rest(api: FakeApi, org: GitHubOrg, prefix: str) -> None:
    """Every REST route the collector (and the hidden checks of GitHub's semantics) rely on."""

    def route(pattern: str, handler: Callable[[Request], Reply]) -> None:
        def guarded(request: Request) -> Reply:
            if request.header("Authorization") != f"Bearer {org.token}":
                return github_error(401, "Bad credentials", DOCS)
            version = request.header("X-GitHub-Api-Version")
            if version is not None and version not in API_VERSIONS:
                return github_error(400, f"API version {version} is not supported.", DOCS)
            if "org" in request.params and request.params["org"].lower() != org.login.lower():
                return not_found()
            if "owner" in request.params and request.params["owner"].lower() != org.login.lower():
                return not_found()
            reply = handler(request)
            if reply.status == 200:
                reply.etag = True
            return reply
        api.add("GET", prefix + pattern, guarded)

    def urls(request: Request) -> tuple[str, str]:
        return request.base_url + prefix, org.web

    def user(login: str, request: Request) -> dict[str, Any]:
        u = org.user(login)
        return shapes.simple_user(login, u.id, *urls(request), kind=u.kind, email=u.email)

    def repo_of(request: Request) -> Repo | None:
        return org.repos.get(request.params["repo"])

    def owner_only(request: Request) -> Reply | None:
        return None if org.viewer_is_owner else github_error(
            403, "You must be an organization owner or security manager to use this endpoint.", DOCS)

    # -- organisation ---------------------------------------------------------------------
    route("/orgs/{org}", lambda r: Reply(200, shapes.organization(org, *urls(r), owner_view=org.viewer_is_owner)))

    def members(request: Request) -> Reply:
        role, flt = request.arg("role", "all"), request.arg("filter", "all")
        if role not in ("all", "admin", "member") or flt not in ("all", "2fa_disabled", "2fa_insecure"):
            return github_error(422, "Validation Failed", DOCS)
        if flt != "all" and not org.viewer_is_owner:
            return github_error(422, "Only owners can use this filter.", DOCS)
        logins = [m for m, mr in sorted(org.members.items()) if role == "all" or mr == role]
        if flt == "2fa_disabled":
            logins = [m for m in logins if m in org.two_factor_disabled]
        elif flt == "2fa_insecure":
            logins = []
        return link_page(request, [user(m, request) for m in logins])
    route("/orgs/{org}/members", members)

    def outside(request: Request) -> Reply:
        flt = request.arg("filter", "all")
        if flt == "2fa_disabled" and not org.viewer_is_owner:
            return github_error(422, "Only owners can use this filter.", DOCS)
        logins = sorted(o for o in org.outside if flt == "all" or o in org.two_factor_disabled)
        return link_page(request, [user(o, request) for o in logins])
    route("/orgs/{org}/outside_collaborators", outside)

    def invitations(request: Request) -> Reply:
        if not org.viewer_is_owner:
            return not_found()
        return link_page(request, [shapes.invitation(org, i, *urls(request), user(i.inviter, request))
                                   for i in org.invitations])
    route("/orgs/{org}/invitations", invitations)

    def org_hooks(request: Request) -> Reply:
        if not org.viewer_is_owner:
            return not_found()
        base = f"{urls(request)[0]}/orgs/{org.login}"
        return link_page(request, [shapes.hook("Organization", base, h) for h in org.hooks])
    route("/orgs/{org}/hooks", org_hooks)

    route("/orgs/{org}/teams", lambda r: link_page(r, [shapes.team(org, t, *urls(r)) for t in org.teams]))

    def team_repos(request: Request) -> Reply:
        team = next((t for t in org.teams if t.slug == request.params["slug"]), None)
        if team is None:
            return not_found()
        out = []
        for name, permission in team.repos.items():
            body = shapes.repository(org, org.repos[name], *urls(request))
            body.update(shapes.collaborator({}, permission))
            body.pop("security_and_analysis", None)
            out.append(body)
        return link_page(request, out)
    route("/orgs/{org}/teams/{slug}/repos", team_repos)

    def ruleset_body(rs: Ruleset, source_type: str, source: str, request: Request, admin: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"id": rs.id, "name": rs.name, "target": "branch", "source_type": source_type,
                                "source": source, "enforcement": rs.enforcement, "node_id": f"RRS_{rs.id}",
                                "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
                                "rules": rs.rules, "created_at": "2024-04-01T00:00:00Z",
                                "updated_at": "2024-04-01T00:00:00Z",
                                "current_user_can_bypass": "always" if admin and rs.bypass_actors else "never"}
        if admin:
            body["bypass_actors"] = rs.bypass_actors
        return body

    def org_rulesets(request: Request) -> Reply:
        return link_page(request, [{k: v for k, v in ruleset_body(rs, "Organization", org.login, request, False).items()
                                    if k not in ("rules", "conditions")} for rs in org.org_rulesets])
    route("/orgs/{org}/rulesets", org_rulesets)

    def org_ruleset(request: Request) -> Reply:
        rs = next((x for x in org.org_rulesets if str(x.id) == request.params["id"]), None)
        if rs is None:
            return not_found()
        return Reply(200, ruleset_body(rs, "Organization", org.login, request, org.viewer_is_owner))
    route("/orgs/{org}/rulesets/{id}", org_ruleset)

    def repos(request: Request) -> Reply:
        kind = request.arg("type", "all")
        listed = [r for r in org.repos.values()
                  if kind == "all" or (kind in ("public", "private") and r.visibility == kind)
                  or (kind == "forks" and r.fork) or (kind == "sources" and not r.fork)
                  or (kind == "member" and org.repo_permission(org.viewer or "", r))]
        listed.sort(key=lambda r: r.created_at)
        return link_page(request, [shapes.repository(org, r, *urls(request)) for r in listed])
    route("/orgs/{org}/repos", repos)

    # -- organisation-wide security alert listings ----------------------------------------
    def listing(alerts: list[Any], visible: Callable[[Repo], bool], body: Callable[[Any, Request], dict[str, Any]],
                severity_of: Callable[[Any], str]) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            denied = owner_only(request)
            if denied:
                return denied
            states = set((request.arg("state") or "open").split(","))
            severities = set(request.arg("severity").split(",")) if request.arg("severity") else None
            chosen = [a for a in alerts if a.repo in org.repos and visible(org.repos[a.repo]) and a.state in states
                      and (severities is None or severity_of(a) in severities)]
            return cursor_page(request, [body(a, request) for a in chosen])
        return handler

    def dependabot_alert(a: Any, request: Request) -> dict[str, Any]:
        repo = org.repos[a.repo]
        api_base, web = urls(request)
        advisory = {"ghsa_id": f"GHSA-{a.number:04d}-abcd-efgh", "cve_id": f"CVE-2024-{a.number}",
                    "summary": f"Vulnerability in {a.package}", "description": "…", "severity": a.severity,
                    "identifiers": [{"value": f"CVE-2024-{a.number}", "type": "CVE"}], "references": [],
                    "published_at": a.created_at, "updated_at": a.created_at, "withdrawn_at": None,
                    "vulnerabilities": [], "cvss": {"vector_string": None, "score": None}, "cwes": []}
        return {"number": a.number, "state": a.state,
                "dependency": {"package": {"ecosystem": "npm", "name": a.package}, "manifest_path": "package-lock.json",
                               "scope": "runtime", "relationship": "direct"},
                "security_advisory": advisory,
                "security_vulnerability": {"package": {"ecosystem": "npm", "name": a.package}, "severity": a.severity,
                                           "vulnerable_version_range": "< 4.17.21",
                                           "first_patched_version": {"identifier": "4.17.21"}},
                "url": f"{api_base}/repos/{org.login}/{a.repo}/dependabot/alerts/{a.number}",
                "html_url": f"{web}/{org.login}/{a.repo}/security/dependabot/{a.number}",
                "created_at": a.created_at, "updated_at": a.created_at, "dismissed_at": None, "dismissed_by": None,
                "dismissed_reason": None, "dismissed_comment": None, "fixed_at": None, "auto_dismissed_at": None,
                "repository": shapes.repo_ref(org, repo, api_base, web)}

    def code_alert(a: Any, request: Request) -> dict[str, Any]:
        repo = org.repos[a.repo]
        api_base, web = urls(request)
        return {"number": a.number, "created_at": a.created_at, "updated_at": a.created_at,
                "url": f"{api_base}/repos/{org.login}/{a.repo}/code-scanning/alerts/{a.number}",
                "html_url": f"{web}/{org.login}/{a.repo}/security/code-scanning/{a.number}",
                "state": a.state, "fixed_at": None, "dismissed_by": None, "dismissed_at": None,
                "dismissed_reason": None, "dismissed_comment": None,
                "rule": {"id": "js/sql-injection", "severity": "error", "description": "Database query built from "
                         "user-controlled sources", "name": "js/sql-injection", "tags": ["security"],
                         "security_severity_level": a.severity},
                "tool": {"name": "CodeQL", "guid": None, "version": "2.19.0"},
                "most_recent_instance": {"ref": "refs/heads/main", "state": a.state, "commit_sha": "a" * 40,
                                         "location": {"path": "src/db.js", "start_line": 10, "end_line": 10}},
                "repository": shapes.repo_ref(org, repo, api_base, web)}

    def secret_alert(a: Any, request: Request) -> dict[str, Any]:
        repo = org.repos[a.repo]
        api_base, web = urls(request)
        out = {"number": a.number, "created_at": a.created_at, "updated_at": a.created_at,
               "url": f"{api_base}/repos/{org.login}/{a.repo}/secret-scanning/alerts/{a.number}",
               "html_url": f"{web}/{org.login}/{a.repo}/security/secret-scanning/{a.number}",
               "locations_url": f"{api_base}/repos/{org.login}/{a.repo}/secret-scanning/alerts/{a.number}/locations",
               "state": a.state, "resolution": None, "resolved_at": None, "resolved_by": None,
               "resolution_comment": None, "secret_type": a.secret_type,
               "secret_type_display_name": "GitHub Personal Access Token", "validity": "active",
               "push_protection_bypassed": False, "push_protection_bypassed_by": None,
               "push_protection_bypassed_at": None, "publicly_leaked": False, "multi_repo": False,
               "repository": shapes.repo_ref(org, repo, api_base, web)}
        if request.arg("hide_secret") != "true":
            out["secret"] = a.secret
        return out

    def code_scanning_on(repo: Repo) -> bool:
        return repo.visibility == "public" or repo.security.get("advanced_security") == "enabled" \
            or repo.security.get("code_security") == "enabled"

    route("/orgs/{org}/dependabot/alerts", listing(
        org.dependabot, lambda r: r.vulnerability_alerts and not r.archived, dependabot_alert, lambda a: a.severity))
    route("/orgs/{org}/code-scanning/alerts", listing(
        org.code_scanning, code_scanning_on, code_alert, lambda a: a.severity))
    route("/orgs/{org}/secret-scanning/alerts", listing(
        org.secret_scanning, lambda r: r.security.get("secret_scanning") == "enabled", secret_alert,
        lambda a: a.severity))

    # -- audit log (GitHub Enterprise Cloud) ------------------------------------------------
    def audit_log(request: Request) -> Reply:
        if org.plan != "enterprise":
            return not_found("https://docs.github.com/rest/orgs/orgs#get-the-audit-log-for-an-organization")
        denied = owner_only(request)
        if denied:
            return denied
        include = request.arg("include", "web")
        events = [e for e in org.audit if include == "all" or (include == "git") == e.action.startswith("git.")]
        for term in (request.arg("phrase") or "").split():
            key, _, value = term.partition(":")
            if key == "action":
                events = [e for e in events if e.action == value or e.action.startswith(value + ".")]
            elif key == "created":
                events = [e for e in events if _created_matches(e.at_ms, value)]
            elif key == "actor":
                events = [e for e in events if e.actor == value]
        events.sort(key=lambda e: (e.at_ms, e.document_id), reverse=request.arg("order", "desc") != "asc")
        return cursor_page(request, [e.body(org) for e in events], keys=[e.cursor() for e in events])
    route("/orgs/{org}/audit-log", audit_log)

    # -- repositories -----------------------------------------------------------------------
    def protection(request: Request) -> Reply:
        repo = repo_of(request)
        if repo is None or not org.viewer_is_admin(repo):
            return not_found()
        if repo.visibility != "public" and org.plan == "free":
            return github_error(403, UPGRADE, DOCS)
        branch = unquote(request.params["branch"])
        if branch != repo.default_branch or not repo.branch_exists:
            return github_error(404, "Branch not found", DOCS)
        if repo.protection is None:
            return github_error(404, "Branch not protected",
                                "https://docs.github.com/rest/branches/branch-protection#get-branch-protection")
        base = f"{urls(request)[0]}/repos/{org.login}/{repo.name}/branches/{branch}"
        return Reply(200, shapes.protection(base, repo.protection))
    route("/repos/{owner}/{repo}/branches/{branch:path}/protection", protection)

    def branch_rules(request: Request) -> Reply:
        repo = repo_of(request)
        if repo is None:
            return not_found()
        if repo.visibility != "public" and org.plan == "free":
            return github_error(403, UPGRADE, DOCS)
        if unquote(request.params["branch"]) != repo.default_branch or not repo.branch_exists:
            return link_page(request, [])
        out = []
        for rs in org.effective_rulesets(repo):
            source_type = "Repository" if rs in repo.rulesets else "Organization"
            source = f"{org.login}/{repo.name}" if source_type == "Repository" else org.login
            out += [{**rule, "ruleset_source_type": source_type, "ruleset_source": source, "ruleset_id": rs.id}
                    for rule in rs.rules]
        return link_page(request, out)
    route("/repos/{owner}/{repo}/rules/branches/{branch:path}", branch_rules)

    def repo_ruleset(request: Request) -> Reply:
        repo = repo_of(request)
        rs = next((x for x in (repo.rulesets if repo else []) if str(x.id) == request.params["id"]), None)
        if repo is None or rs is None:
            return not_found()
        return Reply(200, ruleset_body(rs, "Repository", f"{org.login}/{repo.name}", request,
                                       org.viewer_is_admin(repo)))
    route("/repos/{owner}/{repo}/rulesets/{id}", repo_ruleset)

    def collaborators(request: Request) -> Reply:
        repo = repo_of(request)
        if repo is None:
            return not_found()
        if not org.viewer_permissions(repo)["push"]:
            return github_error(403, "Must have push access to view repository collaborators.", DOCS)
        affiliation = request.arg("affiliation", "all")
        wanted = request.arg("permission")
        people: dict[str, str] = {}
        if affiliation in ("direct", "outside"):
            people = {login: p for login, p in repo.collaborators.items()
                      if affiliation == "direct" or login in org.outside}
        else:
            for login in {*org.members, *repo.collaborators}:
                level = org.repo_permission(login, repo)
                if level:
                    people[login] = level
        if wanted:
            people = {k: v for k, v in people.items() if PERMISSION_RANK[v] >= PERMISSION_RANK[wanted]}
        return link_page(request, [shapes.collaborator(user(login, request), people[login])
                                   for login in sorted(people)])
    route("/repos/{owner}/{repo}/collaborators", collaborators)

    def repo_hooks(request: Request) -> Reply:
        repo = repo_of(request)
        if repo is None or not org.viewer_is_admin(repo):
            return not_found()
        base = f"{urls(request)[0]}/repos/{org.login}/{repo.name}"
        return link_page(request, [shapes.hook("Repository", base, h) for h in repo.hooks])
    route("/repos/{owner}/{repo}/hooks", repo_hooks)

    def keys(request: Request) -> Reply:
        repo = repo_of(request)
        if repo is None or not org.viewer_is_admin(repo):
            return not_found()
        base = f"{urls(request)[0]}/repos/{org.login}/{repo.name}"
        return link_page(request, [shapes.deploy_key(base, k) for k in repo.keys])
    route("/repos/{owner}/{repo}/keys", keys)

    def vulnerability_alerts(request: Request) -> Reply:
        repo = repo_of(request)
        if repo is None or not org.viewer_is_admin(repo) or not repo.vulnerability_alerts:
            return not_found("https://docs.github.com/rest/repos/repos#check-if-vulnerability-alerts-are-enabled-for-a-repository")
        return Reply(204)
    route("/repos/{owner}/{repo}/vulnerability-alerts", vulnerability_alerts)

    def analyses(request: Request) -> Reply:
        repo = repo_of(request)
        if repo is None:
            return not_found()
        if not code_scanning_on(repo):
            return github_error(403, GHAS_REQUIRED, DOCS)
        if repo.code_scanning_analyses == 0:
            return github_error(404, "no analysis found", DOCS)
        api_base = urls(request)[0]
        items = [{"ref": "refs/heads/main", "commit_sha": "b" * 40,
                  "analysis_key": ".github/workflows/codeql.yml:analyze",
                  "environment": "{}", "category": ".github/workflows/codeql.yml:analyze/language:python",
                  "error": "", "created_at": repo.pushed_at, "results_count": 0, "rules_count": 150, "id": n + 1,
                  "url": f"{api_base}/repos/{org.login}/{repo.name}/code-scanning/analyses/{n + 1}",
                  "sarif_id": f"sarif-{n}", "tool": {"name": "CodeQL", "guid": None, "version": "2.19.0"},
                  "deletable": True, "warning": ""} for n in range(repo.code_scanning_analyses)]
        return link_page(request, items)
    route("/repos/{owner}/{repo}/code-scanning/analyses", analyses)


def _created_matches(at_ms: int, value: str) -> bool:
    """`created:>=2025-01-01T00:00:00+00:00` (also >, <, <=, a bare date) against epoch milliseconds."""
    from datetime import UTC, datetime

    op = next((o for o in (">=", "<=", ">", "<") if value.startswith(o)), "=")
    text = value[len(op):] if op != "=" else value
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    bound = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000
    at = float(at_ms)
    return {">=": at >= bound, "<=": at <= bound, ">": at > bound, "<": at < bound, "=": at >= bound}[op]
