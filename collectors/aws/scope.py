"""What a service collector works on: one account in one region (or globally), with helpers.

Service modules never touch boto3 sessions directly: they ask the scope for a client, page with
`paginate`, and turn failures into `error` results with `fail`. Identical calls within a run are
served from a cache, so no API call is made twice.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from agent.model import Resource
from collectors.aws.session import AccountSession


def describe_error(exc: Exception) -> str:
    """A one-line reason from a botocore error (code + message), without request ids or secrets."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        op = getattr(exc, "operation_name", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = err.get("Code") or (f"HTTP {status}" if status else "Error")
        message = _readable(err.get("Message") or "") or "no error message in the response"
        return f"{op}: {code}: {message}".strip()
    return f"{type(exc).__name__}: {exc}"


def _readable(text: str, limit: int = 300) -> str:
    """One line of text from an error message, even when a proxy or emulator answered with HTML."""
    if "<" in text and ">" in text:
        text = re.sub(r"(?is)<(script|style|title)[^>]*>.*?</\1>", " ", text)
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def redacted(value: Any) -> dict[str, Any]:
    """Replace a secret-bearing value by a marker that says only that a value was there.

    No hash of the value is kept: an unkeyed hash of a short password can be guessed offline
    from the evidence, and auditors need to know a secret exists, not whether it changed.
    """
    return {"redacted": True, "present": value not in (None, "", b"")}


@dataclass
class RunCache:
    """Per-run memo of API responses keyed by (account, region, service, operation, params)."""

    values: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    inflight: dict[str, threading.Event] = field(default_factory=dict)


class AwsScope:
    def __init__(self, account: AccountSession, region: str | None, partition: str, cache: RunCache,
                 report: Any, home_region: str, *, cursor: Any = None, options: Any = None):
        self.cursor = cursor  # the source's durable cursor (collectors.base.Cursor)
        self.options = options  # the source's AwsOptions
        self.account = account
        self.account_id = account.account_id
        self.region = region
        self.partition = partition
        self.cache = cache
        self._report = report
        self.home_region = home_region
        self._held: dict[tuple[str, str, int | None], tuple[Any, Any]] = {}
        self._held_lock = threading.Lock()

    # -- clients and calls -----------------------------------------------------------------
    def client(self, service: str, region: str | None = None, *, max_attempts: int | None = None) -> Any:
        """The account's client for (service, region), held by this scope until `close()`."""
        wanted = (service, region or self.region or self.home_region, max_attempts)
        with self._held_lock:
            held = self._held.get(wanted)
            if held is None:
                held = self._held[wanted] = self.account.acquire(wanted[0], wanted[1], max_attempts=max_attempts)
        return held[1]

    def close(self) -> None:
        """Release this scope's clients (the last holder of a client frees it)."""
        with self._held_lock:
            held, self._held = list(self._held.values()), {}
        for key, _ in held:
            self.account.release(key)

    def call(self, service: str, operation: str, *, region: str | None = None, **params: Any) -> Any:
        """One API call (snake_case operation), memoised for the run. Raises botocore errors."""
        key = json.dumps([self.account_id, region or self.region, service, operation, params], sort_keys=True,
                         default=str)
        with self.cache.lock:
            if key in self.cache.values:
                return self.cache.values[key]
            event = self.cache.inflight.get(key)
            owner = event is None
            if owner:
                event = self.cache.inflight[key] = threading.Event()
        if not owner:
            assert event is not None
            event.wait()
            with self.cache.lock:
                if key in self.cache.values:
                    return self.cache.values[key]
            return self.call(service, operation, region=region, **params)
        try:
            result = getattr(self.client(service, region), operation)(**params)
            result.pop("ResponseMetadata", None)
            with self.cache.lock:
                self.cache.values[key] = result
            return result
        finally:
            with self.cache.lock:
                self.cache.inflight.pop(key, None)
            event.set()  # type: ignore[union-attr]

    def paginate(self, service: str, operation: str, result_key: str, *, region: str | None = None,
                 **params: Any) -> Iterator[Any]:
        """Items under `result_key` across all pages (botocore paginator)."""
        paginator = self.client(service, region).get_paginator(operation)
        for page in paginator.paginate(**params):
            yield from page.get(result_key, []) or []

    # -- results ---------------------------------------------------------------------------
    def fail(self, resource_type: str, exc: Exception | str) -> None:
        """`resource_type` could not be (fully) collected in this scope: its rules become `error`."""
        message = exc if isinstance(exc, str) else describe_error(exc)
        self._report(resource_type, message, account=self.account_id, region=self.region)

    def resource(self, type_: str, arn: str, name: str, data: dict[str, Any], *, region: str | None = None
                 ) -> Resource:
        return Resource(type=type_, id=arn, name=name, data=data, account=self.account_id,
                        region=region if region is not None else self.region)

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        reg = self.region if region is None else region
        acct = self.account_id if account is None else account
        return f"arn:{self.partition}:{service}:{reg or ''}:{acct}:{resource}"


CollectErrors = (ClientError, BotoCoreError)
