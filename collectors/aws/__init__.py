"""The AWS collector: accounts x regions x services, concurrently, read-only.

Fan-out (which accounts, which regions) is separate from fetching (one service in one scope).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from agent.confignames import check_service_list
from agent.model import Resource
from collectors.aws import memory
from collectors.aws.scope import AwsScope, RunCache, describe_error
from collectors.aws.services import ServiceSpec, all_services, resource_types
from collectors.aws.session import AccountSession, CallRecorder, assume_role_session, base_session
from collectors.base import Collector, CollectorOptions

ACCOUNT_ID_LEN = 12
# Regional services that also yield an account-level resource (region None) from the home Region,
# e.g. CloudTrail's per-account coverage summary. Such a resource belongs to the account's global
# shard unit (agent.sharding), so the shard owning that unit reads these services in the home Region too.
HOME_REGION_ACCOUNT_LEVEL = frozenset({"cloudtrail"})


class AwsOptions(CollectorOptions):
    regions: list[str] | Literal["all"] | None = None
    accounts: Literal["current", "organization"] | list[str] = "current"
    role_name: str = "AnnexaReadOnly"
    external_id: str | None = None
    max_workers: int = Field(default=16, ge=1, le=64)
    services: list[str] | None = None
    exclude_services: list[str] = Field(default_factory=list)
    events_lookback_days: int = Field(default=90, ge=1, le=90)
    max_attempts: int | None = Field(default=None, ge=1, le=20, description="botocore adaptive retry attempts")

    @field_validator("services", "exclude_services")
    @classmethod
    def _known_services(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        from collectors.aws.services import MODULES

        names = (module.rstrip("_") for module in MODULES)  # module `lambda_` reads service `lambda`
        return check_service_list(value, names, allow_empty=info.field_name == "exclude_services")

    @field_validator("accounts", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        """Account ids are 12-digit strings; YAML reads unquoted ids as numbers (losing leading zeros)."""
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            text = str(item).zfill(ACCOUNT_ID_LEN) if isinstance(item, int) and not isinstance(item, bool) else item
            if not (isinstance(text, str) and text.isdigit() and len(text) == ACCOUNT_ID_LEN):
                raise ValueError(f"account ids are 12 digits (got {item!r})")
            out.append(text)
        return out


class AwsCollector(Collector):
    type = "aws"
    resource_types: ClassVar[dict[str, str]] = resource_types()
    Options = AwsOptions

    recorder: CallRecorder | None = None  # last run's API-call counts (bench, policy coverage test)
    partitioned: ClassVar[bool] = True  # `--shard K/N` splits accounts x regions (agent.sharding)

    @classmethod
    def shard_unit(cls, resource_type: str, account: str | None, region: str | None,
                   resource_id: str | None = None) -> tuple[str | None, str | None]:
        """Regional types belong to (account, region); global services and the account to (account, None)."""
        return account, None if region is None or resource_type in global_types() else region

    def collect(self) -> Iterator[Resource]:
        opts: AwsOptions = self.ctx.options
        memory.tune()  # one malloc arena for the worker threads (glibc)
        recorder = CallRecorder()
        type(self).recorder = recorder
        out: queue.Queue[Any] = queue.Queue(maxsize=2000)
        done = object()

        def work() -> None:
            try:
                self._fan_out(opts, recorder, out)
            except Exception as exc:  # no credentials at all, STS unreachable: every type is an error
                for rtype in self.resource_types:
                    self.ctx.report_error(rtype, describe_error(exc))
            finally:
                out.put(done)

        threading.Thread(target=work, daemon=True, name=f"aws-{self.ctx.name}").start()
        while True:
            item = out.get()
            if item is done:
                return
            yield item

    # -- fan-out ---------------------------------------------------------------------------
    def _fan_out(self, opts: AwsOptions, recorder: CallRecorder, out: queue.Queue[Any]) -> None:
        base = base_session()
        home = AccountSession(base, "", recorder, max_attempts=opts.max_attempts)
        identity = home.client("sts", "us-east-1").get_caller_identity()
        current = identity["Account"]
        partition = identity["Arn"].split(":")[1]
        home.account_id = current
        cache = RunCache()
        regions = self._regions(opts, home)
        accounts = self._accounts(opts, home, current, partition, recorder, out, regions)
        owns = self.ctx.owns_unit or (lambda account, region: True)
        home_region = regions[0] if regions else "us-east-1"
        services = [s for s in all_services()
                    if (opts.services is None or s.name in opts.services) and s.name not in opts.exclude_services]
        # One lane per (account, service), each running up to `concurrency` tasks side by side: a
        # worker never sits blocked waiting for a busy service while other services have work.
        lanes: dict[tuple[str, str], list[tuple[AccountSession, str | None, ServiceSpec]]] = {}
        for account in accounts:
            for spec in services:
                for region in ([None] if spec.global_ else regions):
                    if not (owns(account.account_id, region) or (
                            region == home_region and spec.name in HOME_REGION_ACCOUNT_LEVEL
                            and owns(account.account_id, None))):
                        continue  # another shard's unit
                    lanes.setdefault((account.account_id, spec.name), []).append((account, region, spec))
        total = sum(len(tasks) for tasks in lanes.values())
        self.ctx.progress.update(f"{len(accounts)} accounts x {len(regions)} regions, {total} tasks")

        def run_task(account: AccountSession, region: str | None, spec: ServiceSpec) -> None:
            scope = AwsScope(account, region, partition, cache, self.ctx.report_error,
                             home_region=home_region,
                             cursor=self.ctx.cursor, options=opts)
            try:
                for resource in spec.collect(scope):
                    out.put(resource)
            except Exception as exc:  # a bug or unexpected failure in one service: only its types fail
                self.ctx.logger.exception("aws service %s failed", spec.name)
                for rtype in spec.resource_types:
                    scope.fail(rtype, exc)
            finally:
                scope.close()

        def run_lane(tasks: list[tuple[AccountSession, str | None, ServiceSpec]]) -> None:
            while True:
                try:
                    task = tasks.pop()
                except IndexError:
                    return
                run_task(*task)

        if not lanes:
            return
        jobs = [tasks for tasks in lanes.values()
                for _ in range(min(tasks[0][2].concurrency, len(tasks)))]
        with ThreadPoolExecutor(max_workers=opts.max_workers, thread_name_prefix="aws") as pool:
            for future in [pool.submit(run_lane, tasks) for tasks in jobs]:
                future.result()

    def _accounts(self, opts: AwsOptions, home: AccountSession, current: str, partition: str,
                  recorder: CallRecorder, out: queue.Queue[Any], regions: list[str]) -> list[AccountSession]:
        if opts.accounts == "current":
            out.put(Resource("aws.account", f"arn:{partition}:organizations::{current}:account/{current}", current,
                             {"Id": current, "Source": "sts"}, account=current))
            return [home]
        if opts.accounts == "organization":
            listed = []
            try:
                paginator = home.client("organizations", "us-east-1").get_paginator("list_accounts")
                for page in paginator.paginate():
                    listed.extend(page.get("Accounts", []))
            except Exception as exc:
                self.ctx.report_error("aws.account", describe_error(exc), account=current)
                return [home]
            for acct in listed:
                out.put(Resource("aws.account", acct.get("Arn") or f"arn:{partition}:organizations::{current}:"
                                 f"account/{acct['Id']}", acct.get("Name") or acct["Id"], acct, account=acct["Id"]))
            # `State` (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED) replaces the deprecated `Status`.
            wanted = [a["Id"] for a in listed if (a.get("State") or a.get("Status") or "ACTIVE") == "ACTIVE"]
        else:
            wanted = list(opts.accounts)
        if self.ctx.owns_unit is not None:  # a shard assumes roles only where it owns a unit
            owns = self.ctx.owns_unit
            wanted = [a for a in wanted if owns(a, None) or any(owns(a, r) for r in regions)]
        sessions: list[AccountSession] = []
        for account_id in wanted:
            if account_id == current:
                sessions.append(home)
                continue
            try:
                session = assume_role_session(home.session, account_id, opts.role_name, opts.external_id, partition)
            except Exception as exc:
                message = f"cannot assume {opts.role_name} in {account_id}: {describe_error(exc)}"
                for rtype in self.resource_types:
                    if rtype != "aws.account":
                        self.ctx.report_error(rtype, message, account=account_id)
                continue
            sessions.append(AccountSession(session, account_id, recorder, max_attempts=opts.max_attempts))
        return sessions

    def _regions(self, opts: AwsOptions, home: AccountSession) -> list[str]:
        if opts.regions == "all":
            resp = home.client("ec2", "us-east-1").describe_regions(
                Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required", "opted-in"]}])
            return sorted(r["RegionName"] for r in resp["Regions"])
        if opts.regions:
            return list(opts.regions)
        return [home.session.region_name or "us-east-1"]


@functools.cache
def global_types() -> frozenset[str]:
    """Resource types collected once per account (not per region): the global services' and the account."""
    return frozenset({"aws.account"} | {t for s in all_services() if s.global_ for t in s.resource_types})
