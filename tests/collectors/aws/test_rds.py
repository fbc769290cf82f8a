"""RDS service: instances, clusters and snapshots against moto."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, run_aws

REGION = "us-east-1"


def test_rds_rules(aws: str, tmp_path: Path) -> None:
    rds = boto3.client("rds", region_name=REGION)
    common = {"DBInstanceClass": "db.t3.micro", "Engine": "postgres", "MasterUsername": "admin",
              "MasterUserPassword": "not-a-real-password-1", "AllocatedStorage": 20}
    rds.create_db_instance(DBInstanceIdentifier="good", StorageEncrypted=True, PubliclyAccessible=False,
                           BackupRetentionPeriod=14, DeletionProtection=True, MultiAZ=True,
                           AutoMinorVersionUpgrade=True, **common)
    rds.create_db_instance(DBInstanceIdentifier="bad", StorageEncrypted=False, PubliclyAccessible=True,
                           BackupRetentionPeriod=1, DeletionProtection=False, MultiAZ=False,
                           AutoMinorVersionUpgrade=False, **common)
    cluster_args = {"Engine": "aurora-postgresql", "MasterUsername": "admin",
                    "MasterUserPassword": "not-a-real-password-1"}
    rds.create_db_cluster(DBClusterIdentifier="good-cluster", StorageEncrypted=True, DeletionProtection=True,
                          BackupRetentionPeriod=10, **cluster_args)
    rds.create_db_cluster(DBClusterIdentifier="bad-cluster", StorageEncrypted=False, DeletionProtection=False,
                          BackupRetentionPeriod=1, **cluster_args)
    # an Aurora member instance: storage, backups, deletion protection and Multi-AZ belong to its cluster
    rds.create_db_instance(DBInstanceIdentifier="bad-cluster-1", DBClusterIdentifier="bad-cluster",
                           Engine="aurora-postgresql", DBInstanceClass="db.r5.large", PubliclyAccessible=True)
    rds.create_db_snapshot(DBInstanceIdentifier="good", DBSnapshotIdentifier="private-snap")
    rds.create_db_snapshot(DBInstanceIdentifier="bad", DBSnapshotIdentifier="public-snap")
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="public-snap", AttributeName="restore",
                                     ValuesToAdd=["all"])
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="private-snap", AttributeName="restore",
                                     ValuesToAdd=["210987654321"])

    rds.create_db_cluster_snapshot(DBClusterIdentifier="good-cluster", DBClusterSnapshotIdentifier="private-cl")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="bad-cluster", DBClusterSnapshotIdentifier="public-cl")
    rds.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier="public-cl", AttributeName="restore",
                                             ValuesToAdd=["all"])

    run = run_aws(tmp_path, "    regions: [us-east-1]\n    services: [rds]\n")
    assert not run.errors
    db = lambda n: f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{n}"  # noqa: E731
    cl = lambda n: f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{n}"  # noqa: E731
    snap = lambda n: f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:{n}"  # noqa: E731
    for rule in ("instance_storage_encrypted", "instance_not_publicly_accessible", "instance_backup_retention_7_days",
                 "instance_deletion_protection", "instance_multi_az", "instance_auto_minor_version_upgrade"):
        assert run.status(f"aws.rds.{rule}", db("good")) == "pass", rule
        assert run.status(f"aws.rds.{rule}", db("bad")) == "fail", rule
    for rule in ("cluster_storage_encrypted", "cluster_deletion_protection", "cluster_backup_retention_7_days"):
        assert run.status(f"aws.rds.{rule}", cl("good-cluster")) == "pass", rule
        assert run.status(f"aws.rds.{rule}", cl("bad-cluster")) == "fail", rule
    member = db("bad-cluster-1")
    for rule in ("instance_storage_encrypted", "instance_backup_retention_7_days", "instance_deletion_protection",
                 "instance_multi_az"):
        assert member not in run.by_rule(f"aws.rds.{rule}"), rule  # judged once, on bad-cluster
    assert run.status("aws.rds.instance_not_publicly_accessible", member) == "fail"  # a per-instance setting
    assert run.status("aws.rds.snapshot_not_public", snap("private-snap")) == "pass"
    assert run.status("aws.rds.snapshot_not_public", snap("public-snap")) == "fail"
    cl_snap = lambda n: f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster-snapshot:{n}"  # noqa: E731
    assert run.status("aws.rds.cluster_snapshot_not_public", cl_snap("private-cl")) == "pass"
    assert run.status("aws.rds.cluster_snapshot_not_public", cl_snap("public-cl")) == "fail"
    # nothing secret in the evidence: the master password never reaches the store
    assert "not-a-real-password-1" not in (tmp_path / "annexa.db").read_bytes().decode("latin-1")
