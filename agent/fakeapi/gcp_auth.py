"""The Google sign-in side of the GCP fake: OAuth token endpoints and the metadata server.

The service-account JWT bearer grant (the assertion's signature is checked against the public keys
the world registered, with Google's own token URL as audience), refresh tokens of gcloud user
credentials, the Security Token Service exchange of workload identity federation, and the
metadata server of a Google Cloud runtime. Every token issued is accepted by the API routes.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from agent.fakeapi.errors import google_error
from agent.fakeapi.gcp_world import GcpWorld
from agent.fakeapi.server import FakeApi, Reply, Request

Handler = Callable[[Request], Reply]
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
_INVALID_TOKEN = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                  "or other valid authentication credential.")


def register_auth(fake: FakeApi, world: GcpWorld) -> AuthRoutes:
    routes = AuthRoutes(world)
    fake.add("POST", "/token", routes.token)
    fake.add("POST", "/v1/token", routes.sts_token)
    fake.add("GET", "/", routes.metadata_ping)
    fake.add("GET", "/computeMetadata/v1/instance/service-accounts/default/", routes.metadata_account)
    fake.add("GET", "/computeMetadata/v1/instance/service-accounts/default/token", routes.metadata_token)
    fake.add("GET", "/computeMetadata/v1/project/project-id", routes.metadata_project)
    return routes


class AuthRoutes:
    def __init__(self, world: GcpWorld):
        self.world = world

    def authenticated(self, handler: Handler) -> Handler:
        def wrapped(request: Request) -> Reply:
            header = request.header("Authorization") or ""
            token = header[7:] if header.lower().startswith("bearer ") else ""
            if token not in self.world.tokens:
                return google_error(401, _INVALID_TOKEN, reason="authError", status_text="UNAUTHENTICATED")
            return handler(request)
        return wrapped

    def _issue(self) -> str:
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.world.tokens.add(token)
        return token

    def token(self, request: Request) -> Reply:
        """OAuth 2.0 token endpoint: the JWT bearer grant of service-account keys, and refresh tokens."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            import jwt

            assertion = form.get("assertion", "")
            try:
                header = jwt.get_unverified_header(assertion)
                key = self.world.signing_keys[header.get("kid", "")]
                # Google's token endpoint expects its own URL as the audience, wherever token_uri points.
                claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE,
                                    options={"require": ["iss", "aud", "exp", "iat"]})
            except (KeyError, jwt.PyJWTError) as exc:
                return Reply(400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature. ({exc})"})
            if not claims.get("scope"):
                return Reply(400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope."})
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.world.refresh_tokens:
                return Reply(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        else:
            return Reply(400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant}"})
        return Reply(200, {"access_token": self._issue(), "expires_in": 3599, "token_type": "Bearer"})

    def sts_token(self, request: Request) -> Reply:
        """Security Token Service: workload identity federation exchanges an external token for an access token."""
        try:
            form: dict[str, Any] = request.json()
        except ValueError:
            form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grantType", form.get("grant_type")) != "urn:ietf:params:oauth:grant-type:token-exchange" \
                or not form.get("subjectToken", form.get("subject_token")):
            return Reply(400, {"error": "invalid_request", "error_description": "Invalid token exchange request."})
        return Reply(200, {"access_token": self._issue(), "issued_token_type":
                           "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer",
                           "expires_in": 3599})

    def metadata_ping(self, request: Request) -> Reply:
        return Reply(200, "", {"Metadata-Flavor": "Google", "Content-Type": "application/text"})

    def _metadata(self, request: Request, body: Any) -> Reply:
        if request.header("Metadata-Flavor") != "Google":
            return Reply(403, "Missing Metadata-Flavor:Google header.", {"Content-Type": "text/html"})
        text = body if isinstance(body, str) else json.dumps(body)
        kind = "application/text" if isinstance(body, str) else "application/json"
        return Reply(200, text, {"Metadata-Flavor": "Google", "Content-Type": kind})

    def metadata_account(self, request: Request) -> Reply:
        return self._metadata(request, {"aliases": ["default"], "email": "annexa@acme-ops.iam.gserviceaccount.com",
                                        "scopes": ["https://www.googleapis.com/auth/cloud-platform"]})

    def metadata_token(self, request: Request) -> Reply:
        return self._metadata(request, {"access_token": self._issue(), "expires_in": 3599, "token_type": "Bearer"})

    def metadata_project(self, request: Request) -> Reply:
        return self._metadata(request, self.world.projects[0].project_id if self.world.projects else "")
