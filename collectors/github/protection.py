"""The default branch's effective protection, from classic branch protection and rulesets together.

GitHub enforces both layers at once: a classic protection rule (`/branches/{b}/protection`) and
every active ruleset that targets the branch (`/rules/branches/{b}` lists their rules, repository
and organisation rulesets alike). The stricter setting wins, so booleans are OR-ed and review
counts take the maximum. Both raw documents stay in the evidence beside this summary
(`default_branch.protection`, `default_branch.rules`, `default_branch.rulesets`); rules judge the
summary so that either way of protecting a branch counts.

A value is `None` when the evidence it needs could not be read — never a guess.
"""

from __future__ import annotations

from typing import Any

ADMIN_ROLE_ID = 5  # the built-in "admin" repository role, as bypass actors name it


def _enabled(doc: dict[str, Any] | None, key: str) -> bool:
    value = (doc or {}).get(key)
    return bool(value.get("enabled")) if isinstance(value, dict) else False


def effective(classic: dict[str, Any] | None, classic_ok: bool, rules: list[dict[str, Any]] | None,
              rulesets: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Summarise. `classic` None with `classic_ok` means "no classic rule"; `rules` None: unreadable.

    `rulesets` maps ruleset id → its detail (None when it could not be read).
    """
    readable = classic_ok and rules is not None
    rule_list = rules or []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for rule in rule_list:
        by_type.setdefault(str(rule.get("type")), []).append(rule.get("parameters") or {})
    reviews = (classic or {}).get("required_pull_request_reviews")
    pr_rules = by_type.get("pull_request", [])
    counts = [int(p.get("required_approving_review_count") or 0) for p in pr_rules]
    if isinstance(reviews, dict):
        counts.append(int(reviews.get("required_approving_review_count") or 0))
    checks: set[str] = set()
    status = (classic or {}).get("required_status_checks")
    if isinstance(status, dict):
        checks.update(status.get("contexts") or [])
        checks.update(c.get("context") for c in status.get("checks") or [] if c.get("context"))
    for params in by_type.get("required_status_checks", []):
        checks.update(c.get("context") for c in params.get("required_status_checks") or [] if c.get("context"))
    protected = classic is not None or bool(rule_list)

    def known(value: bool) -> bool | None:
        """A True found in what was read stands; a False needs both layers read."""
        return True if value else (False if readable else None)

    summary: dict[str, Any] = {
        "protected": known(protected),
        "layers": [name for name, present in (("classic", classic is not None), ("rulesets", bool(rule_list)))
                   if present],
        "pull_request_required": known(isinstance(reviews, dict) or bool(pr_rules)),
        "required_approving_review_count": max(counts) if counts else (0 if readable else None),
        "dismiss_stale_reviews": known(bool((reviews or {}).get("dismiss_stale_reviews"))
                                       or any(p.get("dismiss_stale_reviews_on_push") for p in pr_rules)),
        "require_code_owner_reviews": known(bool((reviews or {}).get("require_code_owner_reviews"))
                                            or any(p.get("require_code_owner_review") for p in pr_rules)),
        "require_last_push_approval": known(bool((reviews or {}).get("require_last_push_approval"))
                                            or any(p.get("require_last_push_approval") for p in pr_rules)),
        "required_status_checks": sorted(checks) if (checks or readable) else None,
        "force_pushes_blocked": known((classic is not None and not _enabled(classic, "allow_force_pushes"))
                                      or "non_fast_forward" in by_type),
        "deletions_blocked": known((classic is not None and not _enabled(classic, "allow_deletions"))
                                   or "deletion" in by_type),
        "signed_commits_required": known(_enabled(classic, "required_signatures") or "required_signatures" in by_type),
    }
    summary.update(_bypass(classic, rule_list, rulesets, readable))
    summary["push_restricted_to"] = _pushers(classic, by_type)
    return summary


def _bypass(classic: dict[str, Any] | None, rules: list[dict[str, Any]],
            rulesets: dict[str, dict[str, Any] | None], readable: bool) -> dict[str, Any]:
    """Can administrators (or named actors) get past the protection?

    Classic: `enforce_admins.enabled`. Rulesets: their `bypass_actors` (visible to admins only).
    The branch is enforced for admins when any layer that holds rules binds them.
    """
    ids = sorted({str(r.get("ruleset_id")) for r in rules if r.get("ruleset_id") is not None})
    actors: list[dict[str, Any]] = []
    unreadable = []
    for rid in ids:
        detail = rulesets.get(rid)
        if detail is None or not isinstance(detail.get("bypass_actors"), list):
            unreadable.append(rid)
            continue
        for actor in detail["bypass_actors"]:
            actors.append({**actor, "ruleset_id": detail.get("id"), "ruleset": detail.get("name")})
    classic_binds = classic is not None and _enabled(classic, "enforce_admins")
    rulesets_bind = bool(ids) and not unreadable and not actors
    if classic_binds or rulesets_bind:
        enforced: bool | None = True
    elif not readable or unreadable:
        enforced = None
    else:
        enforced = False
    return {"admins_enforced": enforced, "bypass_actors": actors if not unreadable else None,
            "rulesets_unreadable": unreadable}


def _pushers(classic: dict[str, Any] | None, by_type: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """Who may push directly: classic `restrictions`, or a ruleset `update` rule (bypass actors only)."""
    restrictions = (classic or {}).get("restrictions")
    if isinstance(restrictions, dict):
        return {"source": "classic",
                "users": sorted(u.get("login") for u in restrictions.get("users") or [] if u.get("login")),
                "teams": sorted(t.get("slug") for t in restrictions.get("teams") or [] if t.get("slug")),
                "apps": sorted(a.get("slug") for a in restrictions.get("apps") or [] if a.get("slug"))}
    if "update" in by_type:
        return {"source": "rulesets", "users": [], "teams": [], "apps": [], "note": "only the rulesets' bypass actors"}
    return None
