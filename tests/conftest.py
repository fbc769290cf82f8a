"""Shared fixtures: a loopback-only network guard, a clean environment, stores on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import PostgresServer, postgres_available

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "tests" / "support"
LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"}

_real_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and str(name) not in LOOPBACK and not str(name).startswith("127."):
        raise OSError(f"test network guard: refused to resolve non-loopback host {name!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _network_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach a non-loopback host fails loudly (a forgotten endpoint override)."""
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No cloud credentials or Annexa settings leak in from the developer's environment."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "AZURE_", "GOOGLE_", "ANNEXA_", "GITHUB_", "OKTA_", "ARM_", "MSI_",
                           "IDENTITY_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("ANNEXA_PLUGINS", "tests.support.testkit")
    import tests.support.testkit  # noqa: F401  (registers the test collector in-process too)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server: $ANNEXA_TEST_PG_URL, or a throwaway cluster started on loopback."""
    url = os.environ.get("ANNEXA_TEST_PG_URL")
    if url:
        external = PostgresServer(url=url)
        try:
            yield external
        finally:
            external.stop()  # drops the databases the tests created there
        return
    reason = postgres_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(f"no PostgreSQL server here: {reason}")
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test against SQLite and against a fresh database on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'annexa.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.fresh_database()
    yield url
    server.drop_database(url)  # one test's database at a time, not hundreds held to the end


class World:
    """The test collector's world file: what the next run will 'see'."""

    def __init__(self, path: Path):
        self.path = path
        self.resources: list[dict[str, Any]] = []
        self.fail: list[dict[str, Any]] = []
        self.crash = False
        self.sleep = 0.0
        self.save()

    def add(self, type_: str, id_: str, data: dict[str, Any], **extra: Any) -> World:
        self.resources = [r for r in self.resources if r["id"] != id_]
        self.resources.append({"type": type_, "id": id_, "name": extra.pop("name", id_), "data": data, **extra})
        return self.save()

    def remove(self, id_: str) -> World:
        self.resources = [r for r in self.resources if r["id"] != id_]
        return self.save()

    def save(self) -> World:
        self.path.write_text(json.dumps({"resources": self.resources, "fail": self.fail, "crash": self.crash,
                                         "sleep": self.sleep}))
        return self


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "world.json")


def write_config(folder: Path, world: World, store_url: str | None = None, extra: str = "") -> Path:
    """An annexa.yaml for the test collector and the test rule pack."""
    url = store_url or f"sqlite:///{folder / 'annexa.db'}"
    text = (f"store:\n  url: {url}\n  evidence: {folder / 'evidence'}\n"
            f"rules:\n  paths: [{SUPPORT / 'rules'}]\n"
            f"sources:\n  - name: kit\n    type: testkit\n    world: {world.path}\n{extra}")
    path = folder / "annexa.yaml"
    path.write_text(text)
    return path
