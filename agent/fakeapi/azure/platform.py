"""Builders for ARM objects of the platform services: SQL, Monitor, Defender for Cloud, RBAC, App
Service and Activity Log events, in the shapes the ARM REST API returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.fakeapi.azure.infra import BUILT_IN_ROLES, EPOCH, _base, guid, rid, stamp

ACTIVITY_CATEGORIES = ("Administrative", "Security", "ServiceHealth", "Alert", "Recommendation", "Policy",
                       "Autoscale", "ResourceHealth")


# -- SQL -------------------------------------------------------------------------------------------
def sql_server(sub: str, rg: str, name: str, *, public_network_access: str = "Disabled", min_tls: str | None = "1.2",
               location: str = "westeurope") -> dict[str, Any]:
    props: dict[str, Any] = {"administratorLogin": "sqladmin", "version": "12.0", "state": "Ready",
                             "fullyQualifiedDomainName": f"{name}.database.windows.net",
                             "privateEndpointConnections": [], "publicNetworkAccess": public_network_access,
                             "restrictOutboundNetworkAccess": "Disabled"}
    if min_tls is not None:
        props["minimalTlsVersion"] = min_tls
    return _base(rid(sub, rg, "Microsoft.Sql/servers", name), "Microsoft.Sql/servers", location, kind="v12.0",
                 properties=props)


def sql_auditing(server: dict[str, Any], *, enabled: bool = True, retention_days: int = 0,
                 monitor: bool = True) -> dict[str, Any]:
    return _base(f"{server['id']}/auditingSettings/Default", "Microsoft.Sql/servers/auditingSettings", None,
                 properties={"state": "Enabled" if enabled else "Disabled", "retentionDays": retention_days,
                             "auditActionsAndGroups": ["SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP",
                                                       "FAILED_DATABASE_AUTHENTICATION_GROUP",
                                                       "BATCH_COMPLETED_GROUP"] if enabled else [],
                             "isAzureMonitorTargetEnabled": monitor and enabled, "isStorageSecondaryKeyInUse": False,
                             "isDevopsAuditEnabled": False, "storageEndpoint": "",
                             "storageAccountSubscriptionId": "00000000-0000-0000-0000-000000000000"})


def sql_entra_admin(server: dict[str, Any], login: str, sid: str, tenant: str, *,
                    entra_only: bool = True) -> dict[str, Any]:
    return _base(f"{server['id']}/administrators/ActiveDirectory", "Microsoft.Sql/servers/administrators", None,
                 properties={"administratorType": "ActiveDirectory", "login": login, "sid": sid, "tenantId": tenant,
                             "azureADOnlyAuthentication": entra_only})


def sql_firewall_rule(server: dict[str, Any], name: str, start: str, end: str) -> dict[str, Any]:
    return _base(f"{server['id']}/firewallRules/{name}", "Microsoft.Sql/servers/firewallRules", None,
                 properties={"startIpAddress": start, "endIpAddress": end})


def sql_database(server: dict[str, Any], name: str) -> dict[str, Any]:
    return _base(f"{server['id']}/databases/{name}", "Microsoft.Sql/servers/databases", server["location"],
                 kind="v12.0,user" if name != "master" else "v12.0,system",
                 sku={"name": "GP_S_Gen5", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 2},
                 properties={"collation": "SQL_Latin1_General_CP1_CI_AS", "status": "Online",
                             "databaseId": guid(server["id"], name), "creationDate": stamp(EPOCH),
                             "currentServiceObjectiveName": "GP_S_Gen5_2", "zoneRedundant": False})


def sql_tde(database: dict[str, Any], *, enabled: bool = True) -> dict[str, Any]:
    return _base(f"{database['id']}/transparentDataEncryption/current",
                 "Microsoft.Sql/servers/databases/transparentDataEncryption", None,
                 properties={"state": "Enabled" if enabled else "Disabled"})


# -- Monitor ---------------------------------------------------------------------------------------
def activity_log_setting(sub: str, name: str, *, workspace_id: str | None = None, storage_id: str | None = None,
                         categories: tuple[str, ...] = ACTIVITY_CATEGORIES) -> dict[str, Any]:
    """A subscription diagnostic setting (the Activity Log export). Azure returns the namespace in lower case."""
    props: dict[str, Any] = {"storageAccountId": storage_id, "workspaceId": workspace_id,
                             "eventHubAuthorizationRuleId": None, "eventHubName": None,
                             "logs": [{"category": c, "enabled": c in categories} for c in ACTIVITY_CATEGORIES]}
    return _base(f"/subscriptions/{sub}/providers/microsoft.insights/diagnosticSettings/{name}",
                 "Microsoft.Insights/diagnosticSettings", None, properties=props)


def log_analytics_workspace(sub: str, rg: str, name: str, *, retention_days: int = 365) -> dict[str, Any]:
    return _base(rid(sub, rg, "Microsoft.OperationalInsights/workspaces", name),
                 "Microsoft.OperationalInsights/workspaces", "westeurope",
                 properties={"customerId": guid(name), "provisioningState": "Succeeded",
                             "sku": {"name": "PerGB2018"}, "retentionInDays": retention_days,
                             "publicNetworkAccessForIngestion": "Enabled", "publicNetworkAccessForQuery": "Enabled"})


# -- Defender for Cloud ----------------------------------------------------------------------------
DEFENDER_PLANS = ("VirtualMachines", "SqlServers", "AppServices", "StorageAccounts", "SqlServerVirtualMachines",
                  "KeyVaults", "Arm", "OpenSourceRelationalDatabases", "CosmosDbs", "Containers",
                  "CloudPosture", "Api")


def pricing(sub: str, plan: str, *, standard: bool) -> dict[str, Any]:
    props: dict[str, Any] = {"pricingTier": "Standard" if standard else "Free",
                             "freeTrialRemainingTime": "PT0S"}
    if standard:
        props["enablementTime"] = stamp(EPOCH)
        if plan in ("VirtualMachines", "StorageAccounts", "KeyVaults", "Arm"):
            props["subPlan"] = {"VirtualMachines": "P2", "StorageAccounts": "DefenderForStorageV2",
                                "KeyVaults": "PerKeyVault", "Arm": "PerSubscription"}[plan]
    return _base(f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{plan}", "Microsoft.Security/pricings",
                 None, properties=props)


def security_contact(sub: str, *, emails: str = "security@acme.example", alerts: bool = True,
                     minimal_severity: str = "Medium", notify_owners: bool = True) -> dict[str, Any]:
    sources: list[dict[str, Any]] = [{"sourceType": "Alert", "minimalSeverity": minimal_severity}] if alerts else []
    return _base(f"/subscriptions/{sub}/providers/Microsoft.Security/securityContacts/default",
                 "Microsoft.Security/securityContacts", None,
                 properties={"emails": emails, "phone": "", "isEnabled": alerts, "notificationsSources": sources,
                             "notificationsByRole": {"state": "On" if notify_owners else "Off", "roles": ["Owner"]}})


# -- RBAC ------------------------------------------------------------------------------------------
def role_definition(scope_sub: str, role_guid: str, name: str | None = None, *, actions: list[str] | None = None,
                    not_actions: list[str] | None = None, custom: bool = False,
                    assignable: list[str] | None = None) -> dict[str, Any]:
    """A role definition as listed under a subscription (built-in ones by their well-known id)."""
    if not custom:
        name, actions, not_actions = BUILT_IN_ROLES[role_guid]
    return _base(f"/subscriptions/{scope_sub}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}",
                 "Microsoft.Authorization/roleDefinitions", None,
                 properties={"roleName": name, "type": "CustomRole" if custom else "BuiltInRole",
                             "description": f"{name} role", "assignableScopes": assignable or ["/"],
                             "permissions": [{"actions": actions or [], "notActions": not_actions or [],
                                              "dataActions": [], "notDataActions": []}],
                             "createdOn": stamp(EPOCH), "updatedOn": stamp(EPOCH),
                             "createdBy": None, "updatedBy": None})


def role_assignment(scope: str, role_def_sub: str, role_guid: str, principal_id: str, *,
                    principal_type: str = "User", name: str | None = None) -> dict[str, Any]:
    """`scope` is `/`, a management group, `/subscriptions/{id}`, a resource group or a resource id."""
    assignment = name or guid(scope, role_guid, principal_id)
    prefix = "" if scope == "/" else scope
    return _base(f"{prefix}/providers/Microsoft.Authorization/roleAssignments/{assignment}",
                 "Microsoft.Authorization/roleAssignments", None,
                 properties={"roleDefinitionId": f"/subscriptions/{role_def_sub}/providers/Microsoft.Authorization/"
                                                 f"roleDefinitions/{role_guid}",
                             "principalId": principal_id, "principalType": principal_type, "scope": scope,
                             "condition": None, "conditionVersion": None, "createdOn": stamp(EPOCH),
                             "updatedOn": stamp(EPOCH), "createdBy": None, "updatedBy": None,
                             "delegatedManagedIdentityResourceId": None, "description": None})


def classic_administrator(sub: str, email: str, role: str = "CoAdministrator") -> dict[str, Any]:
    return _base(f"/subscriptions/{sub}/providers/Microsoft.Authorization/classicAdministrators/{guid(email)}",
                 "Microsoft.Authorization/classicAdministrators", None,
                 properties={"emailAddress": email, "role": role})


# -- App Service -----------------------------------------------------------------------------------
def web_app(sub: str, rg: str, name: str, *, https_only: bool = True, identity: bool = True,
            location: str = "westeurope") -> dict[str, Any]:
    id_ = rid(sub, rg, "Microsoft.Web/sites", name)
    out = _base(id_, "Microsoft.Web/sites", location, kind="app,linux", tags={},
                properties={"name": name, "state": "Running", "hostNames": [f"{name}.azurewebsites.net"],
                            "enabled": True, "httpsOnly": https_only, "clientCertEnabled": False,
                            "publicNetworkAccess": "Enabled", "reserved": True,
                            "defaultHostName": f"{name}.azurewebsites.net",
                            "serverFarmId": rid(sub, rg, "Microsoft.Web/serverfarms", f"{name}-plan"),
                            "siteConfig": {"numberOfWorkers": 1, "linuxFxVersion": "PYTHON|3.12",
                                           "minTlsVersion": None, "ftpsState": None},
                            "lastModifiedTimeUtc": EPOCH.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]})
    if identity:
        out["identity"] = {"type": "SystemAssigned", "principalId": guid(id_, "mi"), "tenantId": guid("tenant")}
    return out


def web_config(site: dict[str, Any], *, min_tls: str = "1.2", ftps_state: str = "Disabled") -> dict[str, Any]:
    return _base(f"{site['id']}/config/web", "Microsoft.Web/sites/config", site["location"],
                 properties={"numberOfWorkers": 1, "netFrameworkVersion": "v4.0", "linuxFxVersion": "PYTHON|3.12",
                             "http20Enabled": True, "minTlsVersion": min_tls, "scmMinTlsVersion": "1.2",
                             "ftpsState": ftps_state, "remoteDebuggingEnabled": False, "alwaysOn": True,
                             "managedPipelineMode": "Integrated", "scmType": "None"})


# -- Activity Log ----------------------------------------------------------------------------------
def activity_event(sub: str, tenant: str, operation: str, resource_id: str, when: datetime, *,
                   caller: str = "alice@acme.example", status: str = "Succeeded",
                   properties: dict[str, Any] | None = None, category: str = "Administrative") -> dict[str, Any]:
    """One Activity Log event (EventData) as `eventtypes/management/values` returns it."""
    event_id = guid(resource_id, operation, when.isoformat(), status)
    ticks = int((when.timestamp() + 62135596800) * 10**7)
    parts = resource_id.split("/")
    group = parts[4] if len(parts) > 4 and parts[3].lower() == "resourcegroups" else None
    provider = operation.split("/", 1)[0]
    return {
        "authorization": {"action": operation, "scope": resource_id},
        "caller": caller, "channels": "Operation", "claims": {"aud": "https://management.core.windows.net/"},
        "correlationId": guid(event_id, "c"), "description": "", "eventDataId": event_id,
        "eventName": {"value": "EndRequest" if status != "Started" else "BeginRequest",
                      "localizedValue": "End request" if status != "Started" else "Begin request"},
        "category": {"value": category, "localizedValue": category},
        "id": f"{resource_id}/events/{event_id}/ticks/{ticks}", "level": "Informational",
        "resourceGroupName": group, "operationId": guid(event_id, "o"),
        "operationName": {"value": operation, "localizedValue": operation},
        "resourceProviderName": {"value": provider, "localizedValue": provider},
        "resourceType": {"value": operation.rsplit("/", 1)[0], "localizedValue": operation.rsplit("/", 1)[0]},
        "resourceId": resource_id, "status": {"value": status, "localizedValue": status},
        "subStatus": {"value": "", "localizedValue": ""},
        "eventTimestamp": stamp(when), "submissionTimestamp": stamp(when), "subscriptionId": sub,
        "tenantId": tenant, "properties": dict(properties or {}), "httpRequest": {"clientRequestId": event_id,
                                                                                  "clientIpAddress": "203.0.113.7",
                                                                                  "method": "PUT"},
    }
