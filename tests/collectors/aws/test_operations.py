"""collectors.aws.operations lists every operation the collector calls; the trimmed models hold exactly those.

A call missing from the list would fail at run time (the trimmed client has no such method), so the
list is checked against the calls written in the service modules, the read-only IAM policy and
botocore's full models. `test_policy_coverage` also checks every call a full run records.
"""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import botocore.session
import pytest

from collectors.aws import models
from collectors.aws.operations import INTERNAL, OPERATIONS
from collectors.aws.services import s3
from collectors.aws.session import AccountSession, CallRecorder, base_session
from tests.collectors.aws.conftest import ACCOUNT
from tests.collectors.aws.test_policy_coverage import (
    CALLER_POLICY,
    NEEDS_NO_PERMISSION,
    POLICY,
    allowed_actions,
    iam_actions,
    is_allowed,
)

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*(ROOT / "collectors" / "aws" / "services").glob("*.py"), ROOT / "collectors" / "aws" / "__init__.py",
           ROOT / "collectors" / "aws" / "session.py"]
FULL = botocore.session.get_session()  # botocore's own loader: the full models


def _py_to_op(service: str) -> dict[str, str]:
    from botocore import xform_name

    return {xform_name(op): op for op in FULL.get_service_model(service).operation_names}


def written_calls() -> set[tuple[str, str]]:
    """(service, Operation) of the calls spelled out in the collector's source."""
    out: set[tuple[str, str]] = set()
    literal = re.compile(r"scope\.(?:call|paginate)\(\s*\"([a-z0-9-]+)\",\s*\"([a-z0-9_]+)\"")
    direct = re.compile(r"(?:scope|home|self)\.client\(\"([a-z0-9-]+)\"[^)]*\)\.([a-z_0-9]+)\(")
    paginator = re.compile(r"client\(\"([a-z0-9-]+)\"[^)]*\)\.get_paginator\(\"([a-z_0-9]+)\"")
    for path in SOURCES:
        text = path.read_text()
        found = literal.findall(text) + direct.findall(text) + paginator.findall(text)
        out |= {(svc, _py_to_op(svc)[method]) for svc, method in found if method != "get_paginator"}
    # operations named in data rather than in a call
    out |= {("s3", _py_to_op("s3")[operation]) for _, operation, _, _ in s3.LOOKUPS}
    for snake in ("db", "db_cluster"):
        out |= {("rds", _py_to_op("rds")[f"describe_{snake}_snapshots"]),
                ("rds", _py_to_op("rds")[f"describe_{snake}_snapshot_attributes"])}
    out |= {("iam", "GenerateCredentialReport"), ("iam", "GetCredentialReport"), ("cloudtrail", "LookupEvents"),
            ("sts", "AssumeRole")}
    return out


def test_every_written_call_is_listed() -> None:
    calls = written_calls()
    assert len(calls) >= 60
    missing = sorted(f"{svc}:{op}" for svc, op in calls if op not in OPERATIONS.get(svc, ()))
    assert not missing, "add to collectors/aws/operations.py: " + ", ".join(missing)
    unused = sorted(f"{svc}:{op}" for svc, ops in OPERATIONS.items() for op in ops
                    if (svc, op) not in calls and (svc, op) not in INTERNAL)
    assert not unused, "listed but never called: " + ", ".join(unused)


def test_listed_operations_exist_and_are_allowed_by_the_policy() -> None:
    patterns = allowed_actions(POLICY) + allowed_actions(CALLER_POLICY)
    for service, ops in OPERATIONS.items():
        model = FULL.get_service_model(service)
        assert ops <= set(model.operation_names), (service, ops - set(model.operation_names))
        for op in ops:
            call = f"{model.signing_name}:{op}"
            if (service, op) in INTERNAL or call in NEEDS_NO_PERMISSION:
                continue
            assert all(is_allowed(a, patterns) for a in iam_actions(call)), f"{call} not in the IAM policy"


def test_trimmed_clients_have_only_the_listed_operations(aws: str) -> None:
    boto3.client("ec2", region_name="us-east-1").create_volume(AvailabilityZone="us-east-1a", Size=8)
    ec2 = base_session().client("ec2", region_name="us-east-1")
    assert set(ec2.meta.service_model.operation_names) == OPERATIONS["ec2"]
    assert len(ec2.meta.service_model.shape_names) < 400  # of ~4,600 in the full model
    volumes = [v for page in ec2.get_paginator("describe_volumes").paginate() for v in page["Volumes"]]
    assert len(volumes) == 1 and volumes[0]["Size"] == 8
    assert not hasattr(ec2, "delete_volume") and not hasattr(ec2, "run_instances")
    with pytest.raises(KeyError):
        ec2.get_paginator("describe_addresses")  # not an operation of this client at all
    full = boto3.client("ec2", region_name="us-east-1")
    assert len(full.meta.service_model.operation_names) > 500


def test_models_are_dropped_with_the_last_client_and_read_once(aws: str) -> None:
    loader = models.ModelLoader()
    session = boto3.Session(botocore_session=_with(loader), region_name="us-east-1")
    account = AccountSession(session, ACCOUNT, CallRecorder())
    first, c1 = account.acquire("kms", "us-east-1")
    second, _ = account.acquire("kms", "eu-west-1")
    assert loader.parsed["kms"] == 2  # service-2 and endpoint rules, once for both clients
    assert c1.list_keys()["Keys"] == []
    account.release(first)
    assert "kms" in loader.cached_services  # the eu-west-1 client still holds them
    account.release(second)
    assert "kms" not in loader.cached_services
    third, c3 = account.acquire("kms", "us-east-1")
    assert c3.list_keys()["Keys"] == [] and loader.parsed["kms"] == 4
    account.release(third)
    assert loader.cached_services == set()


def _with(loader: models.ModelLoader) -> botocore.session.Session:
    session = botocore.session.Session()
    session.register_component("data_loader", loader)
    return session


def test_unlisted_services_get_the_full_model() -> None:
    session = boto3.Session(botocore_session=_with(models.ModelLoader()), region_name="us-east-1")
    sqs = session.client("sqs")
    assert "SendMessage" in sqs.meta.service_model.operation_names
    assert sqs.meta.service_model.operation_model("SendMessage").documentation == ""
