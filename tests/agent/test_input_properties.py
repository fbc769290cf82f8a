"""Property-based tests (hypothesis): hostile config, rule packs, SoA and exceptions files.

Whatever the bytes, loading either succeeds or raises one AnnexaError whose message is one line and
names the file; never another exception (RecursionError, TypeError, OverflowError...), never a hang.
The CLI-level properties (exit codes, stderr, nothing written) are in tests/agent/cli.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from agent.catalogue import load_catalogue
from agent.cli import one_line
from agent.config import load_config
from agent.errors import AnnexaError
from agent.exceptions import load_exceptions
from agent.rules.loader import load_rules
from agent.soa import load_soa
from collectors.registry import known_resource_types
from tests.support.hostile import CONFIG_DOCS, EXCEPTION_DOCS, RULE_DOCS, SOA_DOCS, as_file_bytes

PROPERTY = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
CATALOGUE = load_catalogue()
KNOWN_TYPES = set(known_resource_types()) | {"testkit.widget", "testkit.person", "testkit.account"}


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="annexa-props-") as name:
        yield Path(name)


def check_load(folder: Path, name: str, data: bytes, load: Callable[[Path], Any]) -> Any:
    """Write `data` as `name` in `folder`, load it: a result or one clean AnnexaError naming the file."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    try:
        return load(path)
    except AnnexaError as exc:
        message = str(exc)
        assert str(path) in message or path.name in message, message
        assert "\n" not in one_line(message) and len(one_line(message)) <= 1000
        assert "Traceback" not in message
        return exc


@PROPERTY
@given(data=as_file_bytes(CONFIG_DOCS))
def test_any_config_file_loads_or_is_one_clean_error(folder: Path, data: bytes) -> None:
    result = check_load(folder, "annexa.yaml", data, lambda p: load_config(p))
    if not isinstance(result, AnnexaError):
        assert result.path == folder / "annexa.yaml"


@PROPERTY
@given(data=as_file_bytes(SOA_DOCS))
def test_any_soa_file_loads_or_is_one_clean_error(folder: Path, data: bytes) -> None:
    result = check_load(folder, "soa.yaml", data, lambda p: load_soa(p, CATALOGUE))
    if not isinstance(result, AnnexaError):
        assert list(result) == [c.id for c in CATALOGUE.controls]


@PROPERTY
@given(data=as_file_bytes(EXCEPTION_DOCS))
def test_any_exceptions_file_loads_or_is_one_clean_error(folder: Path, data: bytes) -> None:
    rules = ["testkit.widget.encrypted", "testkit.account.leaver_removed"]
    result = check_load(folder, "exceptions.yaml", data, lambda p: load_exceptions(p, rules))
    if not isinstance(result, AnnexaError):
        assert all(ex.expires.tzinfo is not None for ex in result)


@PROPERTY
@given(data=as_file_bytes(RULE_DOCS))
def test_any_rule_pack_loads_or_is_one_clean_error(folder: Path, data: bytes) -> None:
    result = check_load(folder, "pack/rules.yaml", data,
                        lambda p: load_rules([p], builtin=False, known_types=KNOWN_TYPES))
    if not isinstance(result, AnnexaError):
        assert all(r.controls and all(c.startswith("A.") for c in r.controls) for r in result)
