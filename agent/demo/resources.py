"""Acme's workloads: a realistic mix of well-configured and neglected resources in each account.

- management: the security tooling account. Strong password policy, organisation-wide multi-region
  CloudTrail, Config, GuardDuty and Security Hub in the home region, mostly tidy IAM users.
- production: the payments platform. Mostly good (encrypted RDS, scanned ECR, rotated secrets) with a
  few classic gaps: a public upload bucket, SSH open to the world, an unencrypted legacy database.
- development: a sandbox nobody owns. No password policy, no detection services, old runtimes.
"""

from __future__ import annotations

import io
import json
import zipfile
from functools import partial
from typing import Any

from agent.demo.identity import seed_users, user_enables_mfa
from agent.demo.world import DemoAccount, World

EU, US = "eu-west-1", "us-east-1"
AMI = "ami-0a1b2c3d4e5f67890"


# -- storage ---------------------------------------------------------------------------------------
def _bucket(world: World, acct: DemoAccount, name: str, region: str, *, encrypted: bool = True,
            versioned: bool = False, block_public: bool = True, public_read: bool = False,
            tls_only: bool = False, statements: list[dict[str, Any]] | None = None) -> None:
    s3 = acct.client("s3", region)

    def create() -> None:
        params: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**params)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "owner", "Value": "platform"}]})

    if world.attempt("s3.bucket", name, create) is None:
        return
    if encrypted:
        world.attempt("s3.encryption", name, lambda: s3.put_bucket_encryption(
            Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]}))
    if versioned:
        world.attempt("s3.versioning", name, lambda: s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": "Enabled"}))
    if block_public:
        world.attempt("s3.public_access_block", name, lambda: s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=_all_blocked()))
    policy = list(statements or [])
    if public_read:
        policy.append({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{name}/*"})
    if tls_only:
        policy.append({"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                       "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    if policy:
        document = json.dumps({"Version": "2012-10-17", "Statement": policy})
        world.attempt("s3.policy", name, lambda: s3.put_bucket_policy(Bucket=name, Policy=document))


def _all_blocked() -> dict[str, bool]:
    return {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True}


def _trail_statements(bucket: str, account_id: str) -> list[dict[str, Any]]:
    return [
        {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{account_id}/*"}]


# -- security services -----------------------------------------------------------------------------
def _kms_key(world: World, acct: DemoAccount, region: str, alias: str, *, rotate: bool) -> str | None:
    kms = acct.client("kms", region)
    key = world.attempt("kms.key", alias, lambda: kms.create_key(
        Description=f"{alias.removeprefix('alias/')} data key", Tags=[{"TagKey": "owner", "TagValue": "platform"}]))
    if key is None:
        return None
    key_id = key["KeyMetadata"]["KeyId"]
    world.attempt("kms.alias", alias, lambda: kms.create_alias(AliasName=alias, TargetKeyId=key_id))
    if rotate:
        world.attempt("kms.rotation", alias, lambda: kms.enable_key_rotation(KeyId=key_id))
    return str(key["KeyMetadata"]["Arn"])


def _guardduty(world: World, acct: DemoAccount) -> None:
    """GuardDuty in every region (organisations usually switch it on everywhere at once)."""
    def enable(region: str) -> None:
        acct.client("guardduty", region).create_detector(Enable=True, FindingPublishingFrequency="FIFTEEN_MINUTES")

    for region in world.regions:
        world.attempt("guardduty.detector", f"{acct.name}/{region}", partial(enable, region))


def _detection(world: World, acct: DemoAccount, region: str, *, config_bucket: str | None) -> None:
    """Security Hub, IAM Access Analyzer and an AWS Config recorder in one region."""
    world.attempt("securityhub.hub", f"{acct.name}/{region}", lambda: acct.client("securityhub", region)
                  .enable_security_hub(EnableDefaultStandards=True))
    world.attempt("accessanalyzer.analyzer", f"{acct.name}/{region}", lambda: acct.client("accessanalyzer", region)
                  .create_analyzer(analyzerName="acme-account-analyzer", type="ACCOUNT"))
    if config_bucket is None:
        return
    config = acct.client("config", region)
    role = f"arn:aws:iam::{acct.id}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"

    def recorder() -> None:
        config.put_configuration_recorder(ConfigurationRecorder={
            "name": "default", "roleARN": role,
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}})
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": config_bucket})
        config.start_configuration_recorder(ConfigurationRecorderName="default")

    world.attempt("config.recorder", f"{acct.name}/{region}", recorder)


def _trail(world: World, acct: DemoAccount, region: str, name: str, bucket: str, *, multi_region: bool,
           validation: bool, log_group_arn: str | None = None) -> None:
    ct = acct.client("cloudtrail", region)

    def create() -> None:
        params: dict[str, Any] = {"Name": name, "S3BucketName": bucket, "IsMultiRegionTrail": multi_region,
                                  "EnableLogFileValidation": validation, "IncludeGlobalServiceEvents": True}
        if log_group_arn:
            params["CloudWatchLogsLogGroupArn"] = log_group_arn
            params["CloudWatchLogsRoleArn"] = f"arn:aws:iam::{acct.id}:role/cloudtrail-to-cloudwatch"
        ct.create_trail(**params)
        ct.start_logging(Name=name)

    world.attempt("cloudtrail.trail", name, create)


def _log_group(world: World, acct: DemoAccount, region: str, name: str, retention: int | None) -> str | None:
    logs = acct.client("logs", region)
    if world.attempt("logs.log_group", name, lambda: logs.create_log_group(logGroupName=name)) is None:
        return None
    if retention:
        world.attempt("logs.retention", name, lambda: logs.put_retention_policy(
            logGroupName=name, retentionInDays=retention))
    return f"arn:aws:logs:{region}:{acct.id}:log-group:{name}:*"


# -- compute and network ---------------------------------------------------------------------------
def _network(world: World, acct: DemoAccount, region: str, *, ssh_open: bool, ebs_default: bool,
             flow_logs_bucket: str | None = None) -> dict[str, Any]:
    """Security groups, volumes and one instance in the region's default VPC."""
    ec2 = acct.client("ec2", region)
    found = world.attempt("ec2.vpc", f"{acct.name}/{region}", lambda: ec2.describe_vpcs(
        Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"])
    if found is None:
        return {}
    vpc: str = found
    subnets = world.attempt("ec2.subnets", f"{acct.name}/{region}", lambda: [
        s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]) or []
    out: dict[str, Any] = {"vpc": vpc, "subnets": subnets}

    def group(name: str, description: str, rules: list[dict[str, Any]]) -> str | None:
        sg = world.attempt("ec2.security_group", name, lambda: ec2.create_security_group(
            GroupName=name, Description=description, VpcId=vpc)["GroupId"])
        if sg and rules:
            world.attempt("ec2.ingress", name, lambda: ec2.authorize_security_group_ingress(
                GroupId=sg, IpPermissions=rules))
        return sg

    https = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    out["web_sg"] = group("public-web-alb", "HTTPS from the internet to the load balancer", https)
    ssh_cidr = "0.0.0.0/0" if ssh_open else "10.20.0.0/16"
    out["ssh_sg"] = group("bastion-ssh", "SSH to the bastion host", [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": ssh_cidr, "Description": "ops access"}]}])
    if ebs_default:
        world.attempt("ec2.ebs_default_encryption", f"{acct.name}/{region}", ec2.enable_ebs_encryption_by_default)
    az = f"{region}a"
    world.attempt("ec2.volume", f"{acct.name}/{region}/data", lambda: ec2.create_volume(
        AvailabilityZone=az, Size=100, VolumeType="gp3", Encrypted=True,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "app-data"}]}]))
    world.attempt("ec2.volume", f"{acct.name}/{region}/scratch", lambda: ec2.create_volume(
        AvailabilityZone=az, Size=50, VolumeType="gp2", Encrypted=False,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "legacy-scratch"}]}]))
    if out["ssh_sg"]:
        world.attempt("ec2.instance", f"{acct.name}/{region}/bastion", lambda: ec2.run_instances(
            ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1, SecurityGroupIds=[out["ssh_sg"]],
            MetadataOptions={"HttpTokens": "required" if not ssh_open else "optional"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "bastion"}]}]))
    if flow_logs_bucket:
        world.attempt("ec2.flow_logs", f"{acct.name}/{region}", lambda: ec2.create_flow_logs(
            ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="s3",
            LogDestination=f"arn:aws:s3:::{flow_logs_bucket}"))
    return out


def _lambda(world: World, acct: DemoAccount, region: str, name: str, runtime: str) -> None:
    iam, fn = acct.client("iam"), acct.client("lambda", region)
    role = f"{name}-execution"
    world.attempt("iam.role", role, lambda: iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]})))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {'ok': True}\n")
    world.attempt("lambda.function", name, lambda: fn.create_function(
        FunctionName=name, Runtime=runtime, Role=f"arn:aws:iam::{acct.id}:role/{role}", Handler="handler.handler",
        Code={"ZipFile": buf.getvalue()}, Timeout=30, Environment={"Variables": {"STAGE": acct.key}},
        TracingConfig={"Mode": "Active" if acct.key == "production" else "PassThrough"}))


def _database(world: World, acct: DemoAccount, region: str, name: str, *, encrypted: bool, public: bool,
              retention: int, multi_az: bool) -> None:
    rds = acct.client("rds", region)
    world.attempt("rds.instance", name, lambda: rds.create_db_instance(
        DBInstanceIdentifier=name, Engine="postgres", EngineVersion="15.4", DBInstanceClass="db.t3.medium",
        AllocatedStorage=50, MasterUsername="app_admin", MasterUserPassword="demo-only-not-a-secret",
        StorageEncrypted=encrypted, PubliclyAccessible=public, BackupRetentionPeriod=retention, MultiAZ=multi_az,
        DeletionProtection=encrypted, AutoMinorVersionUpgrade=encrypted))


def _registry(world: World, acct: DemoAccount, region: str, name: str, *, hardened: bool) -> None:
    ecr = acct.client("ecr", region)
    created = world.attempt("ecr.repository", name, lambda: ecr.create_repository(
        repositoryName=name, imageTagMutability="IMMUTABLE" if hardened else "MUTABLE",
        imageScanningConfiguration={"scanOnPush": hardened}))
    expire_untagged = {"rules": [{"rulePriority": 1, "description": "expire untagged images after 14 days",
                                  "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                                "countUnit": "days", "countNumber": 14},
                                  "action": {"type": "expire"}}]}
    if created:
        world.attempt("ecr.lifecycle_policy", name, lambda: ecr.put_lifecycle_policy(
            repositoryName=name, lifecyclePolicyText=json.dumps(expire_untagged)))


def _secret(world: World, acct: DemoAccount, region: str, name: str, *, rotated: bool) -> None:
    sm = acct.client("secretsmanager", region)
    created = world.attempt("secretsmanager.secret", name, lambda: sm.create_secret(
        Name=name, SecretString="simulated-value-for-the-demo", Description=f"{name} credentials"))
    if created and rotated:
        world.attempt("secretsmanager.rotation", name, lambda: sm.rotate_secret(
            SecretId=name, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False))


def _backup(world: World, acct: DemoAccount, region: str) -> None:
    backup = acct.client("backup", region)
    world.attempt("backup.vault", "acme-prod-vault",
                  lambda: backup.create_backup_vault(BackupVaultName="acme-prod-vault"))
    world.attempt("backup.plan", "daily-35d", lambda: backup.create_backup_plan(BackupPlan={
        "BackupPlanName": "daily-35d", "Rules": [{
            "RuleName": "daily", "TargetBackupVaultName": "acme-prod-vault", "ScheduleExpression": "cron(0 3 * * ? *)",
            "Lifecycle": {"DeleteAfterDays": 35}}]}))


# -- accounts --------------------------------------------------------------------------------------
def seed_management(world: World) -> None:
    acct = world.management
    seed_users(world, acct, password_policy=True)
    trail_bucket = "acme-org-cloudtrail"
    _bucket(world, acct, trail_bucket, EU, versioned=True, tls_only=True,
            statements=_trail_statements(trail_bucket, acct.id))
    _bucket(world, acct, "acme-config-history", EU, versioned=True, tls_only=True)
    _bucket(world, acct, "acme-security-reports", US, encrypted=False)
    group = _log_group(world, acct, EU, "/acme/cloudtrail/organization", 365)
    _trail(world, acct, EU, "acme-org-trail", trail_bucket, multi_region=True, validation=True, log_group_arn=group)
    _guardduty(world, acct)
    _detection(world, acct, EU, config_bucket="acme-config-history")
    _kms_key(world, acct, EU, "alias/acme-audit-logs", rotate=True)
    world.attempt("s3control.public_access_block", acct.name, lambda: acct.client("s3control", EU)
                  .put_public_access_block(AccountId=acct.id, PublicAccessBlockConfiguration=_all_blocked()))
    world.attempt("events.rule", "guardduty-findings-to-security", lambda: acct.client("events", EU).put_rule(
        Name="guardduty-findings-to-security", State="ENABLED",
        EventPattern=json.dumps({"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"]})))


def seed_production(world: World) -> None:
    acct = world.account("production")
    seed_users(world, acct, password_policy=False)
    _bucket(world, acct, "acme-prod-logs", EU, versioned=True, tls_only=True)
    _bucket(world, acct, "acme-prod-backups", EU, versioned=True, tls_only=True)
    _bucket(world, acct, "acme-prod-customer-uploads", EU, block_public=False, public_read=True)
    _bucket(world, acct, "acme-prod-static-site", US, block_public=False, encrypted=False)
    _trail(world, acct, US, "payments-audit", "acme-prod-logs", multi_region=False, validation=False)
    _guardduty(world, acct)
    for region in world.regions:
        _detection(world, acct, region, config_bucket="acme-prod-logs" if region == EU else None)
    _kms_key(world, acct, EU, "alias/payments-db", rotate=True)
    _kms_key(world, acct, EU, "alias/customer-uploads", rotate=False)
    _log_group(world, acct, EU, "/aws/lambda/payments-api", 90)
    _log_group(world, acct, EU, "/acme/payments/legacy-batch", 30)
    net = _network(world, acct, EU, ssh_open=True, ebs_default=True, flow_logs_bucket="acme-prod-logs")
    _network(world, acct, US, ssh_open=False, ebs_default=False)
    _database(world, acct, EU, "payments-db", encrypted=True, public=False, retention=14, multi_az=True)
    _database(world, acct, EU, "legacy-reporting-db", encrypted=False, public=True, retention=0, multi_az=False)
    _lambda(world, acct, EU, "payments-api", "python3.12")
    _lambda(world, acct, EU, "invoice-pdf-renderer", "python3.7")
    _registry(world, acct, EU, "payments-api", hardened=True)
    _registry(world, acct, EU, "legacy-cron", hardened=False)
    _secret(world, acct, EU, "payments/db-credentials", rotated=True)
    _secret(world, acct, EU, "partners/stripe-webhook", rotated=False)
    _backup(world, acct, EU)
    from agent.demo.edge import seed_edge

    seed_edge(world, acct, EU, net)


def seed_development(world: World) -> None:
    acct = world.account("development")
    seed_users(world, acct, password_policy=False)
    _bucket(world, acct, "acme-dev-scratch", US, encrypted=False, block_public=False)
    _bucket(world, acct, "acme-dev-terraform-state", US, versioned=True, tls_only=True)
    _guardduty(world, acct)
    _kms_key(world, acct, US, "alias/dev-sandbox", rotate=False)
    _log_group(world, acct, US, "/aws/lambda/dev-experiments", 7)
    _network(world, acct, US, ssh_open=True, ebs_default=False)
    _lambda(world, acct, US, "dev-experiments", "nodejs14.x")
    _registry(world, acct, US, "sandbox-images", hardened=False)
    _secret(world, acct, US, "dev/db-password", rotated=False)


def fix_findings(world: World) -> list[str]:
    """Between runs: two fixes a platform team would make after reading the first report."""
    prod, mgmt = world.account("production"), world.management
    done: list[str] = []
    s3 = prod.client("s3", EU)
    if world.attempt("fix", "block public access", lambda: (
            s3.delete_bucket_policy(Bucket="acme-prod-customer-uploads"),
            s3.put_public_access_block(Bucket="acme-prod-customer-uploads",
                                       PublicAccessBlockConfiguration=_all_blocked()))) is not None:
        done.append("blocked public access to s3://acme-prod-customer-uploads (production)")
    if world.attempt("fix", "bob enables MFA", lambda: user_enables_mfa(mgmt, "bob@acme.example")) is not None:
        done.append("bob@acme.example enabled MFA (management)")
    world.changes.extend(done)
    return done
