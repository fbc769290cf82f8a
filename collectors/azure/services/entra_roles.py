"""Entra ID directory roles: active assignments, PIM eligibility and who holds privileged roles permanently.

Active assignments (`roleManagement/directory/roleAssignments`) are readable in every tenant; PIM
schedules (`roleEligibilitySchedules`, `roleAssignmentScheduleInstances`) need Entra ID P2. Without
P2 there is no PIM, so every active assignment is standing and nobody is eligible — the collector
records that as known. If PIM could not be read for another reason, what depends on it is unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe, reason
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec, directory

ASSIGNMENT = "azure.entra.directory_role_assignment"
PRIVILEGED = "azure.entra.privileged_access"


def pim_state(scope: Scope) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None, str | None, bool]:
    """(eligibilities, schedule instances, error, known): `known` is False only when PIM exists but could
    not be read; a tenant without P2 has no eligibilities and no activations."""
    try:
        return directory.eligibilities(scope), directory.schedule_instances(scope), None, True
    except HttpError as exc:
        return None, None, describe(exc), reason(exc) == "licence"


def collect(scope: Scope) -> Iterator[Resource]:
    try:
        definitions = directory.role_definitions(scope)
        active = directory.role_assignments(scope)
    except HttpError as exc:
        scope.fail(ASSIGNMENT, exc)
        scope.fail(PRIVILEGED, exc)
        return
    eligible, instances, pim_error, pim_known = pim_state(scope)
    by_origin = {str(i.get("roleAssignmentOriginId")): i for i in instances or []}
    permanent, global_admins = [], {}
    for assignment in active:
        role_id = str(assignment.get("roleDefinitionId"))
        template = str((definitions.get(role_id) or {}).get("templateId") or role_id)
        principal = assignment.get("principal") or {}
        instance = by_origin.get(str(assignment.get("id")))
        if instances is not None:
            kind = "Activated" if instance and (instance.get("assignmentType") == "Activated"
                                                or instance.get("endDateTime")) else "Permanent"
        else:
            kind = "Permanent" if pim_known else None
        privileged = template in directory.PRIVILEGED_ROLES
        data = {**assignment, "RoleName": directory.role_name(definitions, role_id), "RoleTemplateId": template,
                "Privileged": privileged, "AssignmentType": kind, "PimError": pim_error,
                "PrincipalExternal": directory.is_external(principal) if principal.get("@odata.type", "").endswith(
                    ".user") else False}
        summary = {"assignmentId": assignment.get("id"), "principalId": assignment.get("principalId"),
                   "principal": principal.get("userPrincipalName") or principal.get("displayName"),
                   "role": data["RoleName"], "type": kind}
        if privileged and kind == "Permanent":
            permanent.append(summary)
        if template == directory.GLOBAL_ADMINISTRATOR:
            global_admins[str(assignment.get("principalId"))] = {**summary, "state": "active"}
        yield scope.resource(ASSIGNMENT, scope.graph_id(f"roleManagement/directory/roleAssignments/"
                                                        f"{assignment.get('id')}"),
                             f"{data['RoleName']}: {summary['principal'] or assignment.get('principalId')}", data,
                             region="global")
    eligible_summary = []
    for item in eligible or []:
        role_id = str(item.get("roleDefinitionId"))
        template = str((definitions.get(role_id) or {}).get("templateId") or role_id)
        principal = item.get("principal") or {}
        entry = {"principalId": item.get("principalId"), "role": directory.role_name(definitions, role_id),
                 "principal": principal.get("userPrincipalName") or principal.get("displayName"),
                 "expires": ((item.get("scheduleInfo") or {}).get("expiration") or {}).get("endDateTime")}
        eligible_summary.append(entry)
        if template == directory.GLOBAL_ADMINISTRATOR:
            global_admins.setdefault(str(item.get("principalId")), {**entry, "state": "eligible"})
    known = instances is not None or pim_known
    data = {"tenantId": scope.tenant_id, "GlobalAdministrators": sorted(global_admins.values(),
                                                                        key=lambda e: str(e.get("principal"))),
            "GlobalAdminCount": len(global_admins) if known else None,
            "ActiveGlobalAdminCount": sum(1 for g in global_admins.values() if g["state"] == "active"),
            "PermanentPrivileged": permanent if known else None,
            "PermanentPrivilegedCount": len(permanent) if known else None,
            "EligiblePrivileged": eligible_summary if eligible is not None else ([] if pim_known else None),
            "PimAvailable": instances is not None, "PimError": pim_error}
    yield scope.resource(PRIVILEGED, scope.graph_id("roleManagement/directory"), "directory roles", data,
                         region="global")


SERVICE = ServiceSpec("entra_roles", "tenant", {
    ASSIGNMENT: "an active Entra ID directory role assignment, permanent or activated through PIM",
    PRIVILEGED: "the tenant's privileged directory roles: Global Administrators, standing and eligible holders",
}, collect)
