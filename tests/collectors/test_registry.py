"""The collector registry imports only the collector a run asks for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_get_collector_imports_only_its_own_entry_point() -> None:
    code = ("import sys; from collectors.registry import get_collector; c = get_collector('hr_csv'); "
            "print(c.type, sorted(m for m in ('collectors.aws', 'collectors.azure', 'collectors.gcp', "
            "'collectors.github', 'collectors.okta', 'boto3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "hr_csv []"


def test_unknown_type_is_an_error_and_registered_types_win() -> None:
    from collectors.registry import collector_types, get_collector

    with pytest.raises(KeyError):
        get_collector("no-such-collector")
    assert get_collector("aws") is collector_types()["aws"]
