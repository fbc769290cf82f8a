"""A fake Azure: Resource Manager, Microsoft Graph and the token endpoints, over one in-memory tenant.

    tenant = AzureTenant()
    tenant.add_subscription(SUB, "Production")
    tenant.put(infra.storage_account(SUB, "rg-data", "acmelogs"))
    fake = serve(tenant)            # a started FakeApi on 127.0.0.1; fake.url is ARM, Graph and login
    ...
    fake.stop()

ARM answers under `/subscriptions` and `/providers`, Graph under `/v1.0`, the managed-identity
endpoint at `/msi/token` and the Entra ID v2.0 endpoints under `/{tenant}/`. `serve(tenant,
tls=ctx)` gives an https server (client-secret credentials refuse plain-http authorities).
"""

from __future__ import annotations

import ssl

from agent.fakeapi.azure import directory, infra, platform
from agent.fakeapi.azure.arm import ArmRoutes
from agent.fakeapi.azure.graph import GraphRoutes
from agent.fakeapi.azure.tenant import ARM_AUDIENCE, GRAPH_AUDIENCE, AzureTenant
from agent.fakeapi.azure.tokens import MSI_PATH, TokenRoutes
from agent.fakeapi.errors import arm_error
from agent.fakeapi.server import FakeApi, Reply, Request

__all__ = ["ARM_AUDIENCE", "GRAPH_AUDIENCE", "MSI_PATH", "AzureTenant", "directory", "infra", "platform", "serve"]


def _not_found(request: Request) -> Reply:
    if request.path.startswith("/v1.0/"):
        from agent.fakeapi.errors import graph_error

        return graph_error(400, "BadRequest", f"Resource not found for the segment '{request.path.split('/')[-1]}'.")
    return arm_error(404, "NotFound", f"The requested path {request.path} was not found.")


def serve(tenant: AzureTenant, *, tls: ssl.SSLContext | None = None, latency: float = 0.0,
          start: bool = True) -> FakeApi:
    """A FakeApi answering for `tenant` (started unless `start=False`)."""
    fake = FakeApi("azure", latency=latency, tls=tls, not_found=_not_found)
    TokenRoutes(tenant).register(fake)
    GraphRoutes(tenant, fake).register(fake)
    ArmRoutes(tenant).register(fake)
    return fake.start() if start else fake
