"""Why GitHub would not answer: one reason word and a sentence an auditor can act on.

Reason words (shared by every collector): `denied` (the token may not read it), `not_enabled` (the
plan or the repository's settings do not offer the feature), `throttled`, `unavailable` (GitHub
or the network failed), `invalid_response`. GitHub hides what a token may not see behind a 404, so
a 404 on an endpoint that needs admin or owner rights is reported as `denied`, with that caveat.
"""

from __future__ import annotations

from agent.http import HttpError

# Messages GitHub uses when the plan or the repository's settings do not offer a feature.
PLAN_MARKERS = (
    "advanced security must be enabled", "upgrade to github pro", "github enterprise", "not available",
    "secret scanning is disabled", "dependabot alerts are disabled", "code scanning is not enabled",
    "feature is not enabled", "must have github advanced security", "is not enabled for this",
)


def reason(error: BaseException) -> str:
    if not isinstance(error, HttpError):
        return "invalid_response" if isinstance(error, ValueError | KeyError | TypeError) else "unavailable"
    text = error.provider_message.lower()
    if error.status is None or (error.status >= 500):
        return "unavailable"
    if error.status == 429 or "rate limit" in text:
        return "throttled"
    if any(marker in text for marker in PLAN_MARKERS):
        return "not_enabled"
    if error.status in (401, 403, 404, 422):
        return "denied"
    if error.status == 200:
        return "invalid_response"
    return "unavailable"


def is_plan_limited(error: BaseException) -> bool:
    return reason(error) == "not_enabled"


def describe(error: BaseException, what: str, needs: str = "") -> str:
    """`<reason>: <what> could not be read: <GitHub's answer>[ — <what the token needs>]`."""
    word = reason(error)
    if isinstance(error, HttpError):
        status = "connection failed" if error.status is None else f"HTTP {error.status}"
        answer = f"{status} {error.provider_message}".strip()
    else:
        answer = f"{type(error).__name__}: {error}"
    prefix = {"not_enabled": "not available (plan or repository setting)", "denied": "not available (permission)"}
    text = f"{word}: {what}: {prefix[word] + ' — ' if word in prefix else ''}{answer}"
    if isinstance(error, HttpError) and error.status == 404 and word == "denied":
        text += " (GitHub answers 404 when the token may not see this)"
    if needs and word == "denied":
        text += f"; needs {needs}"
    return text
