"""Above the projects: organisations and folders, their IAM policies, log sinks and organisation policies.

Runs once per collection, beside the project tasks; the project tasks that judge inheritance (the
audit-log configuration and log exports in force for a project) wait for it (`run.above_done`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent.model import Resource
from collectors.gcp.errors import describe
from collectors.gcp.hierarchy import RM
from collectors.gcp.policy import policy_data
from collectors.gcp.scope import RunContext
from collectors.gcp.services.logging import LOGGING, SINK, sink_resource_data
from collectors.gcp.services.orgpolicy import ORGPOLICY, summarise
from collectors.gcp.services.orgpolicy import POLICY as ORG_POLICY
from collectors.gcp.services.project import POLICY

ORGANIZATION = "gcp.organization"
FOLDER = "gcp.folder"
RESOURCE_TYPES = {
    ORGANIZATION: "an organisation (Resource Manager v3): its Google Workspace or Cloud Identity customer",
    FOLDER: "a folder of the resource hierarchy",
}


def collect_above(run: RunContext, emit: Callable[[Resource], None], workers: int = 8, *,
                  owner: bool = True) -> None:
    """Read everything above the projects; `owner` False (a shard without the organisation's unit): read
    the IAM policies and sinks that projects inherit and that cross-project rules join, skip the rest."""
    hierarchy = run.hierarchy
    parents = [*hierarchy.organizations, *hierarchy.folders]
    try:
        for name, org in hierarchy.organizations.items():
            emit(Resource(ORGANIZATION, RM + name, org.get("displayName") or name, org, account=name))
        for name, folder in hierarchy.folders.items():
            emit(Resource(FOLDER, RM + name, folder.get("displayName") or name, folder, account=name))

        def policy_of(name: str) -> dict[str, Any]:
            return run.rm.iam_policy(name)

        def sinks_of(name: str) -> list[dict[str, Any]]:
            return list(run.http.paginate(f"{run.bases['logging']}/v2/{name}/sinks", style="page_token",
                                          items="sinks", page_size=("pageSize", 200)))

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gcp-above") as pool:
            policies = list(pool.map(_guarded(policy_of), parents))
            sinks = list(pool.map(_guarded(sinks_of), parents))
        for name, policy, found in zip(parents, policies, sinks, strict=True):
            if isinstance(policy, Exception):
                hierarchy.policy_errors[name] = describe(policy)
                run.report(POLICY, describe(policy, f"getIamPolicy {name}"), account=name)
            else:
                hierarchy.policies[name] = policy
            if isinstance(found, Exception):
                hierarchy.sink_errors[name] = describe(found)
                run.report(SINK, describe(found, f"sinks.list {name}"), account=name)
            else:
                hierarchy.sinks[name] = found
                for sink in found:
                    emit(Resource(SINK, LOGGING + f"{name}/sinks/{sink['name']}", sink["name"],
                                  sink_resource_data(sink, name), account=name))
    finally:
        run.above_done.set()  # project tasks may go on; what was not read is named in their evidence
    if not owner:
        return
    for name in parents:
        if name in hierarchy.policies:
            emit(_policy_resource(run, name))
    _org_policies(run, emit, workers)


def _guarded(fn: Callable[[str], Any]) -> Callable[[str], Any]:
    def call(name: str) -> Any:
        try:
            return fn(name)
        except Exception as exc:
            return exc
    return call


def _policy_resource(run: RunContext, name: str) -> Resource:
    hierarchy = run.hierarchy
    kind = name.split("/", 1)[0].rstrip("s")
    parent = (hierarchy.folders.get(name) or {}).get("parent", "")
    ancestors = (hierarchy.chain(parent) or [parent]) if parent else []
    chain = [(a, hierarchy.policies[a]) for a in ancestors if a in hierarchy.policies]
    errors = [f"{a}: {hierarchy.policy_errors.get(a, 'not visible to these credentials')}"
              for a in ancestors if a not in hierarchy.policies]
    body = hierarchy.organizations.get(name) or hierarchy.folders.get(name) or {}
    data = policy_data(name, kind, hierarchy.policies[name], ancestors=ancestors, chain_policies=chain,
                       inherited_errors=errors, extra={"displayName": body.get("displayName")})
    return Resource(POLICY, RM + name, f"IAM policy of {kind} {body.get('displayName') or name}", data,
                    account=name)


def _org_policies(run: RunContext, emit: Callable[[Resource], None], workers: int) -> None:
    """Effective policies of the configured constraints on each organisation."""
    constraints = list(run.options.org_policy_constraints)
    for org in run.hierarchy.organizations:
        def read(constraint: str, org: str = org) -> Any:
            return run.http.get_json(f"{run.bases['orgpolicy']}/v2/{org}/policies/{constraint}:getEffectivePolicy")

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gcp-orgpolicy") as pool:
            results = list(pool.map(_guarded(read), constraints))
        for constraint, raw in zip(constraints, results, strict=True):
            if isinstance(raw, Exception):
                run.report(ORG_POLICY, describe(raw, f"getEffectivePolicy {org} {constraint}"), account=org)
                continue
            data = summarise(raw if isinstance(raw, dict) else {}, constraint, org)
            name = data.get("name") or f"{org}/policies/{constraint}"
            emit(Resource(ORG_POLICY, ORGPOLICY + name, f"{constraint} on {org}", data, account=org))
