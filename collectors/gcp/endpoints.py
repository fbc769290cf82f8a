"""Where each Google API lives, and which POSTs Annexa may send (all documented reads).

Every API has a default base URL; `endpoint` on the source moves them all (one proxy or fake), and
`endpoints` moves one at a time. The read-only POST list is anchored on each base URL, so a POST to
any other path or host is refused by the shared HTTP client before it is sent.
"""

from __future__ import annotations

import re

DEFAULTS: dict[str, str] = {
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com",
    "iam": "https://iam.googleapis.com",
    "storage": "https://storage.googleapis.com",
    "compute": "https://compute.googleapis.com",
    "sqladmin": "https://sqladmin.googleapis.com",
    "cloudkms": "https://cloudkms.googleapis.com",
    "logging": "https://logging.googleapis.com",
    "orgpolicy": "https://orgpolicy.googleapis.com",
}
# The service name Google reports (in SERVICE_DISABLED errors) for each API.
SERVICE_NAMES: dict[str, str] = {api: f"{api}.googleapis.com" for api in DEFAULTS}

# (API, path regex after the base URL) of the only POST requests Annexa sends: documented reads.
READ_ONLY_POSTS: tuple[tuple[str, str], ...] = (
    ("cloudresourcemanager", r"/v3/(?:projects|folders|organizations)/[^/:]+:getIamPolicy"),
    ("cloudresourcemanager", r"/v1/projects/[^/:]+:getAncestry"),
    ("logging", r"/v2/entries:list"),
)


def resolve(common: str | None, overrides: dict[str, str]) -> dict[str, str]:
    """The base URL of every API: an `endpoints` entry, else the source's `endpoint`, else Google's."""
    out = {}
    for api, default in DEFAULTS.items():
        url = overrides.get(api) or common or default
        out[api] = url.rstrip("/")
    return out


def allow_post(bases: dict[str, str]) -> list[str]:
    """Regexes for the shared client's `allow_post`: each read-only POST, anchored on its API's base URL."""
    return [f"^{re.escape(bases[api])}{path}$" for api, path in READ_ONLY_POSTS]
