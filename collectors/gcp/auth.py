"""Credentials: Application Default Credentials through google-auth, or a static bearer token.

ADC covers a service-account key file, workload identity federation (an `external_account`
file), gcloud user credentials and the metadata server of a Google Cloud runtime, in that
order of discovery (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file, the metadata server).
`credentials_file` names such a file explicitly. A static token from `token_env` skips all of it.

One `TokenSource` serves every API of a source: the shared HTTP client asks it for headers before
each attempt, and the Resource Manager client library gets a credentials object backed by it, so
a token is refreshed once, under a lock, for all threads.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import requests

# Access is narrowed by the IAM roles granted to the identity (deploy/gcp); several read APIs
# (Compute, Cloud SQL, KMS) accept no narrower OAuth scope than cloud-platform.
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN = timedelta(minutes=3)


class CredentialsError(RuntimeError):
    """No usable credentials (nothing found, unreadable file, token refresh refused)."""


class TokenSource:
    """Bearer tokens for every request of one source."""

    def __init__(self, *, static_token: str | None = None, credentials: Any = None,
                 quota_project: str | None = None):
        self._static = static_token
        self._credentials = credentials
        self._lock = threading.Lock()
        self._session = requests.Session()  # for token endpoints only: never an API read
        self.quota_project = quota_project or getattr(credentials, "quota_project_id", None)
        self.kind = "static token" if static_token else type(credentials).__module__.rsplit(".", 1)[-1] \
            + "." + type(credentials).__name__

    @classmethod
    def from_options(cls, *, static_token: str | None, credentials_file: str | None,
                     quota_project: str | None) -> TokenSource:
        if static_token:
            return cls(static_token=static_token, quota_project=quota_project)
        try:
            if credentials_file:
                creds, _ = google.auth.load_credentials_from_file(credentials_file, scopes=list(SCOPES))
            else:
                creds, _ = google.auth.default(scopes=list(SCOPES))
        except google.auth.exceptions.GoogleAuthError as exc:
            raise CredentialsError(f"no Google credentials: {type(exc).__name__}: {exc}") from None
        return cls(credentials=creds, quota_project=quota_project)

    def token(self) -> str:
        if self._static:
            return self._static
        creds = self._credentials
        with self._lock:
            expiry = getattr(creds, "expiry", None)
            fresh = creds.token and (expiry is None or expiry.replace(tzinfo=UTC) - REFRESH_MARGIN
                                     > datetime.now(UTC))
            if not fresh:
                try:
                    creds.refresh(google.auth.transport.requests.Request(self._session))
                except google.auth.exceptions.GoogleAuthError as exc:
                    raise CredentialsError(f"token refresh failed ({self.kind}): {type(exc).__name__}: "
                                           f"{exc}") from None
            return str(creds.token)

    def headers(self) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token()}"}
        if self.quota_project:
            out["x-goog-user-project"] = self.quota_project
        return out

    def library_credentials(self) -> google.auth.credentials.Credentials:
        """Credentials for a Google client library, drawing tokens from this source."""

        def refresh(request: Any, scopes: Any) -> tuple[str, datetime]:
            # google-auth compares expiry as naive UTC
            return self.token(), (datetime.now(UTC) + timedelta(minutes=10)).replace(tzinfo=None)

        return google.oauth2.credentials.Credentials(token=None, refresh_handler=refresh,
                                                     quota_project_id=self.quota_project)
