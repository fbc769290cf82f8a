"""Python rules for Google Cloud: judgements that need configuration or more than one resource."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from agent.model import Resource, Status
from agent.rules.engine import Evaluation, PythonRuleContext

PEOPLE_KINDS = ("user", "group", "domain")


def _within(domain: str, company: set[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in company)


def members_in_company_domains(resources: Mapping[str, Sequence[Resource]],
                               ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """Users, groups and domains in IAM policies belong to `identity.domains` or `allowed_domains`."""
    configured = {d.lower().lstrip("@") for d in (getattr(ctx.identity, "domains", None) or [])}
    for policy in resources.get("gcp.iam.policy", []):
        extra = ctx.params_for(policy.source).get("allowed_domains") or []
        company = configured | {str(d).lower().lstrip("@") for d in extra}
        where = f"{policy.data.get('resourceType')} {policy.data.get('resource')}"
        if not company:
            yield Evaluation(policy, Status.ERROR, f"{where}: cannot tell external identities: no company domains "
                                                   "configured (identity.domains or the allowed_domains parameter)")
            continue
        outside = [m["member"] for m in policy.data.get("members") or []
                   if m.get("kind") in PEOPLE_KINDS and m.get("domain") and not _within(m["domain"], company)]
        if outside:
            yield Evaluation(policy, Status.FAIL, f"{where} grants roles to identities outside "
                                                  f"{', '.join(sorted(company))}: {', '.join(outside)}")
        else:
            yield Evaluation(policy, Status.PASS, f"{where} grants roles only to identities of "
                                                  f"{', '.join(sorted(company))}")


def _retention_days(bucket: Resource) -> float:
    policy: dict[str, Any] = bucket.data.get("retentionPolicy") or {}
    try:
        return int(policy.get("retentionPeriod") or 0) / 86400
    except (TypeError, ValueError):
        return 0.0


def sink_buckets_retention_locked(resources: Mapping[str, Sequence[Resource]],
                                  ctx: PythonRuleContext) -> Iterator[Evaluation]:
    """Buckets that log sinks export to keep entries long enough under a locked retention policy."""
    buckets = {b.data.get("name"): b for b in resources.get("gcp.storage.bucket", [])}
    targets: dict[str, list[str]] = {}
    for sink in resources.get("gcp.logging.sink", []):
        name = sink.data.get("destinationBucket")
        if name and not sink.data.get("disabled"):
            targets.setdefault(name, []).append(f"{sink.data.get('parent')}/sinks/{sink.data.get('name')}")
    for name, sinks in sorted(targets.items()):
        bucket = buckets.get(name)
        if bucket is None:
            continue  # in a project this source does not cover
        minimum = float(ctx.params_for(bucket.source).get("min_retention_days", 365))
        days = _retention_days(bucket)
        locked = (bucket.data.get("retentionPolicy") or {}).get("isLocked") is True
        if locked and days >= minimum:
            yield Evaluation(bucket, Status.PASS, f"Log export bucket {name} keeps objects {days:.0f} days under a "
                                                  f"locked retention policy (sinks: {', '.join(sinks)})")
        else:
            state = "no retention policy" if not days else f"{days:.0f} days, {'locked' if locked else 'not locked'}"
            yield Evaluation(bucket, Status.FAIL, f"Log export bucket {name} ({state}) needs a locked retention "
                                                  f"policy of at least {minimum:.0f} days (sinks: {', '.join(sinks)})")
