"""The AWS API operations the collector calls, per botocore service name.

botocore builds each client from its service's whole model (EC2 alone has ~860 operations and
~4,600 shapes); a scan uses a few dozen operations in all. `collectors.aws.models` gives botocore
models cut down to the operations below, which makes clients cheaper to build and hold. An
operation missing here is missing from the client (AttributeError), so
`tests/collectors/aws/test_operations.py` checks this list against the calls in the service modules,
the calls of a full run, and the read-only IAM policy.
"""

from __future__ import annotations

OPERATIONS: dict[str, frozenset[str]] = {
    name: frozenset(ops.split()) for name, ops in {
        # fan-out: identity, member accounts, regions
        "sts": "GetCallerIdentity AssumeRole",
        "organizations": "ListAccounts",
        "accessanalyzer": "ListAnalyzers ListFindingsV2",
        "acm": "ListCertificates DescribeCertificate",
        "backup": "ListBackupPlans GetBackupPlan ListBackupSelections ListBackupVaults",
        "cloudtrail": "DescribeTrails GetEventSelectors GetTrailStatus LookupEvents",
        "config": "DescribeConfigurationRecorders DescribeConfigurationRecorderStatus DescribeDeliveryChannels",
        "ec2": "DescribeRegions DescribeFlowLogs DescribeImages DescribeInstances DescribeSecurityGroups "
               "DescribeSnapshotAttribute DescribeSnapshots DescribeVolumes DescribeVpcs GetEbsEncryptionByDefault",
        "ecr": "DescribeRepositories GetLifecyclePolicy GetRegistryScanningConfiguration",
        "eks": "ListClusters DescribeCluster",
        "elbv2": "DescribeLoadBalancers DescribeLoadBalancerAttributes DescribeListeners DescribeSSLPolicies",
        "guardduty": "ListDetectors GetDetector",
        "iam": "GetAccountAuthorizationDetails GetAccountPasswordPolicy GetAccountSummary GenerateCredentialReport "
               "GetCredentialReport ListUsers ListAccessKeys GetAccessKeyLastUsed GetLoginProfile ListMFADevices",
        "kms": "ListKeys DescribeKey GetKeyRotationStatus",
        "lambda": "ListFunctions ListAliases GetPolicy GetFunctionUrlConfig",
        "logs": "DescribeLogGroups",
        "rds": "DescribeDBInstances DescribeDBClusters DescribeDBSnapshots DescribeDBSnapshotAttributes "
               "DescribeDBClusterSnapshots DescribeDBClusterSnapshotAttributes",
        # HeadBucket: botocore's own S3 region redirector calls it (see INTERNAL)
        "s3": "ListBuckets GetBucketLocation GetBucketPolicyStatus GetPublicAccessBlock GetBucketPolicy GetBucketAcl "
              "GetBucketEncryption GetBucketVersioning GetBucketLogging GetObjectLockConfiguration "
              "GetBucketOwnershipControls HeadBucket",
        "s3control": "GetPublicAccessBlock",
        "secretsmanager": "ListSecrets",
        "securityhub": "DescribeHub GetEnabledStandards",
    }.items()
}

# Operations botocore itself may call on a client (never a collector): S3's region redirector
# asks HeadBucket where a bucket lives when a request was sent to the wrong Region.
INTERNAL: frozenset[tuple[str, str]] = frozenset({("s3", "HeadBucket")})
