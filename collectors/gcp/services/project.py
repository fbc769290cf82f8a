"""Each project: its Resource Manager record with ancestry and log exports, and its IAM policy.

The project's policy is judged with what it inherits: the audit-log configuration in force is the
union of the project's, its folders' and its organisation's `auditConfigs`, and the log sinks that
export its entries are its own plus ancestors' sinks that include children. An ancestor whose
policy or sinks could not be read is named in the evidence, so rules that need it say `error`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.gcp.errors import describe
from collectors.gcp.policy import policy_data
from collectors.gcp.scope import ProjectScope
from collectors.gcp.services import ServiceSpec

PROJECT = "gcp.project"
POLICY = "gcp.iam.policy"


def project_policy(scope: ProjectScope) -> dict[str, Any]:
    """The project's IAM policy (version 3), read once per run."""
    return scope.memo("iam-policy", lambda: scope.run.rm.iam_policy(scope.project.name))


def project_sinks(scope: ProjectScope) -> list[dict[str, Any]]:
    return scope.memo("sinks", lambda: scope.items("logging", f"v2/projects/{scope.project_id}/sinks", "sinks",
                                                   size=("pageSize", 200)))


def _inherited(scope: ProjectScope) -> tuple[list[tuple[str, dict[str, Any] | None]], list[str]]:
    hierarchy = scope.run.hierarchy
    chain: list[tuple[str, dict[str, Any] | None]] = []
    errors: list[str] = []
    if scope.project.ancestry_error:
        errors.append(f"ancestry: {scope.project.ancestry_error}")
    for name in scope.project.ancestors:
        if name in hierarchy.policies:
            chain.append((name, hierarchy.policies[name]))
        else:
            errors.append(f"{name}: {hierarchy.policy_errors.get(name, 'not visible to these credentials')}")
    return chain, errors


def _sink_brief(sink: dict[str, Any], parent: str) -> dict[str, Any]:
    return {"name": sink.get("name"), "parent": parent, "destination": sink.get("destination"),
            "filter": sink.get("filter", ""), "disabled": bool(sink.get("disabled")),
            "includeChildren": bool(sink.get("includeChildren"))}


def log_exports(scope: ProjectScope) -> dict[str, Any]:
    """The sinks that route this project's entries: its own, and ancestors' that include children."""
    hierarchy = scope.run.hierarchy
    errors: list[str] = []
    own: list[dict[str, Any]] = []
    try:
        own = [_sink_brief(s, f"projects/{scope.project_id}") for s in project_sinks(scope)]
    except Exception as exc:
        errors.append(f"projects/{scope.project_id}: {describe(exc)}")
    inherited: list[dict[str, Any]] = []
    for name in scope.project.ancestors:
        if name in hierarchy.sinks:
            inherited.extend(_sink_brief(s, name) for s in hierarchy.sinks[name] if s.get("includeChildren"))
        else:
            errors.append(f"{name}: {hierarchy.sink_errors.get(name, 'not visible to these credentials')}")
    return {"sinks": own, "inheritedSinks": inherited, "errors": errors}


def collect(scope: ProjectScope) -> Iterator[Resource]:
    scope.run.above_done.wait()
    project = scope.project
    chain, inherited_errors = _inherited(scope)
    try:
        policy = project_policy(scope)
    except Exception as exc:
        scope.fail(POLICY, exc, context=f"getIamPolicy {project.name}")
    else:
        data = policy_data(project.name, "project", policy, ancestors=project.ancestors, chain_policies=chain,
                           inherited_errors=inherited_errors,
                           extra={"projectId": project.project_id, "displayName": project.data.get("displayName")})
        yield scope.resource(POLICY, project.full_name, f"IAM policy of project {project.project_id}", data)
    data = {**project.data, "ancestors": project.ancestors, "ancestryError": project.ancestry_error,
            "logExports": log_exports(scope)}
    yield scope.resource(PROJECT, project.full_name, project.project_id, data)


SERVICE = ServiceSpec(
    name="project",
    api="cloudresourcemanager",
    resource_types={
        PROJECT: "a project (Resource Manager v3) with its ancestry and the log sinks that export its entries",
        POLICY: "the IAM policy of an organisation, folder or project, with its members, public grants and the "
                "audit-log configuration in force (own plus inherited)",
    },
    collect=collect,
)
