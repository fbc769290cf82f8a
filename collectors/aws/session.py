"""boto3 sessions for each account: the default credential chain, or AssumeRole into members.

Every session gets the read-only guard, an API-call recorder and adaptive retries. A client is
created once per (account, region, service) when a task first needs it, shared by the tasks that
hold it, and released (connections closed, memory freed) when the last of them is done.

Service models are what makes a boto3 client heavy: every session of the process shares one
loader (`collectors.aws.models`) that serves models cut to the operations the collector calls and
forgets a service's models when its last client is released.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from collectors.aws import guard, models

if TYPE_CHECKING:  # boto3 itself is imported when a session is made: listing collectors stays cheap
    import boto3
    import botocore.session


def BotoConfig(**kwargs: Any) -> Any:  # botocore's Config class, imported on first use
    from botocore.config import Config

    return Config(**kwargs)

RETRY_CONFIG = {"mode": "adaptive", "max_attempts": 8}
ClientKey = tuple[str, str | None, int | None]  # (service, region, max_attempts)


class CallRecorder:
    """Counts API calls by `service:Operation` (for the bench and the IAM policy coverage test)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **_: Any) -> None:
        service = model.service_model.service_id.hyphenize() if model is not None else "?"
        prefix = model.service_model.signing_name if model is not None else service
        with self._lock:
            self.calls[f"{prefix}:{model.name if model is not None else '?'}"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class _NoLifetime:
    def hold(self, service: str) -> None:
        return None

    def release(self, service: str) -> None:
        return None


_NO_LIFETIME = _NoLifetime()


class AccountSession:
    """One account's boto3 session and its cached clients."""

    def __init__(self, session: boto3.Session, account_id: str, recorder: CallRecorder, *, max_pool: int = 20,
                 max_attempts: int | None = None):
        self.session = session
        self.account_id = account_id
        self._clients: dict[ClientKey, Any] = {}
        self._holders: Counter[ClientKey] = Counter()
        self._lock = threading.Lock()
        retries = {**RETRY_CONFIG, **({"max_attempts": max_attempts} if max_attempts else {})}
        self._config = BotoConfig(retries=retries, max_pool_connections=max_pool,
                                  connect_timeout=10, read_timeout=60, user_agent_extra="annexa")
        loader = session._session.get_component("data_loader")
        # hold/release only when the session uses the shared trimming loader (tests pass plain sessions)
        self._loader = loader if isinstance(loader, models.ModelLoader) else _NO_LIFETIME
        guard.install(session)
        session.events.register("before-call.*.*", recorder, unique_id="annexa-call-recorder")

    def client(self, service: str, region: str | None, *, max_attempts: int | None = None) -> Any:
        """A cached client kept for the run (fan-out calls: STS, Organizations, DescribeRegions).
        `max_attempts` is the total number of attempts (1 = no botocore retries, for callers that
        pace and retry themselves, like CloudTrail LookupEvents)."""
        key = (service, region, max_attempts)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._new(key)
            return self._clients[key]

    def acquire(self, service: str, region: str | None, *, max_attempts: int | None = None
                ) -> tuple[ClientKey, Any]:
        """The shared client of (service, region), held until `release(key)`."""
        key = (service, region, max_attempts)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._new(key)
            self._holders[key] += 1
            return key, self._clients[key]

    def release(self, key: ClientKey) -> None:
        """Drop one hold; the last holder closes the client and frees it."""
        with self._lock:
            self._holders[key] -= 1
            if self._holders[key] > 0:
                return
            del self._holders[key]
            client = self._clients.pop(key, None)
        if client is not None:
            client.close()
            self._loader.release(key[0])

    @property
    def open_clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def _new(self, key: ClientKey) -> Any:
        service, region, max_attempts = key
        config = self._config
        if max_attempts is not None:
            config = config.merge(BotoConfig(retries={"mode": "standard", "total_max_attempts": max_attempts}))
        self._loader.hold(service)
        try:
            return self.session.client(service, region_name=region, config=config)
        except BaseException:
            self._loader.release(service)
            raise


def _botocore_session() -> botocore.session.Session:
    import botocore.session

    session = botocore.session.Session()
    session.register_component("data_loader", models.LOADER)
    return session


def base_session(region: str | None = None) -> boto3.Session:
    """The default credential chain (env, profile, SSO, IRSA); AWS_ENDPOINT_URL is honoured by botocore."""
    import boto3

    return boto3.Session(botocore_session=_botocore_session(), region_name=region or "us-east-1")


def assume_role_session(base: boto3.Session, account_id: str, role_name: str, external_id: str | None,
                        partition: str = "aws", region: str = "us-east-1") -> boto3.Session:
    guard.install(base)
    sts = base.client("sts", region_name=region, config=BotoConfig(retries=dict(RETRY_CONFIG)))
    params: dict[str, Any] = {"RoleArn": f"arn:{partition}:iam::{account_id}:role/{role_name}",
                              "RoleSessionName": "annexa-readonly", "DurationSeconds": 3600}
    if external_id:
        params["ExternalId"] = external_id
    creds = sts.assume_role(**params)["Credentials"]
    import boto3

    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=region,
                         botocore_session=_botocore_session())
