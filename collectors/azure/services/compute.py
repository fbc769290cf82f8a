"""Virtual machines (with extensions, disks and public IPs) and managed disks, per subscription.

A VM's disks, network interfaces and public IP addresses are separate ARM resources; they are listed
once per subscription and joined to each VM by id (ignoring case, as ARM does). `DiskEncryption`
summarises what protects its disks: encryption at host, Azure Disk Encryption (the extension or the
disks' encryption settings), or customer-managed keys on every disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.http import HttpError
from agent.model import Resource
from collectors.azure.errors import describe
from collectors.azure.scope import Scope
from collectors.azure.services import ServiceSpec

VM = "azure.compute.vm"
DISK = "azure.compute.disk"
ADE_TYPES = frozenset({"azurediskencryption", "azurediskencryptionforlinux"})
CMK_TYPES = frozenset({"encryptionatrestwithcustomerkey", "encryptionatrestwithplatformandcustomerkeys"})


def _listed(scope: Scope, path: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    try:
        return list(scope.api.arm_list(path)), None
    except HttpError as exc:
        return None, describe(exc)


def collect(scope: Scope) -> Iterator[Resource]:
    sub = f"/subscriptions/{scope.subscription_id}/providers"
    disks, disk_error = _listed(scope, f"{sub}/Microsoft.Compute/disks")
    if disks is None:
        scope.fail(DISK, disk_error or "disks could not be listed")
    for disk in disks or []:
        yield scope.resource(DISK, disk["id"], disk["name"], disk)
    try:
        vms = list(scope.api.arm_list(f"{sub}/Microsoft.Compute/virtualMachines"))
    except HttpError as exc:
        scope.fail(VM, exc)
        return
    if not vms:
        return
    nics, nic_error = _listed(scope, f"{sub}/Microsoft.Network/networkInterfaces")
    ips, ip_error = _listed(scope, f"{sub}/Microsoft.Network/publicIPAddresses")
    context = {"disks": {d["id"].lower(): d for d in disks or []}, "disk_error": disk_error,
               "nics": None if nics is None else {n["id"].lower(): n for n in nics},
               "ips": None if ips is None else {i["id"].lower(): i for i in ips},
               "network_error": nic_error or ip_error}
    yield from scope.map(lambda vm: _vm(scope, vm, context), vms)


def _vm(scope: Scope, vm: dict[str, Any], context: dict[str, Any]) -> Resource:
    data = dict(vm)
    try:
        data["Extensions"] = list(scope.api.arm_list(f"{vm['id']}/extensions"))
        data["ExtensionsError"] = None
    except HttpError as exc:
        data["Extensions"], data["ExtensionsError"] = None, describe(exc)
    data.update(_public_ips(vm, context))
    data["Disks"], data["DisksError"] = _disks(vm, context)
    data["DiskEncryption"] = _encryption(vm, data["Extensions"], data["Disks"])
    return scope.resource(VM, vm["id"], vm["name"], data)


def _public_ips(vm: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    if context["nics"] is None or context["ips"] is None:
        return {"PublicIpAddresses": None, "NetworkError": context["network_error"]}
    found = []
    for ref in ((vm.get("properties") or {}).get("networkProfile") or {}).get("networkInterfaces") or []:
        nic = context["nics"].get(str(ref.get("id") or "").lower())
        for config in ((nic or {}).get("properties") or {}).get("ipConfigurations") or []:
            ip_ref = ((config.get("properties") or {}).get("publicIPAddress") or {}).get("id")
            if ip_ref:
                ip = context["ips"].get(ip_ref.lower()) or {"id": ip_ref}
                found.append({"id": ip_ref, "ipAddress": (ip.get("properties") or {}).get("ipAddress"),
                              "networkInterface": nic["id"] if nic else ref.get("id")})
    return {"PublicIpAddresses": found, "NetworkError": None}


def _disks(vm: dict[str, Any], context: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    storage = (vm.get("properties") or {}).get("storageProfile") or {}
    refs = [storage.get("osDisk") or {}, *list(storage.get("dataDisks") or [])]
    out = []
    for ref in refs:
        managed = (ref.get("managedDisk") or {}).get("id")
        disk = context["disks"].get(str(managed).lower()) if managed else None
        props = (disk or {}).get("properties") or {}
        out.append({"name": ref.get("name"), "managed": bool(managed), "id": managed,
                    "encryptionType": (props.get("encryption") or {}).get("type"),
                    "adeEnabled": bool((props.get("encryptionSettingsCollection") or {}).get("enabled")),
                    "found": disk is not None})
    return out, context["disk_error"]


def _encryption(vm: dict[str, Any], extensions: list[dict[str, Any]] | None,
                disks: list[dict[str, Any]]) -> dict[str, Any]:
    security = (vm.get("properties") or {}).get("securityProfile") or {}
    ade_extension = any(str((e.get("properties") or {}).get("type", "")).lower() in ADE_TYPES
                        for e in extensions or [])
    return {"EncryptionAtHost": security.get("encryptionAtHost") is True,
            "AzureDiskEncryption": ade_extension or (bool(disks) and all(d["adeEnabled"] for d in disks)),
            "CustomerManagedKeys": bool(disks) and all(str(d["encryptionType"] or "").lower() in CMK_TYPES
                                                       for d in disks)}


SERVICE = ServiceSpec("compute", "subscription", {
    VM: "a virtual machine with its extensions, disks' encryption and public IP addresses",
    DISK: "a managed disk (encryption type, network access)",
}, collect)
