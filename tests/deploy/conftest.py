"""Fixtures of the deploy test suite: tool lookup and a shared, real Prometheus.

The external tools come from scripts/install-deploy-tools.sh; a test that needs a missing one
is skipped, saying so. Everything else runs on the files alone. The loopback-only network guard is tests/conftest.py's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.deploy.deploy_paths import FIXTURES, REPO
from tests.deploy.prometheus_server import PrometheusServer, StaticExporter

INSTALL_HINT = "run scripts/install-deploy-tools.sh"


def find_tool(name: str) -> str | None:
    """A tool from the repo's .tools/bin (helm, kubectl: scripts/install-deploy-tools.sh), or PATH."""
    local = REPO / ".tools" / "bin" / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def require_tool(name: str) -> str:
    """The tool's path; skips the test when it is absent, but fails in CI (CI=true), where
    scripts/install-deploy-tools.sh must have run: a skipped check there would hide a gap."""
    path = find_tool(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI: {INSTALL_HINT} in .ci/run")
        pytest.skip(f"{name} is not installed: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def helm() -> str:
    return require_tool("helm")


@pytest.fixture(scope="session")
def kubectl() -> str:
    return require_tool("kubectl")


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_tool("amtool")


@pytest.fixture(scope="session")
def kubernetes_validate() -> str:
    return require_tool("kubernetes-validate")


@pytest.fixture(scope="session")
def prometheus_with_data() -> Iterator[PrometheusServer]:
    """A real Prometheus that has scraped tests/deploy/fixtures/annexa-metrics.prom twice."""
    binary = require_tool("prometheus")
    exposition = (FIXTURES / "annexa-metrics.prom").read_text(encoding="utf-8")
    with (
        StaticExporter(exposition) as exporter,
        PrometheusServer([exporter.target], scrape_interval="1s", binary=binary) as prom,
    ):
        prom.wait_for_scrapes(2)
        yield prom
