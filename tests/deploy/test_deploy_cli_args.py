"""Every container command in the manifests and the chart is one the real `annexa` CLI accepts.

The arguments are parsed by the CLI itself (click, in process) with `--help` appended: an
unknown option or a misplaced global one (`annexa run --config X` instead of
`annexa --config X run`) exits 2 there, as it would in the pod.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from agent.cli import cli
from tests.deploy.deploy_paths import CHART, KUSTOMIZE
from tests.deploy.k8s import annexa_command, containers, load_docs
from tests.deploy.test_deploy_docker import DOCKERFILE, parse

KUSTOMIZE_FILES = sorted(p for p in KUSTOMIZE.rglob("*.yaml") if p.name != "kustomization.yaml")


def accepted(args: list[str]) -> tuple[bool, str]:
    concrete = [a.replace("$(JOB_COMPLETION_INDEX)", "0") for a in args]
    result = CliRunner().invoke(cli, [*concrete, "--help"])
    return result.exit_code == 0 and result.output.startswith("Usage:"), result.output


def check_all(docs: list[dict]) -> set[str]:
    seen = set()
    for where, container in containers(docs):
        if container["name"] != "annexa":  # the chart's PostgreSQL and its wait-for-store init container
            continue
        assert container.get("command") is None, f"{where}: keep the image's ENTRYPOINT (annexa)"
        ok, output = accepted(container["args"])
        assert ok, f"{where}: annexa {' '.join(container['args'])}\n{output}"
        seen.add(annexa_command(container["args"])[0])
    return seen


def test_the_check_rejects_a_misplaced_config_option() -> None:
    assert accepted(["--config", "/etc/annexa/annexa.yaml", "run"])[0]
    assert not accepted(["run", "--config", "/etc/annexa/annexa.yaml"])[0]
    assert not accepted(["--config", "/x", "metrics", "serve", "--lisen", "0.0.0.0:9464"])[0]


def test_kustomize_commands_are_valid() -> None:
    docs = [doc for path in KUSTOMIZE_FILES for doc in load_docs(path)]
    assert check_all(docs) == {"run", "metrics", "db", "verify"}


@pytest.mark.parametrize("values", [[], ["-f", str(CHART / "ci" / "all-features-values.yaml")]], ids=["default", "all"])
def test_helm_commands_are_valid(helm: str, values: list[str]) -> None:
    proc = subprocess.run([helm, "template", "rel", str(CHART), *values], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert check_all(load_docs(proc.stdout)) == {"run", "metrics", "db", "verify"}


def test_image_default_command_is_valid() -> None:
    runtime = parse(DOCKERFILE.read_text(encoding="utf-8"))[1][-1]
    assert json.loads(runtime.all("ENTRYPOINT")[-1]) == ["annexa"]
    assert accepted(json.loads(runtime.all("CMD")[-1]))[0]
