"""The GitHub collector: one organisation on github.com or GitHub Enterprise Server (`endpoint`).

Fan-out: the organisation-level readers (settings, people, teams, webhooks, SAML, the alert
listings, the audit log) and one job per repository run side by side on a pool of
`max_concurrency` workers while the repository listing is still being paged. Every GET goes
through `GitHubApi` (ETags, rate-limit pacing, one request per URL per run).
"""

from __future__ import annotations

import fnmatch
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from agent.http import HttpError
from agent.identity.shape import IDENTITY_TYPE
from agent.model import Resource
from collectors.base import Collector, CollectorOptions
from collectors.github import errors
from collectors.github.alerts import LISTINGS, AlertIndex, read_alerts
from collectors.github.api import ACCEPT, GitHubApi
from collectors.github.auditlog import EVENT_TYPE, read_audit_log
from collectors.github.etags import EtagCache
from collectors.github.graphql import GraphQL
from collectors.github.identity import MEMBER_TYPE, OUTSIDE_TYPE, member_resources, outside_resources
from collectors.github.org import Readings, organization_document, readers
from collectors.github.ratelimit import RateBudget
from collectors.github.repos import RepoJob, document, part_a, part_b, role_of

DEFAULT_ENDPOINT = "https://api.github.com"
ORG_TYPE, REPO_TYPE, INVITATION_TYPE = "github.organization", "github.repository", "github.invitation"
RESOURCE_TYPES = {
    ORG_TYPE: "GitHub organisation settings, owners, two-factor state, webhooks and SAML single sign-on",
    REPO_TYPE: "GitHub repository with its default-branch protection, rulesets, collaborators, webhooks, "
               "deploy keys and security features and alerts",
    MEMBER_TYPE: "GitHub organisation member with role and two-factor state",
    OUTSIDE_TYPE: "GitHub outside collaborator with the repositories it can reach",
    INVITATION_TYPE: "Pending invitation to the GitHub organisation",
    EVENT_TYPE: "GitHub organisation audit log event (membership, protection, push-protection bypass)",
    IDENTITY_TYPE: "An account in an identity source, in the shared identity shape",
}


class GitHubOptions(CollectorOptions):
    org: str = Field(min_length=1, description="the organisation's login")
    graphql_endpoint: str | None = Field(default=None, description="default: derived from endpoint")
    api_version: str | None = "2022-11-28"
    repositories: list[str] | None = Field(default=None, description="repository name globs (default: all)")
    graphql: bool = True
    audit_log: bool = True
    audit_log_lookback_days: int = Field(default=90, ge=1, le=400)
    conditional_requests: bool = True
    rate_limit_reserve: int = Field(default=10, ge=0)
    requests_per_minute: int = Field(default=900, ge=0, description="0: no secondary-limit pacing")
    max_rate_limit_wait: float = Field(default=3900.0, ge=0)

    @field_validator("org")
    @classmethod
    def _login(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", value):
            raise ValueError("expected a GitHub organisation login (letters, digits and '-')")
        return value


def graphql_url(endpoint: str) -> str:
    """api.github.com → /graphql; GitHub Enterprise Server `https://HOST/api/v3` → `https://HOST/api/graphql`."""
    base = endpoint.rstrip("/")
    return base[: -len("/v3")] + "/graphql" if base.endswith("/api/v3") else base + "/graphql"


class _Gate:
    """Runs callbacks once every future it watches is done (immediately if they already are)."""

    def __init__(self, futures: list[Future[Any]]):
        self._lock = threading.Lock()
        self._waiting = len(futures)
        self._pending: list[Callable[[], Any]] = []
        for fut in futures:
            fut.add_done_callback(self._one_done)

    def _one_done(self, _fut: Future[Any]) -> None:
        with self._lock:
            self._waiting -= 1
            ready = self._pending if self._waiting == 0 else []
            if self._waiting == 0:
                self._pending = []
        for fn in ready:
            fn()

    def call(self, fn: Callable[[], Any]) -> None:
        with self._lock:
            if self._waiting > 0:
                self._pending.append(fn)
                return
        fn()


class GitHubCollector(Collector):
    type = "github"
    resource_types: ClassVar[dict[str, str]] = RESOURCE_TYPES
    Options = GitHubOptions
    last_stats: ClassVar[dict[str, Any]] = {}   # the last run's request counts and budget (bench, tests)
    partitioned: ClassVar[bool] = True  # `--shard K/N` splits the repositories (agent.sharding)

    @classmethod
    def shard_unit(cls, resource_type: str, account: str | None, region: str | None,
                   resource_id: str | None = None) -> tuple[str | None, str | None]:
        """One unit per repository, keyed by its URL (`region` of its collection errors); one for the
        organisation (settings, people, invitations, audit log, and errors not tied to one repository)."""
        if resource_type == REPO_TYPE:
            if resource_id and not resource_id.startswith("annexa:"):
                return account, resource_id
            return account, region
        return account, None

    def collect(self) -> Iterator[Resource]:
        out: queue.Queue[Any] = queue.Queue(maxsize=2000)
        done = object()

        def work() -> None:
            try:
                self._run(out.put)
            except Exception as exc:  # a bug or an unexpected failure: every type is an error, never silence
                self.ctx.logger.exception("github collector failed")
                for rtype in self.resource_types:
                    self.ctx.report_error(rtype, f"unavailable: collector failed: {type(exc).__name__}: {exc}")
            finally:
                out.put(done)

        threading.Thread(target=work, daemon=True, name=f"github-{self.ctx.name}").start()
        while True:
            item = out.get()
            if item is done:
                return
            yield item

    # -- the run ---------------------------------------------------------------------------
    def _fail_all(self, message: str) -> None:
        for rtype in self.resource_types:
            self.ctx.report_error(rtype, message, account=self.ctx.options.org)

    def _run(self, emit: Callable[[Resource], None]) -> None:
        opts: GitHubOptions = self.ctx.options
        src = self.ctx.source
        org = opts.org
        endpoint = (src.endpoint or DEFAULT_ENDPOINT).rstrip("/")
        gql_url = opts.graphql_endpoint or graphql_url(endpoint)
        if not src.token_env or not os.environ.get(src.token_env):
            self._fail_all(f"denied: no GitHub token: set token_env on source {src.name} to an environment "
                           "variable holding a token (fine-grained or classic PAT, or a GitHub App token)")
            return
        headers = {"Accept": ACCEPT}
        if opts.api_version:
            headers["X-GitHub-Api-Version"] = opts.api_version
        http = self.ctx.http(base_url=endpoint, headers=headers, allow_post=[f"^{re.escape(gql_url)}$"],
                             throttle_floor=60.0, max_retry_after=opts.max_rate_limit_wait)
        budget = RateBudget(reserve=opts.rate_limit_reserve, per_minute=opts.requests_per_minute, sleep=http.sleep)
        shard = self.ctx.shard  # each shard keeps its own buckets: shards never overwrite each other's entries
        prefix = f"etag/{shard.index}of{shard.count}/" if shard is not None else "etag/"
        cache = EtagCache(self.ctx.cursor, prefix=prefix) if opts.conditional_requests else None
        api = GitHubApi(http, endpoint, budget=budget, cache=cache, logger=self.ctx.logger)
        try:
            self._collect(api, GraphQL(api, gql_url) if opts.graphql else None, opts, org, emit)
        finally:
            if cache is not None:
                cache.flush()
            self._report_budget(api, budget, cache, org)
            http.close()

    def _collect(self, api: GitHubApi, graphql: GraphQL | None, opts: GitHubOptions, org: str,
                 emit: Callable[[Resource], None]) -> None:
        ctx = self.ctx
        owns = ctx.owns_unit or (lambda account, region: True)
        org_unit = owns(org, None)  # this shard answers for the organisation and its people
        try:
            readings = Readings(org=api.get(f"/orgs/{org}").body)
        except HttpError as exc:
            self._fail_all(errors.describe(exc, f"organisation {org}", "a token that can see the organisation"))
            return
        parts = urlsplit(str(readings.org.get("html_url") or "https://github.com"))
        web = f"{parts.scheme}://{parts.netloc}"
        access: dict[str, list[dict[str, Any]]] = {}
        repo_admin: dict[str, list[str]] = {}
        lock = threading.Lock()
        # Outstanding repository jobs, plus one for the listing itself: page 1's jobs may all finish
        # before page 2 arrives, and "no job left" must not read as "done" while pages are coming.
        jobs_left = [1]
        all_done = threading.Event()
        with ThreadPoolExecutor(max_workers=ctx.source.max_concurrency, thread_name_prefix="github") as pool:
            def run_reader(key: str, read: Callable[[Readings], None]) -> None:
                try:
                    read(readings)
                except Exception as exc:
                    readings.errors[key] = errors.describe(exc, f"{key.replace('_', ' ')} of {org}")

            def run_alerts(product: str) -> AlertIndex:
                try:
                    return read_alerts(api, org, product)
                except Exception as exc:
                    return AlertIndex(product, error=errors.describe(
                        exc, f"the organisation's {product.replace('_', ' ')} alerts",
                        "an owner or security manager token with security_events (apps: the alerts' read "
                        "permission)"))

            def run_audit() -> None:
                try:
                    for event in read_audit_log(api, org, web, ctx.cursor, opts.audit_log_lookback_days,
                                                lambda msg: ctx.report_error(EVENT_TYPE, msg, account=org)):
                        emit(event)
                except Exception as exc:
                    ctx.report_error(EVENT_TYPE, errors.describe(exc, f"the audit log of {org}"), account=org)

            # a repository's evidence needs the teams' access and the outside collaborators; the rest is the
            # organisation's, read only by the shard that owns it
            wanted = readers(api, org, graphql) if org_unit else \
                {k: fn for k, fn in readers(api, org, graphql).items() if k in ("outside", "teams")}
            reader_futs = {key: pool.submit(run_reader, key, fn) for key, fn in wanted.items()}
            alert_futs = {product: pool.submit(run_alerts, product) for product in LISTINGS}
            audit_fut = pool.submit(run_audit) if opts.audit_log and org_unit else None
            gate = _Gate([*alert_futs.values(), reader_futs["outside"], reader_futs["teams"]])

            def finish(job: RepoJob) -> None:
                try:
                    part_b(api, job, {p: f.result() for p, f in alert_futs.items()})
                    outside = {u["login"] for u in readings.outside} if readings.outside is not None else None
                    doc = document(job, readings.team_access, readings.errors.get("teams"),
                                   readings.org.get("default_repository_permission"), outside)
                    with lock:
                        for c in job.collaborators or []:
                            permission = role_of(c)
                            access.setdefault(c["login"], []).append({"repository": job.full_name,
                                                                      "permission": permission})
                            if permission == "admin":
                                repo_admin.setdefault(c["login"], []).append(job.full_name)
                    emit(Resource(REPO_TYPE, str(job.repo["html_url"]), job.full_name, doc, account=org))
                except Exception as exc:  # scoped to the repository (region: its URL), so its shard records it
                    ctx.logger.exception("github repository %s failed", job.full_name)
                    ctx.report_error(REPO_TYPE, f"unavailable: {job.full_name}: {type(exc).__name__}: {exc}",
                                     account=org, region=str(job.repo.get("html_url") or job.full_name))
                finally:
                    with lock:
                        jobs_left[0] -= 1
                        if jobs_left[0] == 0:
                            all_done.set()

            def start(job: RepoJob) -> None:
                try:
                    part_a(api, org, job)
                except Exception as exc:
                    job.doc["collection_error"] = f"unavailable: {type(exc).__name__}: {exc}"
                gate.call(lambda: pool.submit(finish, job))

            def context(job: RepoJob) -> None:
                """Another shard's repository: only who can reach it, for the organisation's people."""
                try:
                    job.collaborators = api.all(f"/repos/{job.full_name}/collaborators", {"affiliation": "direct"})
                    with lock:
                        for c in job.collaborators or []:
                            permission = role_of(c)
                            access.setdefault(c["login"], []).append({"repository": job.full_name,
                                                                      "permission": permission})
                            if permission == "admin":
                                repo_admin.setdefault(c["login"], []).append(job.full_name)
                except Exception:  # its owner records the failure with the repository's evidence
                    ctx.logger.debug("collaborators of %s (context) unreadable", job.full_name, exc_info=True)
                finally:
                    with lock:
                        jobs_left[0] -= 1
                        if jobs_left[0] == 0:
                            all_done.set()

            def dispatch(job: RepoJob) -> None:
                if owns(org, str(job.repo.get("html_url"))):
                    start(job)
                elif org_unit:
                    context(job)
                else:
                    with lock:
                        jobs_left[0] -= 1
                        if jobs_left[0] == 0:
                            all_done.set()

            self._list_repositories(api, org, opts, pool, dispatch, lock, jobs_left)
            with lock:
                jobs_left[0] -= 1  # the listing is over
                if jobs_left[0] == 0:
                    all_done.set()
            all_done.wait()
            for fut in reader_futs.values():
                fut.result()
            if not org_unit:
                return
            emit(Resource(ORG_TYPE, str(readings.org.get("html_url") or f"{web}/{org}"), org,
                          organization_document(readings, org), account=org))
            self._people(readings, org, access, repo_admin, emit)
            if audit_fut is not None:
                audit_fut.result()

    def _list_repositories(self, api: GitHubApi, org: str, opts: GitHubOptions, pool: ThreadPoolExecutor,
                           start: Callable[[RepoJob], None], lock: threading.Lock, jobs_left: list[int]) -> None:
        seen: set[int] = set()
        count = 0
        try:
            for page in api.pages(f"/orgs/{org}/repos", {"type": "all"}):
                for repo in page:
                    if repo.get("id") in seen:
                        continue
                    seen.add(repo.get("id"))
                    if opts.repositories and not any(fnmatch.fnmatch(repo.get("name", ""), p)
                                                     for p in opts.repositories):
                        continue
                    with lock:
                        jobs_left[0] += 1
                    count += 1
                    pool.submit(start, RepoJob(repo))
                self.ctx.progress.update(f"{count} repositories listed")
        except HttpError as exc:
            self.ctx.report_error(REPO_TYPE, errors.describe(exc, f"the repositories of {org}"), account=org)

    def _people(self, r: Readings, org: str, access: dict[str, list[dict[str, Any]]],
                repo_admin: dict[str, list[str]], emit: Callable[[Resource], None]) -> None:
        ctx = self.ctx
        for key, rtype in (("members", MEMBER_TYPE), ("outside", OUTSIDE_TYPE),
                           ("invitations", INVITATION_TYPE)):
            if key in r.errors:
                ctx.report_error(rtype, r.errors[key], account=org)
                if rtype != INVITATION_TYPE:
                    ctx.report_error(IDENTITY_TYPE, r.errors[key], account=org)
        if "members" not in r.errors:
            for resource in member_resources(r, org, repo_admin):
                emit(resource)
        if "outside" not in r.errors:
            for resource in outside_resources(r, org, access):
                emit(resource)
        for inv in r.invitations or []:
            who = inv.get("login") or inv.get("email") or str(inv.get("id"))
            url = f"{(r.org.get('html_url') or '').rstrip('/')}/invitations#{inv.get('id')}"
            emit(Resource(INVITATION_TYPE, url, who, inv, account=org))

    def _report_budget(self, api: GitHubApi, budget: RateBudget, cache: EtagCache | None, org: str) -> None:
        snap = budget.snapshot()
        parts = []
        for name, w in sorted(snap.items()):
            reset = datetime.fromtimestamp(float(w["reset"]), UTC).strftime("%H:%M:%SZ")
            parts.append(f"{name} {w['remaining']}/{w['limit']} (resets {reset})")
        line = (f"github {org}: {api.sent} requests, {api.not_modified} answered 304 Not Modified from kept "
                f"ETags; rate limit remaining: {', '.join(parts) or 'not reported'}")
        if budget.pauses:
            line += f"; paused {budget.pauses} time(s), {budget.paused_seconds:.0f}s, for the rate limit"
        self.ctx.logger.info(line, extra={"source": self.ctx.name, "requests": api.sent,
                                          "not_modified": api.not_modified, "rate_limit": snap})
        self.ctx.progress.update(line)
        type(self).last_stats = {"requests": api.sent, "not_modified": api.not_modified, "rate_limit": snap,
                                 "pauses": budget.pauses, "cache_hits": cache.hits if cache else 0,
                                 "http": api.http.stats.snapshot()}
