"""RDS: DB instances, DB clusters (Aurora, and Neptune/DocumentDB which share the API) and manual
DB and DB cluster snapshots with their restore permissions (`SnapshotAttributes`; `restore` =
`all` is public).

Master passwords are never returned by these APIs; nothing else here is secret.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

INSTANCE = "aws.rds.db_instance"
CLUSTER = "aws.rds.db_cluster"
SNAPSHOT = "aws.rds.db_snapshot"
CLUSTER_SNAPSHOT = "aws.rds.db_cluster_snapshot"


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        instances = list(scope.paginate("rds", "describe_db_instances", "DBInstances"))
    except CollectErrors as exc:
        scope.fail(INSTANCE, exc)
    else:
        for db in instances:
            data = plain(db)
            data.pop("MasterUserPassword", None)
            yield scope.resource(INSTANCE, db["DBInstanceArn"], db["DBInstanceIdentifier"], data)
    try:
        clusters = list(scope.paginate("rds", "describe_db_clusters", "DBClusters"))
    except CollectErrors as exc:
        scope.fail(CLUSTER, exc)
    else:
        for cluster in clusters:
            yield scope.resource(CLUSTER, cluster["DBClusterArn"], cluster["DBClusterIdentifier"], plain(cluster))
    yield from _snapshots(scope, SNAPSHOT, "DB")
    yield from _snapshots(scope, CLUSTER_SNAPSHOT, "DBCluster")


def _snapshots(scope: AwsScope, rtype: str, kind: str) -> Iterator[Resource]:
    """Manual DB (kind "DB") or DB cluster (kind "DBCluster") snapshots with their restore permissions."""
    snake = "db_cluster" if kind == "DBCluster" else "db"
    try:
        snapshots = list(scope.paginate("rds", f"describe_{snake}_snapshots", f"{kind}Snapshots",
                                        SnapshotType="manual"))
    except CollectErrors as exc:
        scope.fail(rtype, exc)
        return
    for snap in snapshots:
        ident = snap[f"{kind}SnapshotIdentifier"]
        try:
            attrs = scope.call("rds", f"describe_{snake}_snapshot_attributes", **{f"{kind}SnapshotIdentifier": ident})
        except CollectErrors as exc:
            if error_code(exc) in ("DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault"):
                continue
            scope.fail(rtype, exc)
            continue
        data = plain(snap)
        data["SnapshotAttributes"] = plain(
            (attrs.get(f"{kind}SnapshotAttributesResult") or {}).get(f"{kind}SnapshotAttributes") or [])
        yield scope.resource(rtype, snap[f"{kind}SnapshotArn"], ident, data)


SERVICE = ServiceSpec(
    name="rds",
    resource_types={
        INSTANCE: "an RDS DB instance",
        CLUSTER: "an RDS DB cluster (Aurora, Multi-AZ DB cluster, Neptune, DocumentDB)",
        SNAPSHOT: "a manual RDS DB snapshot with its restore permissions",
        CLUSTER_SNAPSHOT: "a manual RDS DB cluster snapshot with its restore permissions",
    },
    collect=collect,
)
