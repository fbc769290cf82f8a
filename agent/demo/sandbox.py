"""Keep the demo offline: an in-process AWS simulator (moto), dummy credentials, no name resolution.

While the sandbox is active the process environment has no real AWS settings (credentials, profiles,
endpoint overrides, config files), moto answers every AWS API call in-process (no server, no port),
and any attempt to resolve a host name fails at once with a clear message. Everything is restored on
exit, so the demo can run inside a longer-lived process (tests) without leaking state.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agent.errors import AnnexaError

INSTALL_HINT = ("annexa demo needs moto, the offline AWS simulator: install it with "
                "pip install 'annexa[demo]' (from a checkout: pip install -e \".[demo]\")")

# Settings from the user's environment that would send boto3 elsewhere or change moto's mode.
SCRUB_PREFIXES = ("AWS_", "MOTO_")
SCRUB_NAMES = ("TEST_SERVER_MODE", "TEST_PROXY_MODE")

DEMO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


class DemoUnavailable(AnnexaError):
    """The demo cannot run in this installation (moto missing)."""


def require_moto() -> None:
    """Fail with one line telling how to install moto when it is missing."""
    try:
        import moto  # noqa: F401
    except ImportError:
        raise DemoUnavailable(INSTALL_HINT) from None


class OfflineError(OSError):
    """Raised instead of a DNS lookup while the demo runs."""


_real_getaddrinfo = socket.getaddrinfo
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _refuse_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Only loopback resolves (the simulated SaaS tenants listen there); every other name is refused."""
    name = host.decode() if isinstance(host, bytes) else host
    if name in LOOPBACK:
        return _real_getaddrinfo(host, *args, **kwargs)
    raise OfflineError(f"annexa demo is offline: refused to look up {name!r}")


@contextmanager
def offline_env() -> Iterator[None]:
    """Replace AWS/moto settings in os.environ by the demo's for the duration of the block."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(SCRUB_PREFIXES) or k in SCRUB_NAMES}
    for key in saved:
        del os.environ[key]
    os.environ.update(DEMO_ENV)
    try:
        yield
    finally:
        for key in list(os.environ):
            if key.startswith(SCRUB_PREFIXES) or key in SCRUB_NAMES:
                del os.environ[key]
        os.environ.update(saved)


@contextmanager
def no_network() -> Iterator[None]:
    """Refuse every host-name lookup: a request that escaped the simulator fails instead of leaving."""
    real = socket.getaddrinfo
    socket.getaddrinfo = _refuse_lookup  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real  # type: ignore[assignment]


@contextmanager
def lean_iam() -> Iterator[None]:
    """Speed: moto builds an IAM backend for every partition of every account it sees (aws, aws-cn,
    aws-us-gov, …), and each parses ~1,300 AWS-managed policies (~0.25 s). The demo lives in the `aws`
    partition only, so the other partitions get no managed policies. Restored on exit.
    """
    try:
        from moto.iam.models import IAMBackend

        original = IAMBackend._init_aws_policies
    except (ImportError, AttributeError):  # a moto version without this hook: just slower
        yield
        return

    def init_aws_policies(self: Any) -> Any:
        return original(self) if getattr(self, "region_name", "aws") == "aws" else []

    IAMBackend._init_aws_policies = init_aws_policies  # type: ignore[method-assign]
    try:
        yield
    finally:
        IAMBackend._init_aws_policies = original  # type: ignore[method-assign]


@contextmanager
def shared_service_models() -> Iterator[None]:
    """Speed: every boto3 session normally parses the API models it uses from disk on its own (~50 ms
    per service). The demo creates a session per account per run, so all sessions share one botocore
    loader (exactly what one session already does for its clients). Restored on exit.
    """
    from botocore import session as botocore_session
    from botocore.loaders import create_loader

    original = botocore_session.Session._register_data_loader
    loader = create_loader()

    def register(self: Any) -> None:
        self._components.register_component("data_loader", loader)

    botocore_session.Session._register_data_loader = register  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore_session.Session._register_data_loader = original  # type: ignore[method-assign]


@contextmanager
def simulated_aws() -> Iterator[None]:
    """The whole sandbox: scrubbed environment, moto in-process, no network. Needs moto installed."""
    require_moto()
    with offline_env(), lean_iam(), shared_service_models(), no_network():
        from moto import mock_aws
        from moto.core.models import MockAWS

        mock = mock_aws()
        if type(mock) is not MockAWS:
            # moto was imported earlier with TEST_SERVER_MODE/TEST_PROXY_MODE: that mode talks to a server.
            raise DemoUnavailable("annexa demo needs moto in in-process mode; unset TEST_SERVER_MODE and "
                                  "TEST_PROXY_MODE and run it again")
        mock.start(reset=True)
        try:
            yield
        finally:
            # remove_data=False: wiping re-initialises every simulated backend (seconds of work for nothing
            # at the end of the command); the next simulator start in this process resets anyway.
            mock.stop(remove_data=False)
