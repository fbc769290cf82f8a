"""Builders for Azure Resource Manager objects (subscriptions, storage, Key Vault, network, compute).

Each function returns one object as `GET` (or a list call) would: `id`, `name`, `type`,
`location`, `properties` with the provider's own field names and defaults. Tests, the demo and the
benchmark seed the fake tenant with these, changing only what a scenario needs. Ids keep the case
they are given (Azure itself mixes `resourceGroups` and `resourcegroups` across providers).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

EPOCH = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)

# Built-in Azure RBAC role definition ids (the same in every tenant).
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
SECURITY_READER = "39bc4728-0917-49c7-9d2c-d95423bc2eb4"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BUILT_IN_ROLES = {
    OWNER: ("Owner", ["*"], []),
    CONTRIBUTOR: ("Contributor", ["*"], ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                                         "Microsoft.Authorization/elevateAccess/Action"]),
    READER: ("Reader", ["*/read"], []),
    USER_ACCESS_ADMINISTRATOR: ("User Access Administrator", ["*/read", "Microsoft.Authorization/*"], []),
    STORAGE_BLOB_DATA_READER: ("Storage Blob Data Reader", ["Microsoft.Storage/storageAccounts/blobServices/"
                                                            "containers/read"], []),
    SECURITY_READER: ("Security Reader", ["Microsoft.Security/*/read", "Microsoft.Insights/alertRules/read",
                                          "Microsoft.Resources/subscriptions/resourceGroups/read"], []),
}


def stamp(when: datetime) -> str:
    """ARM's timestamp style: seven fractional digits and a `Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}0Z"


def guid(*parts: str) -> str:
    """A stable GUID from some text (fake objects get the same ids run after run)."""
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


def rid(sub: str, rg: str, provider_type: str, name: str, *, rg_word: str = "resourceGroups") -> str:
    return f"/subscriptions/{sub}/{rg_word}/{rg}/providers/{provider_type}/{name}"


def _base(id_: str, type_: str, location: str | None = "westeurope", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": id_, "name": id_.rsplit("/", 1)[-1], "type": type_}
    if location is not None:
        out["location"] = location
    out.update(extra)
    return out


# -- subscriptions and management groups ----------------------------------------------------------
def subscription(sub: str, tenant: str, name: str, state: str = "Enabled") -> dict[str, Any]:
    return {"id": f"/subscriptions/{sub}", "authorizationSource": "RoleBased", "managedByTenants": [],
            "subscriptionId": sub, "tenantId": tenant, "displayName": name, "state": state,
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"}}


def management_group_descendant(id_: str, name: str, parent: str, *, subscription_: bool) -> dict[str, Any]:
    if subscription_:
        return {"name": id_, "type": "Microsoft.Management/managementGroups/subscriptions",
                "id": f"/subscriptions/{id_}", "properties": {"displayName": name, "parent": {
                    "id": f"/providers/Microsoft.Management/managementGroups/{parent}"}}}
    return {"name": id_, "type": "Microsoft.Management/managementGroups",
            "id": f"/providers/Microsoft.Management/managementGroups/{id_}",
            "properties": {"displayName": name,
                           "parent": {"id": f"/providers/Microsoft.Management/managementGroups/{parent}"}}}


# -- storage --------------------------------------------------------------------------------------
def storage_account(sub: str, rg: str, name: str, *, https_only: bool = True, min_tls: str | None = "TLS1_2",
                    allow_blob_public: bool | None = False, allow_shared_key: bool | None = False,
                    infrastructure_encryption: bool = True, default_action: str = "Deny",
                    public_network_access: str = "Enabled", location: str = "westeurope") -> dict[str, Any]:
    props: dict[str, Any] = {
        "keyCreationTime": {"key1": stamp(EPOCH), "key2": stamp(EPOCH)},
        "privateEndpointConnections": [], "publicNetworkAccess": public_network_access,
        "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [],
                        "defaultAction": default_action},
        "supportsHttpsTrafficOnly": https_only,
        "encryption": {"requireInfrastructureEncryption": infrastructure_encryption, "services": {
            "file": {"keyType": "Account", "enabled": True, "lastEnabledTime": stamp(EPOCH)},
            "blob": {"keyType": "Account", "enabled": True, "lastEnabledTime": stamp(EPOCH)}},
            "keySource": "Microsoft.Storage"},
        "accessTier": "Hot", "provisioningState": "Succeeded", "creationTime": stamp(EPOCH),
        "primaryEndpoints": {"blob": f"https://{name}.blob.core.windows.net/",
                             "queue": f"https://{name}.queue.core.windows.net/",
                             "table": f"https://{name}.table.core.windows.net/",
                             "file": f"https://{name}.file.core.windows.net/"},
        "primaryLocation": location, "statusOfPrimary": "available",
    }
    if min_tls is not None:
        props["minimumTlsVersion"] = min_tls
    if allow_blob_public is not None:
        props["allowBlobPublicAccess"] = allow_blob_public
    if allow_shared_key is not None:
        props["allowSharedKeyAccess"] = allow_shared_key
    return _base(rid(sub, rg, "Microsoft.Storage/storageAccounts", name), "Microsoft.Storage/storageAccounts",
                 location, sku={"name": "Standard_LRS", "tier": "Standard"}, kind="StorageV2", tags={},
                 properties=props)


def blob_service(account_id: str, *, soft_delete_days: int | None = 14, versioning: bool = True) -> dict[str, Any]:
    delete = {"enabled": soft_delete_days is not None, "allowPermanentDelete": False}
    if soft_delete_days is not None:
        delete["days"] = soft_delete_days
    return _base(f"{account_id}/blobServices/default", "Microsoft.Storage/storageAccounts/blobServices", None,
                 sku={"name": "Standard_LRS", "tier": "Standard"},
                 properties={"cors": {"corsRules": []}, "deleteRetentionPolicy": delete,
                             "containerDeleteRetentionPolicy": dict(delete), "isVersioningEnabled": versioning,
                             "changeFeed": {"enabled": False}})


# -- key vault -------------------------------------------------------------------------------------
def key_vault(sub: str, rg: str, name: str, tenant: str, *, soft_delete: bool | None = True,
              purge_protection: bool | None = True, rbac: bool | None = True, public_network_access: str = "Disabled",
              default_action: str = "Deny", location: str = "westeurope") -> dict[str, Any]:
    props: dict[str, Any] = {
        "sku": {"family": "A", "name": "standard"}, "tenantId": tenant, "accessPolicies": [],
        "enabledForDeployment": False, "enabledForDiskEncryption": False, "enabledForTemplateDeployment": False,
        "vaultUri": f"https://{name}.vault.azure.net/", "provisioningState": "Succeeded",
        "publicNetworkAccess": public_network_access,
        "networkAcls": {"bypass": "AzureServices", "defaultAction": default_action, "ipRules": [],
                        "virtualNetworkRules": []},
    }
    for key, value in (("enableSoftDelete", soft_delete), ("enablePurgeProtection", purge_protection),
                       ("enableRbacAuthorization", rbac)):
        if value is not None:
            props[key] = value
    if soft_delete:
        props["softDeleteRetentionInDays"] = 90
    return _base(rid(sub, rg, "Microsoft.KeyVault/vaults", name), "Microsoft.KeyVault/vaults", location, tags={},
                 systemData={"createdBy": "ops@acme.example", "createdByType": "User", "createdAt": stamp(EPOCH)},
                 properties=props)


def _vault_item_attributes(expires: datetime | None, enabled: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {"enabled": enabled, "created": int(EPOCH.timestamp()), "updated": int(EPOCH.timestamp()),
                             "recoveryLevel": "Recoverable+Purgeable"}
    if expires is not None:
        attrs["exp"] = int(expires.timestamp())
    return attrs


def vault_key(vault: dict[str, Any], name: str, *, expires: datetime | None, enabled: bool = True) -> dict[str, Any]:
    host = vault["properties"]["vaultUri"].rstrip("/")
    return _base(f"{vault['id']}/keys/{name}", "Microsoft.KeyVault/vaults/keys", vault["location"],
                 properties={"attributes": _vault_item_attributes(expires, enabled), "kty": "RSA", "keySize": 2048,
                             "keyOps": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
                             "keyUri": f"{host}/keys/{name}",
                             "keyUriWithVersion": f"{host}/keys/{name}/{guid(name).replace('-', '')}"})


def vault_secret(vault: dict[str, Any], name: str, *, expires: datetime | None, enabled: bool = True,
                 content_type: str | None = None) -> dict[str, Any]:
    host = vault["properties"]["vaultUri"].rstrip("/")
    props: dict[str, Any] = {"attributes": _vault_item_attributes(expires, enabled),
                             "secretUri": f"{host}/secrets/{name}",
                             "secretUriWithVersion": f"{host}/secrets/{name}/{guid(name).replace('-', '')}"}
    if content_type:
        props["contentType"] = content_type
    return _base(f"{vault['id']}/secrets/{name}", "Microsoft.KeyVault/vaults/secrets", vault["location"],
                 properties=props)


# -- network ---------------------------------------------------------------------------------------
def security_rule(name: str, priority: int, *, ports: str | list[str] = "*", source: str | list[str] = "*",
                  access: str = "Allow", direction: str = "Inbound", protocol: str = "Tcp",
                  destination: str = "*") -> dict[str, Any]:
    """A rule's body; `nsg()` gives it its id. A list of ports or sources uses the plural fields."""
    props: dict[str, Any] = {"provisioningState": "Succeeded", "protocol": protocol, "sourcePortRange": "*",
                             "access": access, "priority": priority, "direction": direction,
                             "sourcePortRanges": [], "destinationPortRanges": [], "sourceAddressPrefixes": [],
                             "destinationAddressPrefixes": [], "destinationAddressPrefix": destination}
    if isinstance(ports, list):
        props["destinationPortRanges"] = ports
    else:
        props["destinationPortRange"] = ports
    if isinstance(source, list):
        props["sourceAddressPrefixes"] = source
    else:
        props["sourceAddressPrefix"] = source
    return {"name": name, "type": "Microsoft.Network/networkSecurityGroups/securityRules", "properties": props}


_DEFAULT_RULES = (
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
)


def nsg(sub: str, rg: str, name: str, rules: list[dict[str, Any]], *, location: str = "westeurope",
        rg_word: str = "resourceGroups") -> dict[str, Any]:
    id_ = rid(sub, rg, "Microsoft.Network/networkSecurityGroups", name, rg_word=rg_word)
    custom = [{**r, "id": f"{id_}/securityRules/{r['name']}", "etag": 'W/"1"'} for r in rules]
    defaults = []
    for rule_name, priority, direction, access, source, dest in _DEFAULT_RULES:
        body = security_rule(rule_name, priority, source=source, destination=dest, access=access,
                             direction=direction, protocol="*")
        body["type"] = "Microsoft.Network/networkSecurityGroups/defaultSecurityRules"
        body["properties"]["description"] = f"Default rule {rule_name}"
        defaults.append({**body, "id": f"{id_}/defaultSecurityRules/{rule_name}", "etag": 'W/"1"'})
    return _base(id_, "Microsoft.Network/networkSecurityGroups", location, etag='W/"1"',
                 properties={"provisioningState": "Succeeded", "resourceGuid": guid(id_), "securityRules": custom,
                             "defaultSecurityRules": defaults, "networkInterfaces": [], "subnets": []})


def network_watcher(sub: str, location: str = "westeurope") -> dict[str, Any]:
    return _base(rid(sub, "NetworkWatcherRG", "Microsoft.Network/networkWatchers", f"NetworkWatcher_{location}"),
                 "Microsoft.Network/networkWatchers", location, etag='W/"1"',
                 properties={"provisioningState": "Succeeded"})


def flow_log(watcher: dict[str, Any], name: str, target: dict[str, Any], storage_id: str, *, enabled: bool = True,
             retention_days: int = 90, retention_enabled: bool = True) -> dict[str, Any]:
    return _base(f"{watcher['id']}/flowLogs/{name}", "Microsoft.Network/networkWatchers/flowLogs",
                 watcher["location"], etag='W/"1"',
                 properties={"targetResourceId": target["id"],
                             "targetResourceGuid": target.get("properties", {}).get("resourceGuid", guid(target["id"])),
                             "storageId": storage_id, "enabled": enabled,
                             "retentionPolicy": {"days": retention_days, "enabled": retention_enabled},
                             "format": {"type": "JSON", "version": 2},
                             "flowAnalyticsConfiguration": {"networkWatcherFlowAnalyticsConfiguration": {
                                 "enabled": False, "trafficAnalyticsInterval": 60}},
                             "provisioningState": "Succeeded"})


def public_ip(sub: str, rg: str, name: str, address: str, *, location: str = "westeurope") -> dict[str, Any]:
    return _base(rid(sub, rg, "Microsoft.Network/publicIPAddresses", name), "Microsoft.Network/publicIPAddresses",
                 location, etag='W/"1"', sku={"name": "Standard", "tier": "Regional"},
                 properties={"provisioningState": "Succeeded", "resourceGuid": guid(name), "ipAddress": address,
                             "publicIPAddressVersion": "IPv4", "publicIPAllocationMethod": "Static",
                             "idleTimeoutInMinutes": 4})


def network_interface(sub: str, rg: str, name: str, *, vm_id: str | None = None, public_ip_id: str | None = None,
                      nsg_id: str | None = None, location: str = "westeurope") -> dict[str, Any]:
    id_ = rid(sub, rg, "Microsoft.Network/networkInterfaces", name)
    config: dict[str, Any] = {"provisioningState": "Succeeded", "privateIPAddress": "10.0.0.4",
                              "privateIPAllocationMethod": "Dynamic", "primary": True,
                              "privateIPAddressVersion": "IPv4",
                              "subnet": {"id": rid(sub, rg, "Microsoft.Network/virtualNetworks", "vnet")
                                         + "/subnets/default"}}
    if public_ip_id:
        config["publicIPAddress"] = {"id": public_ip_id}
    props: dict[str, Any] = {"provisioningState": "Succeeded", "resourceGuid": guid(id_), "primary": True,
                             "ipConfigurations": [{"id": f"{id_}/ipConfigurations/ipconfig1", "name": "ipconfig1",
                                                   "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                                                   "properties": config}],
                             "enableAcceleratedNetworking": False, "enableIPForwarding": False}
    if vm_id:
        props["virtualMachine"] = {"id": vm_id}
    if nsg_id:
        props["networkSecurityGroup"] = {"id": nsg_id}
    return _base(id_, "Microsoft.Network/networkInterfaces", location, etag='W/"1"', properties=props)


# -- compute ---------------------------------------------------------------------------------------
def virtual_machine(sub: str, rg: str, name: str, nic_ids: list[str], *, managed_disks: bool = True,
                    encryption_at_host: bool | None = None, os_type: str = "Linux",
                    location: str = "westeurope", os_disk_id: str | None = None) -> dict[str, Any]:
    id_ = rid(sub, rg, "Microsoft.Compute/virtualMachines", name)
    os_disk: dict[str, Any] = {"osType": os_type, "name": f"{name}_OsDisk_1", "createOption": "FromImage",
                               "caching": "ReadWrite", "deleteOption": "Delete", "diskSizeGB": 30}
    if managed_disks:
        os_disk["managedDisk"] = {"storageAccountType": "Premium_LRS",
                                  "id": os_disk_id or rid(sub, rg, "Microsoft.Compute/disks", f"{name}_OsDisk_1")}
    else:
        os_disk["vhd"] = {"uri": f"https://{rg.lower()}disks.blob.core.windows.net/vhds/{name}.vhd"}
    profile: dict[str, Any] = {"computerName": name, "adminUsername": "azureuser", "secrets": [],
                               "allowExtensionOperations": True}
    if os_type == "Linux":
        profile["linuxConfiguration"] = {"disablePasswordAuthentication": True, "provisionVMAgent": True}
    else:
        profile["windowsConfiguration"] = {"provisionVMAgent": True, "enableAutomaticUpdates": True}
    props: dict[str, Any] = {
        "vmId": guid(id_), "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                              "sku": "server", "version": "latest"},
                           "osDisk": os_disk, "dataDisks": []},
        "osProfile": profile,
        "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": i == 0}}
                                                 for i, nic in enumerate(nic_ids)]},
        "provisioningState": "Succeeded", "timeCreated": stamp(EPOCH),
    }
    if encryption_at_host is not None:
        props["securityProfile"] = {"encryptionAtHost": encryption_at_host}
    return _base(id_, "Microsoft.Compute/virtualMachines", location, properties=props)


def vm_extension(vm: dict[str, Any], name: str, publisher: str, ext_type: str) -> dict[str, Any]:
    return _base(f"{vm['id']}/extensions/{name}", "Microsoft.Compute/virtualMachines/extensions", vm["location"],
                 properties={"publisher": publisher, "type": ext_type, "typeHandlerVersion": "1.0",
                             "autoUpgradeMinorVersion": True, "provisioningState": "Succeeded", "settings": {}})


def disk(sub: str, rg: str, name: str, *, managed_by: str | None, encryption: str = "EncryptionAtRestWithPlatformKey",
         network_access: str = "DenyAll", public_network_access: str = "Disabled", ade: bool = False,
         location: str = "westeurope") -> dict[str, Any]:
    props: dict[str, Any] = {"creationData": {"createOption": "FromImage"}, "diskSizeGB": 30,
                             "encryption": {"type": encryption}, "networkAccessPolicy": network_access,
                             "publicNetworkAccess": public_network_access, "timeCreated": stamp(EPOCH),
                             "provisioningState": "Succeeded",
                             "diskState": "Attached" if managed_by else "Unattached", "uniqueId": guid(name)}
    if ade:
        props["encryptionSettingsCollection"] = {"enabled": True, "encryptionSettingsVersion": "1.1",
                                                 "encryptionSettings": [{"diskEncryptionKey": {
                                                     "secretUrl": "https://kv.vault.azure.net/secrets/ade/1",
                                                     "sourceVault": {"id": "/subscriptions/x/kv"}}}]}
    out = _base(rid(sub, rg, "Microsoft.Compute/disks", name), "Microsoft.Compute/disks", location,
                sku={"name": "Premium_LRS", "tier": "Premium"}, properties=props)
    if managed_by:
        out["managedBy"] = managed_by
    return out
