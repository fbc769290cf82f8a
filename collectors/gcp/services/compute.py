"""Compute Engine v1 of each project: project metadata, VPC networks, firewall rules and VM instances.

Instances come from one aggregated list (all zones, paged). Metadata values can hold secrets
(startup scripts, keys), so only the documented security switches keep their values; every other
value is replaced by a marker. Each instance carries `metadataFlags`: for each switch, its value
in force (the instance's own, else the project's, as the guest environment reads them) and where
it was set. Firewall rules carry `allowedPorts`, the port specs they open for TCP/UDP/SCTP (a
rule without ports, or for all protocols, opens 0-65535).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.gcp.errors import describe
from collectors.gcp.scope import ProjectScope
from collectors.gcp.services import ServiceSpec

PROJECT = "gcp.compute.project"
FIREWALL = "gcp.compute.firewall"
NETWORK = "gcp.compute.network"
INSTANCE = "gcp.compute.instance"
COMPUTE = "//compute.googleapis.com/"
SWITCHES = ("enable-oslogin", "enable-oslogin-2fa", "block-project-ssh-keys", "serial-port-enable",
            "serial-port-logging-enable", "enable-guest-attributes", "enable-windows-ssh", "enable-osconfig")
TRUE_WORDS = frozenset({"true", "1", "t", "yes", "y", "on"})
FALSE_WORDS = frozenset({"false", "0", "f", "no", "n", "off"})
PORT_PROTOCOLS = frozenset({"tcp", "udp", "sctp", "all", "6", "17", "132"})


def safe_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata with every value outside `SWITCHES` replaced by a presence marker."""
    metadata = dict(metadata or {})
    items = []
    for item in metadata.get("items") or []:
        key = item.get("key", "")
        if key in SWITCHES:
            items.append({"key": key, "value": item.get("value")})
        else:
            value = item.get("value")
            marker: dict[str, Any] = {"redacted": True, "present": value not in (None, "")}
            if key in ("ssh-keys", "sshKeys") and isinstance(value, str):
                marker["entries"] = len([line for line in value.splitlines() if line.strip()])
            items.append({"key": key, "value": marker})
    if "items" in metadata:
        metadata["items"] = items
    return metadata


def _flag(value: Any) -> bool | None:
    text = str(value).strip().lower() if value is not None else ""
    return True if text in TRUE_WORDS else False if text in FALSE_WORDS else None


def metadata_flags(instance_md: dict[str, Any], project_md: dict[str, Any] | None) -> dict[str, Any]:
    own = {i.get("key"): i.get("value") for i in instance_md.get("items") or []}
    inherited = {i.get("key"): i.get("value") for i in (project_md or {}).get("items") or []}
    out = {}
    for key in SWITCHES:
        if key in own:
            out[key] = {"value": _flag(own[key]), "setOn": "instance"}
        elif key in inherited:
            out[key] = {"value": _flag(inherited[key]), "setOn": "project"}
        else:
            out[key] = {"value": None, "setOn": None}
    return out


def allowed_ports(firewall: dict[str, Any]) -> list[str]:
    specs: list[str] = []
    for entry in firewall.get("allowed") or []:
        if str(entry.get("IPProtocol", "")).lower() not in PORT_PROTOCOLS:
            continue
        ports = entry.get("ports") or []
        specs.extend([str(p) for p in ports] if ports and str(entry.get("IPProtocol")).lower() != "all"
                     else ["0-65535"])
    return specs


def compute_project(scope: ProjectScope) -> dict[str, Any]:
    return scope.memo("compute-project", lambda: scope.get("compute", f"compute/v1/projects/{scope.project_id}"))


def _project(scope: ProjectScope) -> Iterator[Resource]:
    try:
        body = compute_project(scope)
    except Exception as exc:
        scope.fail(PROJECT, exc, context="projects.get")
        return
    data = {**body, "commonInstanceMetadata": safe_metadata(body.get("commonInstanceMetadata")),
            "metadataFlags": metadata_flags({}, body.get("commonInstanceMetadata"))}
    yield scope.resource(PROJECT, COMPUTE + f"projects/{scope.project_id}", scope.project_id, data)


def _list(scope: ProjectScope, kind: str, rtype: str) -> list[dict[str, Any]] | None:
    try:
        return scope.items("compute", f"compute/v1/projects/{scope.project_id}/global/{kind}", "items",
                           size=("maxResults", 500))
    except Exception as exc:
        scope.fail(rtype, exc, context=f"{kind}.list")
        return None


def _instances(scope: ProjectScope) -> Iterator[Resource]:
    try:
        by_zone, problems = scope.aggregated("compute", f"compute/v1/projects/{scope.project_id}/aggregated/"
                                             "instances", "instances")
    except Exception as exc:
        scope.fail(INSTANCE, exc, context="instances.aggregatedList")
        return
    for problem in problems:
        zone = str(problem.get("scope", "")).removeprefix("zones/")
        scope.fail(INSTANCE, f"unavailable: instances in {zone}: {problem.get('code')}: {problem.get('message')}",
                   region=zone)
    project_md: dict[str, Any] | None = None
    project_error: str | None = None
    try:
        project_md = compute_project(scope).get("commonInstanceMetadata") or {}
    except Exception as exc:
        project_error = describe(exc)
    for scope_name, instances in by_zone.items():
        zone = scope_name.removeprefix("zones/")
        for instance in instances:
            flags = metadata_flags(instance.get("metadata") or {}, project_md)
            data = {**instance, "metadata": safe_metadata(instance.get("metadata")), "metadataFlags": flags,
                    "projectMetadataError": project_error,
                    "externalIPs": [ac.get("natIP") for nic in instance.get("networkInterfaces") or []
                                    for ac in nic.get("accessConfigs") or [] if ac.get("natIP")]
                                   + [ac.get("externalIpv6") for nic in instance.get("networkInterfaces") or []
                                      for ac in nic.get("ipv6AccessConfigs") or [] if ac.get("externalIpv6")]}
            full = COMPUTE + f"projects/{scope.project_id}/zones/{zone}/instances/{instance['name']}"
            yield scope.resource(INSTANCE, full, instance["name"], data, region=zone)


def collect(scope: ProjectScope) -> Iterator[Resource]:
    yield from _project(scope)
    firewalls = _list(scope, "firewalls", FIREWALL)
    for firewall in firewalls or []:
        data = {**firewall, "allowedPorts": allowed_ports(firewall)}
        yield scope.resource(FIREWALL, COMPUTE + f"projects/{scope.project_id}/global/firewalls/{firewall['name']}",
                             firewall["name"], data)
    for network in _list(scope, "networks", NETWORK) or []:
        yield scope.resource(NETWORK, COMPUTE + f"projects/{scope.project_id}/global/networks/{network['name']}",
                             network["name"], network)
    yield from _instances(scope)


SERVICE = ServiceSpec(
    name="compute",
    api="compute",
    resource_types={
        PROJECT: "Compute Engine project settings: common instance metadata (secret values removed) and "
                 "its security switches",
        FIREWALL: "a VPC firewall rule with the ports it opens",
        NETWORK: "a VPC network (auto, custom or legacy mode)",
        INSTANCE: "a VM instance: OS Login and other metadata switches in force, external IPs, Shielded VM, "
                  "service account and scopes",
    },
    collect=collect,
)
