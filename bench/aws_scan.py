"""Benchmark: the full AWS pipeline (collector → rules → store) against moto on loopback.

Seeds one account in two Regions with a few dozen resources across every collected service, then
runs what `annexa run` runs, in-process, and prints wall time, API calls (total and by service),
peak memory, resources and findings. `--repeat N` runs N times over the same store (later runs
see unchanged evidence, like a scheduled scan).

    python bench/aws_scan.py [--repeat 3] [--copies 2] [--with-events] [--json]

CloudTrail event history (LookupEvents) is excluded unless `--with-events`: moto does not implement
it, and its cost is set by AWS's limit of 2 calls/s per account and Region, not by this code. With
`--with-events` a loopback fake answers it and the real pacing applies. Access Analyzer is excluded
unless `--all-services`: moto answers it with HTTP 500, which botocore retries for about a minute.

`seed(regions, copies, canary)` is also the world of the IAM policy coverage and secrets canary tests.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGIONS = ("us-east-1", "eu-west-1")
TRUST_LAMBDA = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return 'ok'\n")
    return buf.getvalue()


def seed(regions: tuple[str, ...] = REGIONS, copies: int = 2, canary: str = "bench-not-a-secret") -> dict[str, Any]:
    """Create resources of every collected service (boto3 → AWS_ENDPOINT_URL). Returns what was made.

    `canary` is planted wherever AWS stores a secret-bearing value (Lambda environment, EC2 user
    data, launch template user data, SSM parameters, Secrets Manager secrets, ECS container
    environment, a login password).
    """
    import boto3

    made: Counter[str] = Counter()
    iam = boto3.client("iam", region_name=regions[0])
    iam.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True, MaxPasswordAge=90)
    role_arn = iam.create_role(RoleName="bench-lambda", AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="bench-lambda", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    for i in range(copies + 1):
        user = f"bench-user-{i}"
        iam.create_user(UserName=user)
        iam.create_access_key(UserName=user)
        iam.create_login_profile(UserName=user, Password=f"{canary}-Aa1!")
        if i == 0:
            mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(UserName=user, SerialNumber=mfa, AuthenticationCode1="123456",
                                  AuthenticationCode2="654321")
        iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        made["iam.user"] += 1
    iam.create_group(GroupName="bench-admins")
    iam.put_group_policy(GroupName="bench-admins", PolicyName="admin", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))

    for region in regions:
        s3 = boto3.client("s3", region_name=region)
        ec2 = boto3.client("ec2", region_name=region)
        kms = boto3.client("kms", region_name=region)
        logs = boto3.client("logs", region_name=region)
        bucket_cfg = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        for i in range(copies):
            name = f"bench-{region}-{i}"
            s3.create_bucket(Bucket=name, **bucket_cfg)
            if i == 0:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
                s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True})
                s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{name}/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
            made["s3.bucket"] += 1
        trail_bucket = f"bench-{region}-0"
        boto3.client("cloudtrail", region_name=region).create_trail(
            Name=f"bench-trail-{region}", S3BucketName=trail_bucket, IsMultiRegionTrail=region == regions[0])
        made["cloudtrail.trail"] += 1

        vpc_id = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnets = [s["SubnetId"] for s in ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]][:2]
        for i in range(copies):
            sg = ec2.create_security_group(GroupName=f"bench-sg-{i}", Description="bench", VpcId=vpc_id)["GroupId"]
            cidr = "0.0.0.0/0" if i == 0 else "10.0.0.0/8"
            ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{
                "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]}])
            vol = ec2.create_volume(AvailabilityZone=f"{region}a", Size=8, Encrypted=i == 0)["VolumeId"]
            if i == 0:
                ec2.create_snapshot(VolumeId=vol, Description="bench")
            made["ec2.security_group"] += 1
            made["ec2.volume"] += 1
        image = ec2.register_image(Name=f"bench-ami-{region}", RootDeviceName="/dev/xvda",
                                   BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])
        user_data = base64.b64encode(f"#!/bin/sh\nexport DB_PASSWORD={canary}\n".encode()).decode()
        ec2.run_instances(ImageId=image["ImageId"], MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          UserData=f"#!/bin/sh\nexport DB_PASSWORD={canary}\n", SubnetId=subnets[0],
                          MetadataOptions={"HttpTokens": "required"})
        ec2.create_launch_template(LaunchTemplateName=f"bench-lt-{region}", LaunchTemplateData={
            "ImageId": image["ImageId"], "UserData": user_data})
        ec2.create_flow_logs(ResourceIds=[vpc_id], ResourceType="VPC", TrafficType="ALL",
                             LogDestinationType="s3", LogDestination=f"arn:aws:s3:::{trail_bucket}")
        made["ec2.instance"] += 1

        for i in range(copies):
            key = kms.create_key(Description=f"bench-key-{i}")["KeyMetadata"]["KeyId"]
            if i == 0:
                kms.enable_key_rotation(KeyId=key)
            logs.create_log_group(logGroupName=f"/bench/{region}/{i}")
            if i == 0:
                logs.put_retention_policy(logGroupName=f"/bench/{region}/{i}", retentionInDays=400)
            made["kms.key"] += 1
            made["logs.log_group"] += 1

        rds = boto3.client("rds", region_name=region)
        rds.create_db_instance(DBInstanceIdentifier=f"bench-db-{region}", DBInstanceClass="db.t3.micro",
                               Engine="postgres", MasterUsername="admin", MasterUserPassword=f"{canary}-pw",
                               AllocatedStorage=20, StorageEncrypted=True, BackupRetentionPeriod=7)
        rds.create_db_snapshot(DBSnapshotIdentifier=f"bench-snap-{region}", DBInstanceIdentifier=f"bench-db-{region}")
        rds.create_db_cluster(DBClusterIdentifier=f"bench-cluster-{region}", Engine="aurora-postgresql",
                              MasterUsername="admin", MasterUserPassword=f"{canary}-pw", StorageEncrypted=True)
        made["rds.db_instance"] += 1

        lam = boto3.client("lambda", region_name=region)
        fn = f"bench-fn-{region}"
        lam.create_function(FunctionName=fn, Runtime="python3.12", Role=role_arn, Handler="handler.handler",
                            Code={"ZipFile": _zip()}, Environment={"Variables": {"API_TOKEN": canary}})
        lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="$LATEST")
        lam.add_permission(FunctionName=fn, StatementId="public", Action="lambda:InvokeFunction", Principal="*")
        lam.create_function_url_config(FunctionName=fn, AuthType="AWS_IAM")
        made["lambda.function"] += 1

        ecr = boto3.client("ecr", region_name=region)
        ecr.create_repository(repositoryName=f"bench/{region}", imageScanningConfiguration={"scanOnPush": True})
        ecr.put_lifecycle_policy(repositoryName=f"bench/{region}", lifecyclePolicyText=json.dumps({"rules": [{
            "rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                             "countUnit": "days", "countNumber": 14},
            "action": {"type": "expire"}}]}))
        made["ecr.repository"] += 1

        boto3.client("secretsmanager", region_name=region).create_secret(Name=f"bench/{region}/db",
                                                                         SecretString=canary)
        ssm = boto3.client("ssm", region_name=region)
        ssm.put_parameter(Name=f"/bench/{region}/secure", Value=canary, Type="SecureString")
        ssm.put_parameter(Name=f"/bench/{region}/plain", Value=canary, Type="String")
        ecs = boto3.client("ecs", region_name=region)
        ecs.register_task_definition(family="bench", containerDefinitions=[{
            "name": "app", "image": "nginx", "memory": 128, "environment": [{"name": "TOKEN", "value": canary}]}])
        made["secretsmanager.secret"] += 1

        boto3.client("eks", region_name=region).create_cluster(
            name=f"bench-eks-{region}", roleArn=role_arn, resourcesVpcConfig={"subnetIds": subnets})
        made["eks.cluster"] += 1

        elb = boto3.client("elbv2", region_name=region)
        lb = elb.create_load_balancer(Name=f"bench-lb-{region[:9]}", Subnets=subnets)["LoadBalancers"][0]
        tg = elb.create_target_group(Name=f"bench-tg-{region[:9]}", Protocol="HTTP", Port=80,
                                     VpcId=vpc_id)["TargetGroups"][0]
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        made["elbv2.load_balancer"] += 1

        boto3.client("acm", region_name=region).request_certificate(DomainName=f"{region}.bench.example.com")
        made["acm.certificate"] += 1

        backup = boto3.client("backup", region_name=region)
        backup.create_backup_vault(BackupVaultName=f"bench-vault-{region}")
        plan = backup.create_backup_plan(BackupPlan={"BackupPlanName": f"bench-plan-{region}", "Rules": [{
            "RuleName": "daily", "TargetBackupVaultName": f"bench-vault-{region}",
            "ScheduleExpression": "cron(0 5 * * ? *)", "Lifecycle": {"DeleteAfterDays": 35}}]})
        del plan  # (moto has no CreateBackupSelection; ListBackupSelections is still called per plan)
        made["backup.plan"] += 1

        boto3.client("guardduty", region_name=region).create_detector(Enable=True)
        config = boto3.client("config", region_name=region)
        config.put_configuration_recorder(ConfigurationRecorder={
            "name": "default", "roleARN": role_arn,
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": region == regions[0]}})
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": trail_bucket})
        config.start_configuration_recorder(ConfigurationRecorderName="default")
        boto3.client("securityhub", region_name=region).enable_security_hub()
        made["region.services"] += 1
    return dict(made)


class _MotoWorld:
    """A moto server in its own process on loopback (so memory figures are Annexa's), env pointed at it."""

    def __init__(self) -> None:
        import socket
        import subprocess
        import urllib.request

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                          AWS_ENDPOINT_URL=self.url)
        _resolve_account_hosts()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _resolve_account_hosts() -> None:
    """S3 Control is addressed at `<account-id>.<endpoint host>`: resolve `<12 digits>.127.0.0.1` to
    loopback, as a hosts-file entry would, so moto serves the account-level public access block."""
    import re
    import socket

    pattern = re.compile(r"^\d{12}\.(127\.0\.0\.1)$")
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        match = pattern.match(host) if isinstance(host, str) else None
        return real(match.group(1) if match else host, *args, **kwargs)

    socket.getaddrinfo = resolve  # type: ignore[assignment]


def run_once(folder: Path, options: str) -> dict[str, Any]:
    """One pipeline run like `annexa run`: the AWS collector, the built-in rules, a SQLite store."""
    from agent.config import load_config
    from agent.rules.engine import RuleSet
    from agent.rules.loader import load_rules
    from agent.runner import Runner, select_sources
    from agent.store.store import EvidenceStore
    from collectors.aws import AwsCollector
    from collectors.registry import known_resource_types

    cfg = folder / "annexa.yaml"
    cfg.write_text(f"store:\n  url: sqlite:///{folder / 'annexa.db'}\n  evidence: {folder / 'evidence'}\n"
                   f"sources:\n  - name: aws-bench\n    type: aws\n{options}")
    from collectors.aws.models import LOADER

    parsed_before = sum(LOADER.parsed.values())
    tracemalloc.start()
    started = time.perf_counter()
    config = load_config(cfg)
    store = EvidenceStore.open(config.store_url, config.evidence_dir)
    rules = RuleSet(load_rules(known_types=set(known_resource_types())))
    result = Runner(config, store, rules).run(select_sources(config, None, None))
    wall = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    store.close()
    calls = AwsCollector.recorder.calls if AwsCollector.recorder else Counter()
    by_service: Counter[str] = Counter()
    for key, n in calls.items():
        by_service[key.split(":", 1)[0]] += n
    summary = result.sources["aws-bench"]
    return {"wall_seconds": round(wall, 2), "status": result.status, "api_calls": sum(calls.values()),
            "api_calls_by_service": dict(sorted(by_service.items())), "resources": summary.resources,
            "findings": dict(sorted(summary.findings.items())), "collection_errors": len(summary.errors),
            "errors": sorted({f"{e.resource_type}: {e.message[:160]}" for e in summary.errors}),
            "peak_traced_mb": round(peak / 2**20, 1),
            "model_files_parsed": sum(LOADER.parsed.values()) - parsed_before,
            "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs over the same store (default 1)")
    parser.add_argument("--copies", type=int, default=2, help="resources of each kind per Region (default 2)")
    parser.add_argument("--with-events", action="store_true", help="include CloudTrail LookupEvents (paced)")
    parser.add_argument("--all-services", action="store_true",
                        help="also Access Analyzer, which moto answers with HTTP 500 (retried, then error)")
    parser.add_argument("--max-attempts", type=int, default=2,
                        help="the source's max_attempts (default 2; unset, botocore's adaptive mode makes 8): moto "
                             "answers operations it lacks with errors that would be retried for about a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)

    world = _MotoWorld()
    fake = None
    try:
        seeded_at = time.perf_counter()
        made = seed(REGIONS, args.copies)
        seed_seconds = time.perf_counter() - seeded_at
        excluded = [] if args.all_services else ["accessanalyzer"]
        if args.with_events:
            from tests.collectors.aws.test_events import CloudTrailFake

            fake = CloudTrailFake(world.url)
            os.environ["AWS_ENDPOINT_URL_CLOUDTRAIL"] = fake.url
        else:
            excluded.append("events")
        options = (f"    regions: [{', '.join(REGIONS)}]\n    exclude_services: [{', '.join(excluded)}]\n"
                   f"    max_attempts: {args.max_attempts}\n")
        runs = []
        with tempfile.TemporaryDirectory(prefix="annexa-bench-") as tmp:
            for _ in range(args.repeat):
                runs.append(run_once(Path(tmp), options))
        report = {"regions": list(REGIONS), "seeded": made, "seed_seconds": round(seed_seconds, 2),
                  "cpus": os.cpu_count(), "with_events": args.with_events, "excluded_services": excluded,
                  "max_attempts": args.max_attempts,
                  "runs": runs}
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print(report)
    finally:
        if fake:
            fake.close()
        world.stop()
    return 0


def _print(report: dict[str, Any]) -> None:
    print(f"seeded {sum(report['seeded'].values())} resources in {report['seed_seconds']} s "
          f"({', '.join(report['regions'])}); {report['cpus']} CPUs; services excluded: "
          f"{', '.join(report['excluded_services']) or 'none'}; botocore max attempts {report['max_attempts']}")
    for i, run in enumerate(report["runs"], 1):
        print(f"run {i}: {run['wall_seconds']} s, status {run['status']}, {run['api_calls']} API calls, "
              f"{run['resources']} resources, findings {run['findings']}, collection errors "
              f"{run['collection_errors']}, peak traced {run['peak_traced_mb']} MB, max RSS {run['maxrss_mb']} MB, "
              f"{run['model_files_parsed']} botocore model files parsed")
        print("  calls by service: " + ", ".join(f"{k} {v}" for k, v in run["api_calls_by_service"].items()))
        for line in run["errors"]:
            print(f"  error: {line}")


if __name__ == "__main__":
    sys.exit(main())
