"""Account-wide IAM evidence: password policy, account summary, credential report, root user.

Used by `iam.py`; not a service module of its own.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

from agent.model import Resource
from collectors.aws.scope import AwsScope, CollectErrors, error_code
from collectors.aws.services.policy_docs import plain

PASSWORD_POLICY = "aws.iam.password_policy"
ROOT = "aws.iam.root_account"
ROOT_ROW = "<root_account>"
REPORT_WAIT_SECONDS = 120.0
# GetCredentialReport codes meaning "ask again": still being built, or (re)generation needed.
REPORT_RETRY = {"ReportInProgress": False, "ReportNotPresent": True, "ReportExpired": True}


class CredentialReportTimeout(RuntimeError):
    """IAM did not finish the credential report within the bounded wait."""


def password_policy(scope: AwsScope) -> Iterator[Resource]:
    """One resource per account; `PasswordPolicy: null` when the account has no policy (NoSuchEntity)."""
    try:
        policy: dict[str, Any] | None = scope.call("iam", "get_account_password_policy")["PasswordPolicy"]
    except CollectErrors as exc:
        if error_code(exc) != "NoSuchEntity":
            scope.fail(PASSWORD_POLICY, exc)
            return
        policy = None
    arn = f"arn:{scope.partition}:iam::{scope.account_id}:account-password-policy"
    yield scope.resource(PASSWORD_POLICY, arn, f"password policy of {scope.account_id}",
                         {"PasswordPolicy": plain(policy)})


def account_summary(scope: AwsScope) -> dict[str, Any]:
    """GetAccountSummary's SummaryMap (AccountMFAEnabled, AccountAccessKeysPresent, counts, quotas)."""
    return dict(scope.call("iam", "get_account_summary")["SummaryMap"])


def parse_report(content: bytes | str) -> list[dict[str, str]]:
    """The credential report CSV as one dict per row, values kept as IAM writes them
    ("true"/"false", ISO 8601 times, "N/A", "no_information", "not_supported")."""
    text = content.decode("utf-8") if isinstance(content, bytes | bytearray) else content
    return [dict(row) for row in csv.DictReader(io.StringIO(text))]


def credential_report(scope: AwsScope, wait: float = REPORT_WAIT_SECONDS) -> dict[str, Any]:
    """Generate (if needed) and fetch the credential report, waiting at most `wait` seconds.

    IAM reuses a report younger than four hours, so this is usually one Generate and one Get.
    Returns {"GeneratedTime": ..., "Rows": [...]}; raises botocore errors or CredentialReportTimeout.
    """
    client = scope.client("iam")
    deadline = time.monotonic() + wait
    delay = 0.25
    client.generate_credential_report()
    while True:
        try:
            response = client.get_credential_report()
            break
        except CollectErrors as exc:
            code = error_code(exc)
            if code not in REPORT_RETRY:
                raise
            if time.monotonic() + delay > deadline:
                raise CredentialReportTimeout(f"credential report not ready after {wait:.0f} s ({code})") from exc
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            if REPORT_RETRY[code]:
                client.generate_credential_report()
    return {"GeneratedTime": plain(response.get("GeneratedTime")), "Rows": parse_report(response["Content"])}


def root_account(scope: AwsScope, summary: dict[str, Any] | None, report: dict[str, Any] | None
                 ) -> Iterator[Resource]:
    """The root user: its credential-report row plus the live account summary flags.

    Needs both lookups; when either failed (already reported) or the report has no root row, the
    type is failed for the account instead of yielding half the evidence.
    """
    if summary is None or report is None:
        return
    row = next((r for r in report["Rows"] if r.get("user") == ROOT_ROW), None)
    if row is None:
        scope.fail(ROOT, f"the credential report has no {ROOT_ROW} row (root user usage cannot be judged)")
        return
    arn = row.get("arn") or f"arn:{scope.partition}:iam::{scope.account_id}:root"
    data = {"CredentialReport": row, "CredentialReportGeneratedTime": report["GeneratedTime"],
            "AccountSummary": summary}
    yield scope.resource(ROOT, arn, f"root user of {scope.account_id}", data)
