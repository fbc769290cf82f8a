"""CloudTrail (per region): trails homed in the region, and one account summary.

A multi-region trail shows up in every region; each trail is collected once, by the scope of its
home region (`describe_trails(includeShadowTrails=False)`). The account summary is built by the
scope of the collector's home region from the trails that apply there (shadow trails included):
every multi-region trail applies to every region, so that view sees all of them. An account with
no trail at all still gets a summary, which then fails the multi-region rule. In a member account an
organization trail is another account's: its status is read by ARN, its event selectors cannot be.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, describe_error
from collectors.aws.services import ServiceSpec
from collectors.aws.services.policy_docs import plain

TRAIL = "aws.cloudtrail.trail"
SUMMARY = "aws.cloudtrail.account_summary"


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        homed = scope.call("cloudtrail", "describe_trails", includeShadowTrails=False).get("trailList") or []
    except CollectErrors as exc:
        scope.fail(TRAIL, exc)
        homed = None
    for trail in homed or []:
        if trail.get("HomeRegion", scope.region) != scope.region:
            continue
        try:
            data = trail_details(scope, trail)
        except CollectErrors as exc:
            scope.fail(TRAIL, f"trail {trail.get('Name')}: {describe_error(exc)}")
            continue
        yield scope.resource(TRAIL, trail["TrailARN"], trail["Name"], data)
    if scope.region == scope.home_region:
        yield from _summary(scope)


def trail_details(scope: AwsScope, trail: dict[str, Any]) -> dict[str, Any]:
    """The trail plus its status and event selectors, read in its home region. Raises API errors."""
    region = trail.get("HomeRegion") or scope.region
    status = scope.call("cloudtrail", "get_trail_status", region=region, Name=trail["TrailARN"])
    selectors = scope.call("cloudtrail", "get_event_selectors", region=region, TrailName=trail["TrailARN"])
    data = plain(trail)
    data["Status"] = plain(status)
    data["EventSelectors"] = plain({k: v for k, v in selectors.items() if k != "TrailARN"})
    data["ManagementEvents"] = management_events(trail, selectors)
    return data


def management_events(trail: dict[str, Any], selectors: dict[str, Any]) -> str | None:
    """Which management events the trail records: "All", "ReadOnly", "WriteOnly" or None.

    A trail without custom selectors records all management events. Basic selectors say it with
    IncludeManagementEvents + ReadWriteType; an advanced selector for eventCategory=Management
    records all of them unless it also filters on readOnly.
    """
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return None if trail.get("HasCustomEventSelectors") else "All"
    kinds: set[str] = set()
    for sel in basic:
        if sel.get("IncludeManagementEvents", True):
            kinds.add(sel.get("ReadWriteType") or "All")
    for sel in advanced:
        fields = {f.get("Field"): f for f in sel.get("FieldSelectors") or []}
        category = fields.get("eventCategory") or {}
        if "Management" not in (category.get("Equals") or []):
            continue
        read_only = fields.get("readOnly")
        if read_only is None:
            kinds.add("All")
        elif read_only.get("Equals"):
            kinds.update("ReadOnly" if v == "true" else "WriteOnly" for v in read_only["Equals"])
        else:  # NotEquals ["true"] keeps the write events, NotEquals ["false"] the read events
            kinds.update("WriteOnly" if v == "true" else "ReadOnly" for v in read_only.get("NotEquals") or [])
    if "All" in kinds or {"ReadOnly", "WriteOnly"} <= kinds:
        return "All"
    return next(iter(kinds)) if kinds else None


SUMMARY_KEYS = ("TrailARN", "Name", "HomeRegion", "IsMultiRegionTrail", "IsOrganizationTrail",
                "LogFileValidationEnabled", "KmsKeyId", "CloudWatchLogsLogGroupArn", "ManagementEvents")


def _trail_account(trail: dict[str, Any]) -> str:
    parts = str(trail.get("TrailARN") or "").split(":")
    return parts[4] if len(parts) > 4 else ""


def _foreign_entry(scope: AwsScope, trail: dict[str, Any]) -> dict[str, Any]:
    """What a member account can learn about an organization trail owned by the management account.

    GetTrailStatus accepts the trail's full ARN from a member account; GetEventSelectors is refused
    for another account's trail. A trail without custom selectors records every management event (the
    CloudTrail default), so only a trail with custom selectors leaves its coverage unknown.
    """
    entry: dict[str, Any] = {key: trail.get(key) for key in SUMMARY_KEYS}
    entry["ManagementEvents"] = None if trail.get("HasCustomEventSelectors") else "All"
    entry["IsLogging"] = None
    unknown = []
    try:
        status = scope.call("cloudtrail", "get_trail_status", region=trail.get("HomeRegion") or scope.region,
                            Name=trail["TrailARN"])
        entry["IsLogging"] = status.get("IsLogging")
    except CollectErrors as exc:
        unknown.append(f"status: {describe_error(exc)}")
    if entry["ManagementEvents"] is None:
        unknown.append("event selectors: custom selectors of another account's trail cannot be read")
    entry["Unknown"] = unknown
    return entry


def _summary(scope: AwsScope) -> Iterator[Resource]:
    try:
        trails = scope.call("cloudtrail", "describe_trails", includeShadowTrails=True).get("trailList") or []
        entries = []
        for trail in trails:
            try:
                data = trail_details(scope, trail)
            except CollectErrors:
                if _trail_account(trail) in ("", scope.account_id):
                    raise  # our own trail: its evidence must be readable
                entries.append(_foreign_entry(scope, trail))
                continue
            entries.append({key: data.get(key) for key in SUMMARY_KEYS}
                           | {"IsLogging": data["Status"].get("IsLogging")})
    except CollectErrors as exc:
        scope.fail(SUMMARY, exc)
        return
    # CIS 3.1 / Prowler's multi-region check: a logging multi-region trail with read and write
    # management events. Log file validation is judged on each trail by its own rule.
    complete = [t["TrailARN"] for t in entries if t["IsMultiRegionTrail"] and t["IsLogging"]
                and t["ManagementEvents"] == "All"]
    unknown = [f"{t['TrailARN']}: {'; '.join(t['Unknown'])}" for t in entries if t.get("Unknown")]
    if not complete and unknown:
        # An organization trail could be the one that covers the account: neither pass nor fail.
        scope.fail(SUMMARY, "coverage unknown: " + " | ".join(unknown))
        return
    arn = f"arn:{scope.partition}:cloudtrail::{scope.account_id}:account-summary"
    data = {"Trails": entries, "CompleteMultiRegionTrails": complete, "ViewedFromRegion": scope.region}
    yield Resource(SUMMARY, arn, f"CloudTrail coverage of {scope.account_id}", data, account=scope.account_id)


SERVICE = ServiceSpec(
    name="cloudtrail",
    resource_types={
        TRAIL: "a CloudTrail trail (in its home region) with logging status and event selectors",
        SUMMARY: "per account: the trails that apply and which multi-region trails are logging every "
                 "management event",
    },
    collect=collect,
)
