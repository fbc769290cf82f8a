"""Credentials for the Admin SDK: a service account with domain-wide delegation, or a bearer token.

Domain-wide delegation: google-auth signs a JWT with the service account's key, asks the key file's
`token_uri` for an access token for the read-only scopes, impersonating `subject` (an administrator),
and refreshes it before it expires. The key file comes from `credentials_file` or
GOOGLE_APPLICATION_CREDENTIALS; its content never appears in the configuration. A static OAuth
access token can be given instead through `token_env`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.rolemanagement.readonly",
    "https://www.googleapis.com/auth/admin.reports.audit.readonly",
)


class MissingSetup(Exception):
    """The source cannot authenticate at all."""


def token_header(token_env: str | None, credentials_file: str | None, subject: str | None,
                 secret_env: Callable[[str], str | None]) -> Callable[[], dict[str, str]]:
    """A callable giving the `Authorization` header; raises MissingSetup or the token endpoint's error now."""
    if token_env:
        if not (secret_env(token_env) or os.environ.get(token_env)):
            raise MissingSetup(f"environment variable {token_env} is empty or not set")
        return lambda: {"Authorization": f"Bearer {secret_env(token_env) or os.environ.get(token_env, '')}"}
    key_file = credentials_file or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not key_file:
        raise MissingSetup("no credentials: set `token_env`, or `credentials_file` / GOOGLE_APPLICATION_CREDENTIALS "
                           "to a service account key with domain-wide delegation")
    if not subject:
        raise MissingSetup("domain-wide delegation needs `subject`: the e-mail of an administrator to act as")
    if not os.path.isfile(key_file):
        raise MissingSetup(f"service account key file {key_file} does not exist")
    import google.auth.transport.requests
    from google.oauth2 import service_account

    try:
        credentials = service_account.Credentials.from_service_account_file(key_file, scopes=list(SCOPES))
    except (ValueError, KeyError) as exc:
        raise MissingSetup(f"{key_file} is not a service account key file: {exc}") from None
    delegated = credentials.with_subject(subject)
    lock = threading.Lock()
    transport = google.auth.transport.requests.Request()

    def header() -> dict[str, str]:
        with lock:
            if not delegated.valid:
                delegated.refresh(transport)
            return {"Authorization": f"Bearer {delegated.token}"}

    header()  # fail now, once, if the token endpoint refuses the delegation
    return header


def describe_refresh_error(exc: Exception) -> str:
    """The token endpoint's refusal (RFC 6749 error and description) as a collection error message."""
    text = str(exc.args[0]) if exc.args else str(exc)
    return f"denied: the token endpoint refused domain-wide delegation: {text}"
