"""Token endpoints: the App Service managed-identity protocol (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`)
and the Entra ID v2.0 endpoints a client-secret credential uses (OpenID configuration, token)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from agent.fakeapi.azure.tenant import AzureTenant, audience_of
from agent.fakeapi.server import FakeApi, Reply, Request

MSI_PATH = "/msi/token"


def _oauth_error(status: int, code: str, description: str) -> Reply:
    return Reply(status, {"error": code, "error_description": description, "error_codes": [7000215],
                          "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())})


class TokenRoutes:
    def __init__(self, tenant: AzureTenant):
        self.tenant = tenant

    def register(self, fake: FakeApi) -> None:
        fake.add("GET", MSI_PATH, self.managed_identity)
        fake.add("GET", "/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration)
        fake.add("POST", "/{tenant}/oauth2/v2.0/token", self.token)

    def managed_identity(self, request: Request) -> Reply:
        """App Service MSI (api-version 2019-08-01): `resource` in, `expires_on` as epoch seconds out."""
        if request.header("X-IDENTITY-HEADER") != self.tenant.identity_header:
            return Reply(401, {"statusCode": 401, "message": "Unauthorized request: the X-IDENTITY-HEADER header is "
                               "missing or does not match."})
        resource = request.arg("resource")
        if request.arg("api-version") != "2019-08-01" or not resource:
            return Reply(400, {"statusCode": 400, "message": "api-version 2019-08-01 and resource are required."})
        audience = audience_of(resource)
        self.tenant.token_requests.append({"flow": "managed_identity", "audience": audience})
        token, expires = self.tenant.issue(audience, "managed-identity")
        return Reply(200, {"access_token": token, "expires_on": str(expires), "resource": resource,
                           "token_type": "Bearer", "client_id": "managed-identity"})

    def openid_configuration(self, request: Request) -> Reply:
        tenant = request.params["tenant"]
        base = request.base_url
        return Reply(200, {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys", "response_modes_supported": ["query", "fragment"],
            "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tenant}/v2.0", "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout", "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com", "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com", "rbac_url": "https://pas.windows.net"})

    def token(self, request: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant "
                                "type.")
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
        if self.tenant.client_secrets.get(client) != secret:
            return _oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        scope = form.get("scope", "")
        scopes = [s for s in scope.split() if s.endswith("/.default")]
        if len(scopes) != 1:
            return _oauth_error(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.")
        audience = audience_of(scopes[0])
        self.tenant.token_requests.append({"flow": "client_credentials", "audience": audience})
        token, expires = self.tenant.issue(audience, client)
        lifetime = max(0, int(expires - time.time()))
        return Reply(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                           "access_token": token})
