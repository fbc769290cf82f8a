"""The built wheel carries its data: installed into a fresh environment and run from an unrelated folder."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    return next(out.glob("annexa-*.whl"))


def test_wheel_contains_rules_mappings_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mappings/controls.yaml" in names and "mappings/iso27001_2013.yaml" in names
    assert any(n.startswith("rules/aws/") and n.endswith(".yaml") for n in names)
    assert "agent/store/migrations/versions/0001_initial.py" in names
    assert "agent/store/migrations/script.py.mako" in names
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "annexa = agent.cli:main" in text and "aws = collectors.aws:AwsCollector" in text


def test_installed_wheel_works_from_an_unrelated_folder(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([str(python), "-c", "import agent, rules, mappings; print(agent.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert str(env_dir) in where.stdout, "the wheel's own copy must be imported, not the source tree"
    rules = subprocess.run([str(env_dir / "bin" / "annexa"), "rules", "list", "--format", "json"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, timeout=120)
    assert rules.returncode == 0, rules.stderr
    assert sum(1 for r in json.loads(rules.stdout) if r["provider"] == "aws") >= 1
    controls = subprocess.run([str(env_dir / "bin" / "annexa"), "controls", "--format", "json"], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=120)
    assert controls.returncode == 0, controls.stderr
    assert len(json.loads(controls.stdout)) == 93
