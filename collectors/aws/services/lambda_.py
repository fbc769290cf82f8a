"""Lambda: functions with their resource policies, function URLs and runtime deprecation date.

Secrets: environment variable VALUES are replaced by `redacted()` markers (keys are kept, so a
rule or an auditor can see that e.g. DB_PASSWORD is set). Function code and GetFunction's
pre-signed code URL are never fetched; GetFunctionConfiguration is refused by the read-only guard.

Added keys (besides ListFunctions' raw configuration):
- `Policies`: [{Qualifier: null | alias, Policy: parsed resource policy | null}] for the function and each alias;
- `FunctionUrlConfigs`: the function URL configs of the function and its aliases (GetFunctionUrlConfig);
- `RuntimeDeprecationDate`: the date AWS deprecates the runtime (from `RUNTIME_DEPRECATION`), null if unknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code, redacted
from collectors.aws.services import ServiceSpec
from collectors.aws.services.ec2 import plain

FUNCTION = "aws.lambda.function"
NOT_FOUND = "ResourceNotFoundException"

# Deprecation dates (phase 1: no more security patches) of Lambda-managed runtimes, as published in
# the AWS Lambda developer guide ("Lambda runtimes": supported and deprecated runtime tables).
# The rule compares the date with the run clock; a runtime absent from the table is not judged deprecated.
RUNTIME_DEPRECATION: dict[str, str] = {
    "nodejs": "2016-10-31", "nodejs4.3": "2020-03-05", "nodejs4.3-edge": "2019-04-30",
    "nodejs6.10": "2019-08-12", "nodejs8.10": "2020-03-06", "nodejs10.x": "2021-07-30",
    "nodejs12.x": "2023-03-31", "nodejs14.x": "2023-12-04", "nodejs16.x": "2024-06-12",
    "nodejs18.x": "2025-09-01", "nodejs20.x": "2026-04-30", "nodejs22.x": "2027-04-30",
    "nodejs24.x": "2028-04-30",
    "python2.7": "2021-07-15", "python3.6": "2022-07-18", "python3.7": "2023-12-04",
    "python3.8": "2024-10-14", "python3.9": "2025-12-15", "python3.10": "2026-06-30",
    "python3.11": "2026-06-30", "python3.12": "2028-10-31", "python3.13": "2029-06-30",
    "python3.14": "2029-06-30",
    "java8": "2024-01-08", "java8.al2": "2026-06-30", "java11": "2026-06-30", "java17": "2026-06-30",
    "java21": "2029-06-30", "java25": "2029-06-30",
    "dotnetcore1.0": "2019-07-30", "dotnetcore2.0": "2019-05-30", "dotnetcore2.1": "2022-01-05",
    "dotnetcore3.1": "2023-04-03", "dotnet5.0": "2022-05-10", "dotnet6": "2024-12-20", "dotnet7": "2024-05-14",
    "dotnet8": "2026-11-10", "dotnet10": "2028-11-14",
    "ruby2.5": "2021-07-30", "ruby2.7": "2023-12-07", "ruby3.2": "2026-03-31", "ruby3.3": "2027-03-31",
    "ruby3.4": "2028-03-31",
    "go1.x": "2024-01-08", "provided": "2024-01-08", "provided.al2": "2026-06-30",
    "provided.al2023": "2029-06-30",
}


def _not_found(exc: Exception) -> bool:
    return error_code(exc) == NOT_FOUND


def _policy(scope: AwsScope, name: str, qualifier: str | None) -> dict[str, Any] | None:
    params: dict[str, Any] = {"FunctionName": name}
    if qualifier:
        params["Qualifier"] = qualifier
    try:
        text = scope.call("lambda", "get_policy", **params).get("Policy")
    except CollectErrors as exc:
        if _not_found(exc):
            return None  # no resource policy: only the account's own principals can invoke it
        raise
    return json.loads(text) if text else None


def _url_config(scope: AwsScope, name: str, qualifier: str | None) -> dict[str, Any] | None:
    params: dict[str, Any] = {"FunctionName": name}
    if qualifier:
        params["Qualifier"] = qualifier
    try:
        config = dict(scope.call("lambda", "get_function_url_config", **params))
    except CollectErrors as exc:
        if _not_found(exc):
            return None
        raise
    config["Qualifier"] = qualifier
    return plain(config)


def _scrub(fn: dict[str, Any]) -> dict[str, Any]:
    data = plain(fn)
    env = data.get("Environment")
    if isinstance(env, dict) and isinstance(env.get("Variables"), dict):
        env["Variables"] = {k: redacted(v) for k, v in env["Variables"].items()}
    return data


def _function(scope: AwsScope, fn: dict[str, Any]) -> dict[str, Any]:
    """One function's evidence. Raises botocore errors for lookups that failed."""
    name = fn["FunctionName"]
    aliases = [a["Name"] for a in scope.paginate("lambda", "list_aliases", "Aliases", FunctionName=name)]
    data = _scrub(fn)
    data["Policies"] = [{"Qualifier": q, "Policy": _policy(scope, name, q)} for q in [None, *aliases]]
    data["FunctionUrlConfigs"] = [c for q in [None, *aliases] if (c := _url_config(scope, name, q))]
    data["RuntimeDeprecationDate"] = RUNTIME_DEPRECATION.get(fn.get("Runtime") or "")
    return data


def collect(scope: AwsScope) -> Iterator[Resource]:
    try:
        functions = list(scope.paginate("lambda", "list_functions", "Functions"))
    except CollectErrors as exc:
        scope.fail(FUNCTION, exc)
        return
    for fn in functions:
        try:
            data = _function(scope, fn)
        except CollectErrors as exc:
            if _not_found(exc):
                continue  # deleted between list and lookup
            scope.fail(FUNCTION, exc)
            continue
        except ValueError as exc:  # unparsable policy document
            scope.fail(FUNCTION, f"{fn['FunctionName']}: resource policy is not JSON: {exc}")
            continue
        yield scope.resource(FUNCTION, fn["FunctionArn"], fn["FunctionName"], data)


SERVICE = ServiceSpec(
    name="lambda",
    resource_types={FUNCTION: "a Lambda function (configuration with environment values redacted, resource "
                              "policies, function URLs, runtime deprecation date)"},
    collect=collect,
)
