"""The one table of ARM `api-version`s the collector sends, per resource provider (or provider/type).

Each is a stable (GA) version documented in the provider's REST reference, except the subscription
diagnostic settings and Defender security contacts, which Azure only publishes as preview versions.
A path is matched on the namespace/type after its last `providers/` segment, then on the namespace.
"""

from __future__ import annotations

API_VERSIONS: dict[str, str] = {
    "Microsoft.Resources": "2022-12-01",                           # /subscriptions, /subscriptions/{id}
    "Microsoft.Management": "2023-04-01",                          # management group descendants
    "Microsoft.Storage": "2023-05-01",                             # storage accounts, blob services
    "Microsoft.KeyVault": "2023-07-01",                            # vaults, keys and secrets (metadata only)
    "Microsoft.Network": "2024-05-01",                             # NSGs, network watchers, flow logs, NICs, IPs
    "Microsoft.Compute": "2024-07-01",                             # virtual machines and their extensions
    "Microsoft.Compute/disks": "2024-03-02",                       # managed disks (the disk RP versions apart)
    "Microsoft.Sql": "2021-11-01",                                 # servers, databases, auditing, TDE, admins
    "Microsoft.Insights/diagnosticSettings": "2021-05-01-preview",  # subscription (Activity Log) export
    "Microsoft.Insights/eventtypes": "2015-04-01",                 # Activity Log events
    "Microsoft.OperationalInsights": "2022-10-01",                 # Log Analytics workspace retention
    "Microsoft.Security/pricings": "2024-01-01",                   # Defender for Cloud plans
    "Microsoft.Security/securityContacts": "2023-12-01-preview",   # Defender for Cloud e-mail notifications
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.Authorization/roleDefinitions": "2022-04-01",
    "Microsoft.Authorization/classicAdministrators": "2015-07-01",
    "Microsoft.Web": "2023-12-01",                                 # App Service sites and their config
}
_LOWER = {key.lower(): value for key, value in API_VERSIONS.items()}


def api_version(path: str) -> str:
    """The api-version for an ARM path (`/subscriptions/.../providers/Ns/type/...`). KeyError if unknown."""
    segments = [s.lower() for s in path.split("?", 1)[0].split("/") if s]
    if "providers" not in segments:
        return _LOWER["microsoft.resources"]
    at = len(segments) - 1 - segments[::-1].index("providers")
    namespace = segments[at + 1] if at + 1 < len(segments) else ""
    kind = segments[at + 2] if at + 2 < len(segments) else ""
    found = _LOWER.get(f"{namespace}/{kind}") or _LOWER.get(namespace)
    if found is None:
        raise KeyError(f"no api-version pinned for {namespace}/{kind} (collectors/azure/versions.py)")
    return found
