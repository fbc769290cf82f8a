"""The read-only guarantee: a botocore hook refuses every operation that is not a read.

The check runs on `before-call`, after parameters are built and before anything is signed or
sent, so a mutating call never leaves the process.
"""

from __future__ import annotations

from typing import Any

# Control-plane reads only: data-plane verbs (Scan, Query, Select…) never appear here.
READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "Search", "BatchGet", "Head")
# Operations that do not start with a read verb but change nothing Annexa cares about.
ALLOWED_OPERATIONS = frozenset({
    "GenerateCredentialReport",  # asks IAM to build the credential report it then reads with GetCredentialReport
    "AssumeRole",                # sts: hop into member accounts with the read-only role
    "GetCallerIdentity",
})
# Reads that return secrets: refused although they are reads, so no secret value can be fetched.
# Reads that return stored data (object contents, table items, log lines) are refused too.
SECRET_READS = frozenset({
    "GetSecretValue", "BatchGetSecretValue", "GetRandomPassword",
    "GetParameter", "GetParameters", "GetParametersByPath", "GetParameterHistory",
    "GetPasswordData", "GetQueryResults", "GetFunctionConfiguration", "Decrypt",
    "GetAuthorizationToken", "GetSessionToken", "GetFederationToken", "GetConsoleOutput", "GetConsoleScreenshot",
    "GetLaunchTemplateData", "GetCredentialsForIdentity", "GetOpenIdToken", "GetId",
    "GetObject", "GetObjectTorrent", "SelectObjectContent",
    "GetItem", "BatchGetItem", "GetRecords", "GetShardIterator", "GetMedia",
    "GetLogEvents", "GetLogRecord", "GetQueryExecution",
})


class ReadOnlyViolation(RuntimeError):
    """Raised before a non-read AWS operation is sent."""


def is_allowed(operation: str) -> bool:
    if operation in SECRET_READS:
        return False
    return operation in ALLOWED_OPERATIONS or operation.startswith(READ_PREFIXES)


def _guard(model: Any = None, **_: Any) -> None:
    name = getattr(model, "name", "")
    if not is_allowed(name):
        service = getattr(getattr(model, "service_model", None), "service_name", "?")
        raise ReadOnlyViolation(f"refused {service}:{name}: Annexa only reads (allow-listed read operations)")


def install(session: Any) -> None:
    """Register the guard on a boto3/botocore session (every client it creates inherits it)."""
    events = session.events if hasattr(session, "events") else session._session.get_component("event_emitter")
    events.register_first("before-call.*.*", _guard, unique_id="annexa-read-only-guard")
