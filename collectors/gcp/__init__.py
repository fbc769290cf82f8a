"""The Google Cloud collector: organisation, folders and projects x services, concurrently, read-only.

Fan-out (which organisation, folders and projects; which services) is separate from fetching (one
service in one project, `collectors.gcp.services`). Resource Manager is read through
google-cloud-resource-manager, every other API through the shared HTTP client; both go through
the same read-only check, rate limit and concurrency cap (`HttpClient.send_external`).
"""

from __future__ import annotations

import os
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from agent.confignames import check_service_list
from agent.model import Resource
from collectors.base import Collector, CollectorOptions
from collectors.gcp import audit, endpoints, organization
from collectors.gcp.auth import TokenSource
from collectors.gcp.errors import describe
from collectors.gcp.hierarchy import Hierarchy, ProjectInfo, excluded, in_organization, project_info, resolve_ancestry
from collectors.gcp.resourcemanager import ResourceManager
from collectors.gcp.scope import ProjectScope, RunContext
from collectors.gcp.services import ServiceSpec, all_services
from collectors.gcp.services.logging import sink_resources
from collectors.gcp.services.orgpolicy import DEFAULT_CONSTRAINTS

PROJECT_TYPES_SKIPPED = {"gcp.organization", "gcp.folder"}
# Requests in flight when the source sets no `max_concurrency`: Google's quotas are per minute and per
# project, and its APIs answer in tens of milliseconds, so more parallel reads than the common default
# of 8 keep a rate-limited run near its floor (bench/gcp_bench.py).
DEFAULT_CONCURRENCY = 16


def _resource_types() -> dict[str, str]:
    out = dict(organization.RESOURCE_TYPES)
    for spec in all_services():
        out.update(spec.resource_types)
    out.update(audit.RESOURCE_TYPES)
    return out


class GcpOptions(CollectorOptions):
    organization: str | None = Field(default=None, description="organisation id (digits)")
    projects: list[str] | Literal["all"] = "all"
    exclude_projects: list[str] = Field(default_factory=list, description="project ids or globs to skip")
    endpoints: dict[str, str] = Field(default_factory=dict, description="API name -> base URL")
    credentials_file: str | None = None
    quota_project: str | None = None
    services: list[str] | None = None
    exclude_services: list[str] = Field(default_factory=list)
    max_workers: int = Field(default=16, ge=1, le=64)
    max_retries: int = Field(default=5, ge=0, le=10)
    kms_locations: list[str] | None = None
    org_policy_constraints: list[str] = Field(default_factory=lambda: list(DEFAULT_CONSTRAINTS))
    audit_logs: bool = True
    audit_log_lookback_days: int = Field(default=30, ge=1, le=400)
    audit_log_batch: int = Field(default=10, ge=1, le=50)
    audit_log_calls_per_minute: float = Field(default=60.0, gt=0, le=6000)

    @field_validator("organization", mode="before")
    @classmethod
    def _org(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).removeprefix("organizations/") if not isinstance(value, bool) else ""
        if not text.isdigit():
            raise ValueError(f"an organisation id is digits, e.g. 123456789012 (got {value!r})")
        return text

    @field_validator("projects", mode="before")
    @classmethod
    def _projects(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: dict[str, str]) -> dict[str, str]:
        for api, url in value.items():
            if api not in endpoints.DEFAULTS:
                raise ValueError(f"unknown API {api!r} (known: {', '.join(sorted(endpoints.DEFAULTS))})")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{api}: expected an http(s) base URL, e.g. https://{api}.googleapis.com "
                                 f"(got {url!r})")
        return value

    @field_validator("services", "exclude_services")
    @classmethod
    def _services(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        from collectors.gcp.services import names

        return check_service_list(value, (*names(), "audit"), allow_empty=info.field_name == "exclude_services")


def above_projects(account: str | None) -> bool:
    """A scope above the projects: the organisation, a folder, or the whole source (no scope)."""
    return account is None or account.startswith(("organizations/", "folders/"))


class GcpCollector(Collector):
    type = "gcp"
    resource_types: ClassVar[dict[str, str]] = _resource_types()
    Options = GcpOptions

    calls: Counter[str] | None = None  # last run's requests as "METHOD url" (bench, permission coverage test)
    partitioned: ClassVar[bool] = True  # `--shard K/N` splits the projects (agent.sharding)

    @classmethod
    def shard_unit(cls, resource_type: str, account: str | None, region: str | None,
                   resource_id: str | None = None) -> tuple[str | None, str | None]:
        """One unit per project; one for everything above the projects (organisation, folders)."""
        return (None, None) if above_projects(account) else (account, None)

    def collect(self) -> Iterator[Resource]:
        out: queue.Queue[Any] = queue.Queue(maxsize=2000)
        done = object()

        def work() -> None:
            try:
                self._fan_out(out.put)
            except Exception as exc:  # no credentials, hierarchy unreadable: every type is an error
                self.ctx.logger.debug("gcp collection failed", exc_info=True)
                for rtype in self.resource_types:
                    self.ctx.report_error(rtype, describe(exc, "collection"))
            finally:
                out.put(done)

        threading.Thread(target=work, daemon=True, name=f"gcp-{self.ctx.name}").start()
        while True:
            item = out.get()
            if item is done:
                return
            yield item

    # -- set-up ----------------------------------------------------------------------------
    def _run_context(self, opts: GcpOptions) -> RunContext:
        source = self.ctx.source
        static = None
        if source.token_env:
            static = self.ctx.secret_env(source.token_env) or os.environ.get(source.token_env)
            if not static:
                raise RuntimeError(f"denied: the environment variable {source.token_env} (token_env) is empty")
        tokens = TokenSource.from_options(static_token=static, credentials_file=opts.credentials_file,
                                          quota_project=opts.quota_project)
        tokens.token()  # fail fast, once, when the credentials cannot produce a token
        bases = endpoints.resolve(source.endpoint, opts.endpoints)
        calls: Counter[str] = Counter()
        lock = threading.Lock()
        type(self).calls = calls

        def record(method: str, url: str, status: int | None, seconds: float) -> None:
            with lock:
                calls[f"{method} {url.split('?', 1)[0]}"] += 1

        limits = {} if "max_concurrency" in source.model_fields_set else {"max_concurrency": DEFAULT_CONCURRENCY}
        http = self.ctx.http(base_url=None, auth=tokens.headers, allow_post=endpoints.allow_post(bases),
                             max_retries=opts.max_retries, on_request=record, **limits)
        run = RunContext(http=http, bases=bases, options=opts, report=self.ctx.report_error,
                         cursor=self.ctx.cursor, hierarchy=Hierarchy(), logger=self.ctx.logger)
        run.rm = ResourceManager(http, bases["cloudresourcemanager"], tokens.library_credentials())
        return run

    # -- fan-out ---------------------------------------------------------------------------
    def _fan_out(self, put: Any) -> None:
        opts: GcpOptions = self.ctx.options
        run = self._run_context(opts)
        self._discover(run, opts, put)  # every shard lists the hierarchy: the split is over what it finds
        owns = self.ctx.owns_unit or (lambda account, region: True)
        listed = run.hierarchy.projects
        projects = [p for p in listed if owns(p.project_id, None)]
        services = [s for s in all_services()
                    if (opts.services is None or s.name in opts.services) and s.name not in opts.exclude_services]
        read_audit = opts.audit_logs and (opts.services is None or "audit" in opts.services) \
            and "audit" not in opts.exclude_services
        # A shard judges log-export buckets of its projects against every sink that writes to them: it reads
        # the other projects' sinks as context (the runner keeps them for the rule, records nothing).
        others = [p for p in listed if p not in projects] \
            if {"logging", "storage"} <= {s.name for s in services} else []
        self.ctx.progress.update(f"{len(projects)} of {len(listed)} projects x {len(services)} services")
        reader = audit.AuditReader(run, put) if read_audit else None

        def run_service(project: ProjectInfo, spec: ServiceSpec) -> None:
            scope = ProjectScope(run, project)
            try:
                for resource in spec.collect(scope):
                    put(resource)
            except Exception as exc:  # a bug or unexpected answer in one service: only its types fail
                self.ctx.logger.exception("gcp service %s failed in %s", spec.name, project.project_id)
                for rtype in spec.resource_types:
                    scope.fail(rtype, exc, context=f"{spec.name} collector")

        def run_audit(batch: list[ProjectInfo]) -> None:
            assert reader is not None
            try:
                reader.read_batch(batch)
            except Exception as exc:
                self.ctx.logger.exception("gcp audit log reading failed")
                for project in batch:
                    for rtype in audit.RESOURCE_TYPES:
                        run.report(rtype, describe(exc, "audit logs"), account=project.project_id)

        def run_context_sinks(project: ProjectInfo) -> None:
            for resource in sink_resources(ProjectScope(run, project)):
                put(resource)

        with ThreadPoolExecutor(max_workers=opts.max_workers, thread_name_prefix="gcp") as pool:
            # every shard reads the organisation's and folders' IAM policies and sinks: projects inherit them
            futures = [pool.submit(organization.collect_above, run, put, owner=owns(None, None))]
            if reader is not None:
                size = opts.audit_log_batch
                futures += [pool.submit(run_audit, projects[i:i + size]) for i in range(0, len(projects), size)]
            # service-major order: the cheap per-project reads of every project start early and the
            # long chains (KMS, buckets) of different projects interleave.
            futures += [pool.submit(run_service, project, spec) for spec in services for project in projects]
            futures += [pool.submit(run_context_sinks, project) for project in others]
            for future in futures:
                future.result()

    def _discover(self, run: RunContext, opts: GcpOptions, put: Any) -> None:
        hierarchy = run.hierarchy
        rm = run.rm
        org_name = f"organizations/{opts.organization}" if opts.organization else None
        try:
            orgs = [rm.get_organization(opts.organization)] if opts.organization else rm.search_organizations()
            hierarchy.organizations = {o["name"]: o for o in orgs}
        except Exception as exc:
            run.report(organization.ORGANIZATION, describe(exc, "organizations"), account=org_name)
        try:
            folders = rm.search_folders()
            hierarchy.folders = {f["name"]: f for f in folders}
        except Exception as exc:
            run.report(organization.FOLDER, describe(exc, "folders.search"), account=org_name)
        if org_name:
            hierarchy.folders = {n: f for n, f in hierarchy.folders.items() if org_name in (hierarchy.chain(n) or [])}
        projects = self._projects(run, opts)
        with ThreadPoolExecutor(max_workers=opts.max_workers, thread_name_prefix="gcp-ancestry") as pool:
            list(pool.map(lambda p: resolve_ancestry(hierarchy, p, run.http, run.bases["cloudresourcemanager"],
                                                     describe), projects))
        hierarchy.projects = [p for p in projects if in_organization(p, org_name)]
        self.ctx.progress.update(f"found {len(hierarchy.organizations)} organisations, {len(hierarchy.folders)} "
                                 f"folders, {len(hierarchy.projects)} projects")

    def _projects(self, run: RunContext, opts: GcpOptions) -> list[ProjectInfo]:
        if opts.projects == "all":
            found = run.rm.search_projects("state:ACTIVE")  # an error here fails the whole source
            return [project_info(p) for p in found if not excluded(p["projectId"], opts.exclude_projects)]
        def read(key: str) -> ProjectInfo | None:
            try:
                return project_info(run.rm.get_project(key))
            except Exception as exc:
                for rtype in self.resource_types:
                    if rtype not in PROJECT_TYPES_SKIPPED:
                        run.report(rtype, describe(exc, f"project {key}"), account=key)
                return None

        wanted = [key for key in opts.projects if not excluded(key, opts.exclude_projects)]
        with ThreadPoolExecutor(max_workers=opts.max_workers, thread_name_prefix="gcp-projects") as pool:
            return [p for p in pool.map(read, wanted) if p is not None]
