"""Which organisations, folders and projects a source covers, and each project's ancestry.

Discovery uses Resource Manager v3 search (what the credentials can see) or the configured
project list. A project's ancestors come from the folders found by search; when a folder on the
way up is not visible, the project's ancestry is asked for directly (v1 `getAncestry`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.http import HttpClient

RM = "//cloudresourcemanager.googleapis.com/"


@dataclass
class ProjectInfo:
    project_id: str
    number: str
    parent: str
    data: dict[str, Any]
    ancestors: list[str] = field(default_factory=list)  # nearest first: folders/..., organizations/...
    ancestry_error: str | None = None

    @property
    def name(self) -> str:
        return f"projects/{self.number}"

    @property
    def full_name(self) -> str:
        return RM + self.name


@dataclass
class Hierarchy:
    organizations: dict[str, dict[str, Any]] = field(default_factory=dict)  # organizations/N -> JSON
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)        # folders/N -> JSON
    projects: list[ProjectInfo] = field(default_factory=list)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)       # org/folder name -> IAM policy
    policy_errors: dict[str, str] = field(default_factory=dict)
    sinks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)    # org/folder name -> sinks
    sink_errors: dict[str, str] = field(default_factory=dict)

    def chain(self, parent: str) -> list[str] | None:
        """Ancestor names from `parent` up to the organisation; None when a folder on the way is unknown."""
        out: list[str] = []
        current = parent
        while current.startswith("folders/"):
            if current in out:
                return None  # a loop would be a broken answer; treat the chain as unknown
            out.append(current)
            folder = self.folders.get(current)
            if folder is None:
                return None
            current = folder.get("parent", "")
        if current.startswith("organizations/"):
            out.append(current)
        return out


def project_info(data: dict[str, Any]) -> ProjectInfo:
    return ProjectInfo(project_id=data["projectId"], number=data["name"].split("/", 1)[1],
                       parent=data.get("parent", ""), data=data)


def excluded(project_id: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(project_id, pattern) for pattern in patterns)


def resolve_ancestry(hierarchy: Hierarchy, project: ProjectInfo, http: HttpClient, rm_base: str,
                     describe: Callable[[BaseException], str]) -> None:
    """Fill `project.ancestors` from the known folders, else from `getAncestry`."""
    known = hierarchy.chain(project.parent) if project.parent else []
    if known is not None:
        project.ancestors = known
        return
    try:
        body = http.request("POST", f"{rm_base}/v1/projects/{project.project_id}:getAncestry", json={}).json()
    except Exception as exc:
        project.ancestors = [project.parent] if project.parent else []
        project.ancestry_error = describe(exc)
        return
    chain = []
    for item in (body or {}).get("ancestor", [])[1:]:  # the first entry is the project itself
        resource = item.get("resourceId") or {}
        kind, ident = resource.get("type"), resource.get("id")
        if kind in ("folder", "organization") and ident:
            chain.append(f"{kind}s/{ident}")
    project.ancestors = chain


def in_organization(project: ProjectInfo, org_name: str | None) -> bool:
    return org_name is None or org_name in project.ancestors
