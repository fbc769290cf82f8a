"""Organisation-wide security alert listings, read once per run and indexed by repository.

One cursor-paged listing per product answers for every repository at once (instead of one call
per repository): Dependabot and code scanning alerts filtered to open critical/high, secret
scanning alerts that are open. Secret scanning alerts are asked for with `hide_secret=true`, and
any `secret` field is dropped anyway: the leaked value must never reach the evidence store. The
embedded `repository` object is dropped from each alert (it is the repository the evidence sits on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.github.api import GitHubApi

LISTINGS: dict[str, tuple[str, dict[str, str]]] = {
    "dependabot": ("dependabot/alerts", {"state": "open", "severity": "critical,high"}),
    "code_scanning": ("code-scanning/alerts", {"state": "open", "severity": "critical,high"}),
    "secret_scanning": ("secret-scanning/alerts", {"state": "open", "hide_secret": "true"}),
}
SECRET_FIELDS = ("secret",)


@dataclass
class AlertIndex:
    """Open alerts of one product per repository `full_name`; `error` when the listing failed."""

    product: str
    by_repo: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None
    total: int = 0

    def for_repo(self, full_name: str) -> list[dict[str, Any]]:
        return self.by_repo.get(full_name, [])


def read_alerts(api: GitHubApi, org: str, product: str) -> AlertIndex:
    path, params = LISTINGS[product]
    index = AlertIndex(product)
    for alert in api.all(f"/orgs/{org}/{path}", params):
        repo = (alert.get("repository") or {}).get("full_name")
        if not repo:
            continue
        kept = {k: v for k, v in alert.items() if k != "repository" and k not in SECRET_FIELDS}
        index.by_repo.setdefault(repo, []).append(kept)
        index.total += 1
    return index
