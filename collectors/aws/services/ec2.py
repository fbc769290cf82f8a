"""EC2: security groups, EBS default encryption, volumes, snapshots, instances and self-owned AMIs.

Instances never carry user data: DescribeInstances does not return it and Annexa never asks for
it (no DescribeInstanceAttribute userData); a `UserData` key, should one appear, is redacted.
Snapshots and AMIs have account-less ARNs (`arn:aws:ec2:region::snapshot/snap-…`), as AWS
documents them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code, redacted
from collectors.aws.services import ServiceSpec

SECURITY_GROUP = "aws.ec2.security_group"
EBS_DEFAULT = "aws.ec2.ebs_encryption_default"
VOLUME = "aws.ec2.volume"
SNAPSHOT = "aws.ec2.snapshot"
INSTANCE = "aws.ec2.instance"
IMAGE = "aws.ec2.image"

GONE = ("InvalidSnapshot.NotFound", "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")


def plain(value: Any) -> Any:
    """API JSON as plain JSON: timestamps become ISO 8601 UTC strings (so rules can compare dates)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        # botocore parses timestamps in the host's zone; UTC keeps evidence stable across hosts
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return redacted(value.decode("utf-8", "replace"))
    return value


def tag_name(item: dict[str, Any], default: str) -> str:
    """The `Name` tag of an EC2 object, or `default`."""
    for tag in item.get("Tags") or []:
        if tag.get("Key") == "Name" and tag.get("Value"):
            return str(tag["Value"])
    return default


def collect(scope: AwsScope) -> Iterator[Resource]:
    yield from _security_groups(scope)
    yield from _ebs_default(scope)
    yield from _volumes(scope)
    yield from _snapshots(scope)
    yield from _instances(scope)
    yield from _images(scope)


def _security_groups(scope: AwsScope) -> Iterator[Resource]:
    try:
        groups = list(scope.paginate("ec2", "describe_security_groups", "SecurityGroups"))
    except CollectErrors as exc:
        scope.fail(SECURITY_GROUP, exc)
        return
    for group in groups:
        arn = group.get("SecurityGroupArn") or scope.arn("ec2", f"security-group/{group['GroupId']}")
        yield scope.resource(SECURITY_GROUP, arn, f"{group.get('GroupName', '')} ({group['GroupId']})",
                             plain(group))


def _ebs_default(scope: AwsScope) -> Iterator[Resource]:
    try:
        data = dict(scope.call("ec2", "get_ebs_encryption_by_default"))
    except CollectErrors as exc:
        scope.fail(EBS_DEFAULT, exc)
        return
    data["Region"] = scope.region
    yield scope.resource(EBS_DEFAULT, scope.arn("ec2", "ebs-encryption-by-default"),
                         f"EBS default encryption ({scope.region})", data)


def _volumes(scope: AwsScope) -> Iterator[Resource]:
    try:
        volumes = list(scope.paginate("ec2", "describe_volumes", "Volumes"))
    except CollectErrors as exc:
        scope.fail(VOLUME, exc)
        return
    for vol in volumes:
        yield scope.resource(VOLUME, scope.arn("ec2", f"volume/{vol['VolumeId']}"),
                             tag_name(vol, vol["VolumeId"]), plain(vol))


def _snapshots(scope: AwsScope) -> Iterator[Resource]:
    try:
        snapshots = list(scope.paginate("ec2", "describe_snapshots", "Snapshots", OwnerIds=["self"]))
    except CollectErrors as exc:
        scope.fail(SNAPSHOT, exc)
        return
    for snap in snapshots:
        try:
            attr = scope.call("ec2", "describe_snapshot_attribute", SnapshotId=snap["SnapshotId"],
                              Attribute="createVolumePermission")
        except CollectErrors as exc:
            if error_code(exc) in GONE:
                continue  # deleted between list and lookup
            scope.fail(SNAPSHOT, exc)
            continue
        data = plain(snap)
        data["CreateVolumePermissions"] = plain(attr.get("CreateVolumePermissions") or [])
        yield scope.resource(SNAPSHOT, scope.arn("ec2", f"snapshot/{snap['SnapshotId']}", account=""),
                             tag_name(snap, snap["SnapshotId"]), data)


def _instances(scope: AwsScope) -> Iterator[Resource]:
    try:
        reservations = list(scope.paginate("ec2", "describe_instances", "Reservations"))
    except CollectErrors as exc:
        scope.fail(INSTANCE, exc)
        return
    for reservation in reservations:
        for inst in reservation.get("Instances") or []:
            if (inst.get("State") or {}).get("Name") == "terminated":
                continue  # gone; AWS keeps listing it for about an hour
            data = plain(inst)
            if "UserData" in data:
                data["UserData"] = redacted(data["UserData"])
            data["OwnerId"] = reservation.get("OwnerId")
            yield scope.resource(INSTANCE, scope.arn("ec2", f"instance/{inst['InstanceId']}"),
                                 tag_name(inst, inst["InstanceId"]), data)


def _images(scope: AwsScope) -> Iterator[Resource]:
    try:
        images = scope.call("ec2", "describe_images", Owners=["self"]).get("Images") or []
    except CollectErrors as exc:
        scope.fail(IMAGE, exc)
        return
    for image in images:
        yield scope.resource(IMAGE, scope.arn("ec2", f"image/{image['ImageId']}", account=""),
                             image.get("Name") or image["ImageId"], plain(image))


SERVICE = ServiceSpec(
    name="ec2",
    resource_types={
        SECURITY_GROUP: "an EC2 security group with its inbound and outbound rules",
        EBS_DEFAULT: "the region's EBS encryption-by-default setting (one per account and region)",
        VOLUME: "an EBS volume",
        SNAPSHOT: "an EBS snapshot owned by the account, with who may create volumes from it",
        INSTANCE: "an EC2 instance (metadata options, network interfaces; never user data)",
        IMAGE: "an AMI owned by the account",
    },
    collect=collect,
)
