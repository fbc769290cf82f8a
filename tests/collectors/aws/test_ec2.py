"""EC2 service: security groups, EBS encryption, snapshots, instances and AMIs against moto."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.collectors.aws.conftest import ACCOUNT, run_aws

REGION = "us-east-1"
OPTIONS = "    regions: [us-east-1]\n    services: [ec2]\n"


def sg_arn(group_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}"


def test_security_group_rules(aws: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]

    def group(name: str, perms: list[dict]) -> str:
        gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        if perms:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
        return gid

    world = "0.0.0.0/0"
    ssh_v4 = group("ssh-v4", [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": world}]}])
    ssh_v6 = group("ssh-v6", [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                               "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    # a range that contains 3389 (and 22) without naming either port
    wide = group("wide", [{"IpProtocol": "tcp", "FromPort": 0, "ToPort": 5000, "IpRanges": [{"CidrIp": world}]}])
    everything = group("all", [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": world}]}])
    # every TCP port (0-65535) from IPv6 anywhere is "all ports" as much as protocol -1 is
    all_tcp = group("all-tcp", [{"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535,
                                 "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    private = group("private-ssh", [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": world}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        # 3390-3400 from anywhere: next to RDP, but not RDP
        {"IpProtocol": "tcp", "FromPort": 3390, "ToPort": 3400, "IpRanges": [{"CidrIp": world}]},
        {"IpProtocol": "udp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": world}]},
    ])
    # the default group of the new VPC: emptied → passes; the default VPC's default group keeps its rules
    default_new = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                        {"Name": "group-name", "Values": ["default"]}])
    default_sg = default_new["SecurityGroups"][0]
    if default_sg.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=default_sg["GroupId"], IpPermissions=default_sg["IpPermissions"])
    if default_sg.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(GroupId=default_sg["GroupId"],
                                         IpPermissions=default_sg["IpPermissionsEgress"])
    default_vpc_sg = next(g for g in ec2.describe_security_groups()["SecurityGroups"]
                      if g["GroupName"] == "default" and g["VpcId"] != vpc)

    run = run_aws(tmp_path, OPTIONS)
    assert not run.errors

    ssh = run.by_rule("aws.ec2.security_group_no_public_ssh")
    assert ssh[sg_arn(ssh_v4)] == "fail"
    assert ssh[sg_arn(ssh_v6)] == "fail"
    assert ssh[sg_arn(wide)] == "fail"
    assert ssh[sg_arn(everything)] == "fail"
    assert ssh[sg_arn(private)] == "pass"

    rdp = run.by_rule("aws.ec2.security_group_no_public_rdp")
    assert rdp[sg_arn(wide)] == "fail"
    assert rdp[sg_arn(everything)] == "fail"
    assert rdp[sg_arn(ssh_v4)] == "pass"
    assert rdp[sg_arn(private)] == "pass"

    allt = run.by_rule("aws.ec2.security_group_no_public_all_traffic")
    assert allt[sg_arn(everything)] == "fail"
    assert allt[sg_arn(all_tcp)] == "fail"
    assert allt[sg_arn(wide)] == "pass"
    assert allt[sg_arn(private)] == "pass"

    dflt = run.by_rule("aws.ec2.default_security_group_restricts_all")
    assert dflt[sg_arn(default_sg["GroupId"])] == "pass"
    assert dflt[sg_arn(default_vpc_sg["GroupId"])] == "fail"
    assert sg_arn(ssh_v4) not in dflt  # only default groups are judged


def test_storage_instances_and_images(aws: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    plain_vol = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    enc_vol = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, Encrypted=True)["VolumeId"]
    plain_snap = ec2.create_snapshot(VolumeId=plain_vol)["SnapshotId"]
    enc_snap = ec2.create_snapshot(VolumeId=enc_vol)["SnapshotId"]
    ec2.modify_snapshot_attribute(SnapshotId=plain_snap, Attribute="createVolumePermission",
                                  OperationType="add", GroupNames=["all"])
    # shared with one named account only: not public
    ec2.modify_snapshot_attribute(SnapshotId=enc_snap, Attribute="createVolumePermission",
                                  OperationType="add", UserIds=["210987654321"])

    v1 = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                           MetadataOptions={"HttpTokens": "optional"})["Instances"][0]["InstanceId"]
    v2 = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                           UserData="CANARY-not-needed-here",
                           MetadataOptions={"HttpTokens": "required"})["Instances"][0]["InstanceId"]
    # metadata service switched off: nothing to steal through IMDSv1, so compliant
    v3 = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                           MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "disabled"}
                           )["Instances"][0]["InstanceId"]
    public_ami = ec2.create_image(InstanceId=v1, Name="public-image")["ImageId"]
    private_ami = ec2.create_image(InstanceId=v2, Name="private-image")["ImageId"]
    ec2.modify_image_attribute(ImageId=public_ami, LaunchPermission={"Add": [{"Group": "all"}]})
    # EBS default encryption is one setting per region: on in us-west-2, left off in us-east-1
    boto3.client("ec2", region_name="us-west-2").enable_ebs_encryption_by_default()

    run = run_aws(tmp_path, "    regions: [us-east-1, us-west-2]\n    services: [ec2]\n")
    assert not run.errors
    vol = lambda v: f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{v}"  # noqa: E731
    snap = lambda s: f"arn:aws:ec2:{REGION}::snapshot/{s}"  # noqa: E731
    inst = lambda i: f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{i}"  # noqa: E731
    img = lambda i: f"arn:aws:ec2:{REGION}::image/{i}"  # noqa: E731

    assert run.status("aws.ec2.ebs_default_encryption_enabled",
                      f"arn:aws:ec2:{REGION}:{ACCOUNT}:ebs-encryption-by-default") == "fail"
    assert run.status("aws.ec2.ebs_default_encryption_enabled",
                      f"arn:aws:ec2:us-west-2:{ACCOUNT}:ebs-encryption-by-default") == "pass"
    assert run.status("aws.ec2.volume_encrypted", vol(plain_vol)) == "fail"
    assert run.status("aws.ec2.volume_encrypted", vol(enc_vol)) == "pass"
    assert run.status("aws.ec2.snapshot_encrypted", snap(plain_snap)) == "fail"
    assert run.status("aws.ec2.snapshot_encrypted", snap(enc_snap)) == "pass"
    assert run.status("aws.ec2.snapshot_not_public", snap(plain_snap)) == "fail"
    assert run.status("aws.ec2.snapshot_not_public", snap(enc_snap)) == "pass"
    assert run.status("aws.ec2.instance_imdsv2_required", inst(v1)) == "fail"
    assert run.status("aws.ec2.instance_imdsv2_required", inst(v2)) == "pass"
    assert run.status("aws.ec2.instance_imdsv2_required", inst(v3)) == "pass"
    assert run.status("aws.ec2.image_not_public", img(public_ami)) == "fail"
    assert run.status("aws.ec2.image_not_public", img(private_ami)) == "pass"



def test_plain_json_timestamps_are_utc() -> None:
    from datetime import datetime, timedelta, timezone

    from collectors.aws.services.ec2 import plain

    local = datetime(2024, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    out = plain({"When": [local], "Raw": b"x"})
    assert out["When"] == ["2024-01-01T00:00:00+00:00"]
    assert out["Raw"]["redacted"] is True and "x" not in out["Raw"].values()
