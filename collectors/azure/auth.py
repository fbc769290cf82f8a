"""Bearer tokens per audience: a static token from the environment, or an azure-identity credential.

ARM and Microsoft Graph are separate audiences, so each gets its own token (`<endpoint>/.default`).
Credential tokens are cached and renewed before they expire: five minutes early, or halfway through
the lifetime of a short-lived token, so no request ever carries an expired token.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

REFRESH_MARGIN = 300.0

# Sovereign clouds: ARM host -> (Entra ID authority, Microsoft Graph root).
CLOUDS = {
    "management.azure.com": ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "management.usgovcloudapi.net": ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "management.chinacloudapi.cn": ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
}
GRAPH_HOSTS = frozenset({"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
                         "microsoftgraph.chinacloudapi.cn"})
PUBLIC_ARM = "https://management.azure.com"
PUBLIC_GRAPH = "https://graph.microsoft.com"


class CredentialError(Exception):
    """No token could be obtained (no credential in the chain, a refused secret, a missing variable)."""


class TokenSource(Protocol):
    def token(self, scope: str) -> str: ...


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def arm_scope(arm_endpoint: str) -> str:
    """`<ARM endpoint>/.default` for a known cloud; the public cloud's scope for anything else (a test fake)."""
    root = arm_endpoint.rstrip("/") if _host(arm_endpoint) in CLOUDS else PUBLIC_ARM
    return f"{root}/.default"


def graph_root(graph_endpoint: str) -> str:
    """The Graph root of the cloud: the endpoint itself for a known Graph host, else the public one."""
    return graph_endpoint.rstrip("/") if _host(graph_endpoint) in GRAPH_HOSTS else PUBLIC_GRAPH


def graph_scope(graph_endpoint: str) -> str:
    return f"{graph_root(graph_endpoint)}/.default"


def authority_for(arm_endpoint: str) -> str | None:
    cloud = CLOUDS.get(_host(arm_endpoint))
    return cloud[0] if cloud else None


class StaticTokens:
    """A bearer token read from an environment variable at every use (so a rotated token is picked up).

    `graph_env` may name a second variable for Graph; without it the same token serves both audiences.
    """

    def __init__(self, env: str, graph_env: str | None, graph_scope_: str):
        self.env, self.graph_env, self.graph_scope = env, graph_env, graph_scope_

    def token(self, scope: str) -> str:
        name = self.graph_env if (self.graph_env and scope == self.graph_scope) else self.env
        value = os.environ.get(name, "").strip()
        if not value:
            raise CredentialError(f"environment variable {name} (token_env) is not set or empty")
        return value


class CredentialTokens:
    """Tokens from an azure-identity credential, one per scope, renewed before expiry."""

    def __init__(self, credential: Any, *, tenant_id: str | None = None, clock: Callable[[], float] = time.time):
        self.credential = credential
        self.tenant_id = tenant_id
        self._clock = clock
        self._cache: dict[str, tuple[str, float, float]] = {}  # scope -> (token, obtained, expires_on)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.fetched = 0

    def _fresh(self, scope: str) -> str | None:
        entry = self._cache.get(scope)
        if entry is None:
            return None
        token, obtained, expires = entry
        margin = min(REFRESH_MARGIN, max(0.0, expires - obtained) / 2)
        return token if self._clock() < expires - margin else None

    def token(self, scope: str) -> str:
        cached = self._fresh(scope)
        if cached:
            return cached
        with self._guard:
            lock = self._locks.setdefault(scope, threading.Lock())
        with lock:
            cached = self._fresh(scope)
            if cached:
                return cached
            kwargs = {"tenant_id": self.tenant_id} if self.tenant_id else {}
            try:
                access = self.credential.get_token(scope, **kwargs)
            except Exception as exc:  # azure-identity raises ClientAuthenticationError and friends
                raise CredentialError(f"{type(exc).__name__}: {_first_line(str(exc))}") from None
            self._cache[scope] = (access.token, self._clock(), float(access.expires_on))
            self.fetched += 1
            return str(access.token)


def _first_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def build_credential(kind: str, *, authority: str | None, managed_identity_client_id: str | None,
                     instance_discovery: bool = True) -> Any:
    """An azure-identity credential: the default chain (environment service principal, workload identity,
    managed identity, Azure CLI, ...) or one of its members alone."""
    import azure.identity as identity

    common: dict[str, Any] = {"authority": authority} if authority else {}
    if not instance_discovery:
        common["disable_instance_discovery"] = True
    if kind == "environment":
        return identity.EnvironmentCredential(**common)
    if kind == "workload_identity":
        return identity.WorkloadIdentityCredential(**common)
    if kind == "managed_identity":
        return identity.ManagedIdentityCredential(client_id=managed_identity_client_id)
    if kind == "cli":
        return identity.AzureCliCredential()
    options: dict[str, Any] = {**common, "exclude_interactive_browser_credential": True}
    if managed_identity_client_id:
        options["managed_identity_client_id"] = managed_identity_client_id
    return identity.DefaultAzureCredential(**options)
