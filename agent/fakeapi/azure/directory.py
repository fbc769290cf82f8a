"""Builders for Microsoft Graph (Entra ID) objects, in the shapes Graph v1.0 returns them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agent.fakeapi.azure.infra import EPOCH, guid

# Directory role template ids (the same in every tenant; built-in role definition id == template id).
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
SECURITY_ADMINISTRATOR = "194ae4cb-b126-40b2-bd5b-6091b380977d"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
DIRECTORY_ROLES = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    PRIVILEGED_ROLE_ADMINISTRATOR: "Privileged Role Administrator",
    SECURITY_ADMINISTRATOR: "Security Administrator",
    USER_ADMINISTRATOR: "User Administrator",
    GLOBAL_READER: "Global Reader",
}
GUEST_ROLE = "10dae51f-b6af-4016-8d66-8c2a99b929b3"
RESTRICTED_GUEST_ROLE = "2af84b1e-32c8-42b7-82bc-daa82404023b"
MEMBER_LIKE_GUEST_ROLE = "a0b1b346-4d3e-4e8b-98f8-753987be4970"


def graph_time(when: datetime) -> str:
    """Graph's timestamp style: whole seconds and `Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(upn: str, *, display_name: str | None = None, enabled: bool = True, guest: bool = False,
         mail: str | None = None, other_mails: list[str] | None = None, created: datetime = EPOCH,
         last_sign_in: datetime | None = None, tenant_domain: str = "acme.example") -> dict[str, Any]:
    """A user. A guest's UPN is `name_domain#EXT#@tenant` as Entra writes it; `upn` is then the guest's e-mail."""
    if guest:
        mail = mail or upn
        upn = upn.replace("@", "_") + f"#EXT#@{tenant_domain.split('.')[0]}.onmicrosoft.com"
    activity = None
    if last_sign_in is not None:
        activity = {"lastSignInDateTime": graph_time(last_sign_in), "lastSignInRequestId": guid(upn, "si"),
                    "lastNonInteractiveSignInDateTime": graph_time(last_sign_in),
                    "lastNonInteractiveSignInRequestId": guid(upn, "ni"),
                    "lastSuccessfulSignInDateTime": graph_time(last_sign_in),
                    "lastSuccessfulSignInRequestId": guid(upn, "ss")}
    name = display_name or upn.split("@")[0].split("_")[0].title()
    return {"id": guid("user", upn), "displayName": name, "givenName": name.split()[0], "surname": None,
            "userPrincipalName": upn, "mail": mail if mail is not None else (None if guest else upn),
            "otherMails": other_mails or [], "accountEnabled": enabled, "userType": "Guest" if guest else "Member",
            "createdDateTime": graph_time(created), "jobTitle": None, "businessPhones": [], "mobilePhone": None,
            "officeLocation": None, "preferredLanguage": None,
            "externalUserState": "Accepted" if guest else None, "signInActivity": activity}


def registration(user_: dict[str, Any], *, mfa: bool, admin: bool = False,
                 methods: list[str] | None = None) -> dict[str, Any]:
    registered = methods if methods is not None else (["microsoftAuthenticatorPush", "softwareOneTimePasscode"]
                                                      if mfa else [])
    return {"id": user_["id"], "userPrincipalName": user_["userPrincipalName"],
            "userDisplayName": user_["displayName"], "userType": user_["userType"].lower(), "isAdmin": admin,
            "isSsprRegistered": mfa, "isSsprEnabled": True, "isSsprCapable": mfa, "isMfaRegistered": mfa,
            "isMfaCapable": mfa, "isPasswordlessCapable": False, "methodsRegistered": registered,
            "isSystemPreferredAuthenticationMethodEnabled": True,
            "systemPreferredAuthenticationMethods": ["push"] if mfa else [],
            "userPreferredMethodForSecondaryAuthentication": "push" if mfa else "none",
            "lastUpdatedDateTime": graph_time(EPOCH)}


def auth_methods(user_: dict[str, Any], *, mfa: bool) -> list[dict[str, Any]]:
    """`/users/{id}/authentication/methods`: the password, plus an authenticator app when `mfa`."""
    methods = [{"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "28c10230-6103-485e-b985-"
                "444c60001490", "password": None, "createdDateTime": graph_time(EPOCH)}]
    if mfa:
        methods.append({"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                        "id": guid(user_["id"], "authenticator"), "displayName": "Pixel 8",
                        "deviceTag": "SoftwareTokenActivated",
                        "phoneAppVersion": "6.2401.0119", "createdDateTime": graph_time(EPOCH)})
    return methods


def ca_policy(name: str, *, state: str = "enabled", include_users: list[str] | None = None,
              include_roles: list[str] | None = None, exclude_users: list[str] | None = None,
              client_app_types: list[str] | None = None, grant: list[str] | None = None,
              operator: str = "OR", modified: datetime = EPOCH) -> dict[str, Any]:
    return {
        "id": guid("ca", name), "templateId": None, "displayName": name, "createdDateTime": graph_time(EPOCH),
        "modifiedDateTime": graph_time(modified), "state": state, "sessionControls": None,
        "conditions": {
            "userRiskLevels": [], "signInRiskLevels": [], "clientAppTypes": client_app_types or ["all"],
            "servicePrincipalRiskLevels": [], "insiderRiskLevels": None, "platforms": None, "locations": None,
            "devices": None, "clientApplications": None, "authenticationFlows": None,
            "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [],
                             "includeAuthenticationContextClassReferences": [], "applicationFilter": None},
            "users": {"includeUsers": include_users if include_users is not None else ([] if include_roles
                                                                                       else ["All"]),
                      "excludeUsers": exclude_users or [], "includeGroups": [], "excludeGroups": [],
                      "includeRoles": include_roles or [], "excludeRoles": [],
                      "includeGuestsOrExternalUsers": None, "excludeGuestsOrExternalUsers": None},
        },
        "grantControls": {"operator": operator, "builtInControls": grant if grant is not None else ["mfa"],
                          "customAuthenticationFactors": [], "termsOfUse": [],
                          "authenticationStrength@odata.context": "https://graph.microsoft.com/v1.0/$metadata#"
                                                                  "identity/conditionalAccess/policies('x')/"
                                                                  "grantControls/authenticationStrength/$entity",
                          "authenticationStrength": None},
    }


def role_definition(template: str) -> dict[str, Any]:
    name = DIRECTORY_ROLES[template]
    return {"id": template, "description": f"{name} role", "displayName": name,
            "isBuiltIn": True, "isEnabled": True, "resourceScopes": ["/"], "templateId": template, "version": "1",
            "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/*/read"], "condition": None}],
            "inheritsPermissionsFrom@odata.context": None}


def directory_principal(user_: dict[str, Any]) -> dict[str, Any]:
    """How `$expand=principal` shows a user."""
    return {"@odata.type": "#microsoft.graph.user", "id": user_["id"], "displayName": user_["displayName"],
            "userPrincipalName": user_["userPrincipalName"], "userType": user_["userType"],
            "accountEnabled": user_["accountEnabled"], "mail": user_["mail"]}


def role_assignment(principal: dict[str, Any], template: str) -> dict[str, Any]:
    return {"id": guid("dra", principal["id"], template), "principalId": principal["id"],
            "roleDefinitionId": template, "directoryScopeId": "/", "appScopeId": None, "condition": None}


def eligibility(principal: dict[str, Any], template: str, *, expires: datetime | None = None) -> dict[str, Any]:
    expiration = ({"type": "afterDateTime", "endDateTime": graph_time(expires), "duration": None} if expires
                  else {"type": "noExpiration", "endDateTime": None, "duration": None})
    return {"id": guid("elig", principal["id"], template), "principalId": principal["id"],
            "roleDefinitionId": template, "directoryScopeId": "/", "appScopeId": None,
            "createdUsing": guid("elig", principal["id"], template), "createdDateTime": graph_time(EPOCH),
            "modifiedDateTime": None, "status": "Provisioned", "memberType": "Direct",
            "scheduleInfo": {"startDateTime": graph_time(EPOCH), "recurrence": None, "expiration": expiration}}


def schedule_instance(assignment: dict[str, Any], *, activated_until: datetime | None = None) -> dict[str, Any]:
    """The schedule instance behind an active assignment: permanent (`Assigned`, no end) or a PIM activation."""
    return {"id": guid("asi", assignment["id"]), "principalId": assignment["principalId"],
            "roleDefinitionId": assignment["roleDefinitionId"], "directoryScopeId": "/", "appScopeId": None,
            "startDateTime": graph_time(EPOCH),
            "endDateTime": graph_time(activated_until) if activated_until else None,
            "assignmentType": "Activated" if activated_until else "Assigned", "memberType": "Direct",
            "roleAssignmentOriginId": assignment["id"], "roleAssignmentScheduleId": guid("ras", assignment["id"])}


def password_credential(name: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"customKeyIdentifier": None, "displayName": name, "endDateTime": graph_time(end), "hint": "Q~7",
            "keyId": guid("pw", name, start.isoformat()), "secretText": None, "startDateTime": graph_time(start)}


def key_credential(name: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"customKeyIdentifier": "5A3D1C9B0F2E4D6A8B7C", "displayName": f"CN={name}", "endDateTime": graph_time(end),
            "key": None, "keyId": guid("key", name, start.isoformat()), "startDateTime": graph_time(start),
            "type": "AsymmetricX509Cert", "usage": "Verify"}


def application(name: str, *, passwords: list[dict[str, Any]] | None = None,
                keys: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": guid("app", name), "appId": guid("appid", name), "displayName": name,
            "createdDateTime": graph_time(EPOCH), "signInAudience": "AzureADMyOrg", "publisherDomain": "acme.example",
            "passwordCredentials": passwords or [], "keyCredentials": keys or [], "identifierUris": [],
            "tags": [], "deletedDateTime": None}


def service_principal(app: dict[str, Any], tenant: str, *, kind: str = "Application",
                      passwords: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": guid("sp", app["appId"]), "appId": app["appId"], "displayName": app["displayName"],
            "accountEnabled": True, "servicePrincipalType": kind, "appOwnerOrganizationId": tenant,
            "passwordCredentials": passwords or [], "keyCredentials": [], "tags": [],
            "servicePrincipalNames": [app["appId"]], "deletedDateTime": None}


def organization(tenant: str, name: str, domain: str) -> dict[str, Any]:
    return {"id": tenant, "displayName": name, "tenantType": "AAD", "countryLetterCode": "GB",
            "createdDateTime": graph_time(EPOCH - timedelta(days=900)),
            "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
                                 "isInitial": False, "name": domain, "type": "Managed"},
                                {"capabilities": "Email", "isDefault": False, "isInitial": True,
                                 "name": f"{domain.split('.')[0]}.onmicrosoft.com", "type": "Managed"}]}


def authorization_policy(*, invites: str = "adminsAndGuestInviters", guest_role: str = RESTRICTED_GUEST_ROLE,
                         users_create_apps: bool = False) -> dict[str, Any]:
    return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/authorizationPolicy/$entity",
            "id": "authorizationPolicy", "allowInvitesFrom": invites, "allowedToSignUpEmailBasedSubscriptions": True,
            "allowedToUseSSPR": True, "allowEmailVerifiedUsersToJoinOrganization": False,
            "allowUserConsentForRiskyApps": None, "blockMsolPowerShell": False, "description":
            "Used to manage authorization related settings across the company.",
            "displayName": "Authorization Policy", "guestUserRoleId": guest_role,
            "defaultUserRolePermissions": {"allowedToCreateApps": users_create_apps,
                                           "allowedToCreateSecurityGroups": True, "allowedToCreateTenants": False,
                                           "allowedToReadBitlockerKeysForOwnedDevice": True,
                                           "allowedToReadOtherUsers": True,
                                           "permissionGrantPoliciesAssigned": [
                                               "ManagePermissionGrantsForSelf.microsoft-user-default-legacy"]}}


def security_defaults(enabled: bool) -> dict[str, Any]:
    return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/"
                              "identitySecurityDefaultsEnforcementPolicy/$entity",
            "id": "00000000-0000-0000-0000-000000000005", "displayName": "Security Defaults",
            "description": "Security defaults is a set of basic identity security mechanisms recommended by "
                           "Microsoft.", "isEnabled": enabled}


def sign_in(user_: dict[str, Any], when: datetime, *, client_app: str = "Browser", success: bool = True,
            mfa: bool = True, interactive: bool = True) -> dict[str, Any]:
    """A v1.0 signIn. With MFA, the MFA requirement shows in `status.additionalDetails` and the CA policy
    that enforced it, as Entra records them."""
    policies = [{"id": guid("ca", "Require MFA for all users"), "displayName": "Require MFA for all users",
                 "enforcedGrantControls": ["Mfa"], "enforcedSessionControls": [],
                 "result": "success" if mfa else "notApplied"}]
    return {"id": guid("signin", user_["id"], when.isoformat(), client_app),
            "createdDateTime": graph_time(when), "userDisplayName": user_["displayName"],
            "userPrincipalName": user_["userPrincipalName"], "userId": user_["id"],
            "appId": "00000002-0000-0ff1-ce00-000000000000" if client_app != "Browser"
            else "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
            "appDisplayName": "Office 365 Exchange Online" if client_app != "Browser" else "Azure Portal",
            "ipAddress": "198.51.100.23", "clientAppUsed": client_app, "correlationId": guid("corr", when.isoformat()),
            "conditionalAccessStatus": "success" if mfa else "notApplied", "isInteractive": interactive,
            "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none", "riskState": "none",
            "riskEventTypes": [], "riskEventTypes_v2": [],
            "resourceDisplayName": "Windows Azure Service Management API",
            "resourceId": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
            "status": {"errorCode": 0 if success else 50126,
                       "failureReason": "Other." if success else "Error validating credentials due to invalid "
                                                                 "username or password.",
                       "additionalDetails": "MFA requirement satisfied by strong authentication" if mfa and success
                       else None},
            "deviceDetail": {"deviceId": "", "displayName": "", "operatingSystem": "Windows10",
                             "browser": "Edge 120.0.0", "isCompliant": False, "isManaged": False, "trustType": ""},
            "location": {"city": "London", "state": "England", "countryOrRegion": "GB",
                         "geoCoordinates": {"altitude": None, "latitude": 51.5, "longitude": -0.12}},
            "appliedConditionalAccessPolicies": policies}


def directory_audit(activity: str, when: datetime, target: dict[str, Any], role_name: str, *,
                    actor: str = "alice@acme.example", service: str = "Core Directory",
                    result: str = "success") -> dict[str, Any]:
    return {"id": "Directory_" + guid("audit", activity, target["id"], when.isoformat()),
            "category": "RoleManagement", "correlationId": guid("corr", activity, when.isoformat()),
            "result": result, "resultReason": "", "activityDisplayName": activity,
            "activityDateTime": graph_time(when), "loggedByService": service, "operationType": "Assign",
            "initiatedBy": {"app": None, "user": {"id": guid("user", actor), "displayName": actor.split("@")[0],
                                                  "userPrincipalName": actor, "ipAddress": "198.51.100.23",
                                                  "userType": None, "homeTenantId": None, "homeTenantName": None}},
            "targetResources": [
                {"id": target["id"], "displayName": target.get("displayName"), "type": "User",
                 "userPrincipalName": target.get("userPrincipalName"), "groupType": None,
                 "modifiedProperties": [{"displayName": "Role.DisplayName", "oldValue": None,
                                         "newValue": f"\"{role_name}\""}]},
                {"id": guid("role", role_name), "displayName": role_name, "type": "Role",
                 "userPrincipalName": None, "groupType": None, "modifiedProperties": []}],
            "additionalDetails": []}
