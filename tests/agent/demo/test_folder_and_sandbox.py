"""The demo's safety rails: it only ever clears a folder it wrote, it restores the environment, it
refuses DNS while running, and without moto it stops with one line saying how to install it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from agent.demo import folder as demo_folder
from agent.demo.sandbox import INSTALL_HINT, no_network, offline_env

ANNEXA = shutil.which("annexa") or "annexa"


def test_prepare_creates_a_marked_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "demo"
    demo_folder.prepare(target)
    assert (target / demo_folder.MARKER).is_file()


def test_prepare_clears_only_a_previous_demo(tmp_path: Path) -> None:
    demo_folder.prepare(tmp_path / "d")
    (tmp_path / "d" / "annexa.db").write_text("old store")
    (tmp_path / "d" / "evidence" / "ab").mkdir(parents=True)
    demo_folder.prepare(tmp_path / "d")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [demo_folder.MARKER]


def test_prepare_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "annexa.yaml").write_text("store: {url: 'postgresql+psycopg://prod/annexa'}\n")
    (tmp_path / "annexa.db").write_text("someone's real store")
    with pytest.raises(demo_folder.NotADemoFolder, match="not an annexa demo folder"):
        demo_folder.prepare(tmp_path)
    assert (tmp_path / "annexa.db").read_text() == "someone's real store"


def test_prepare_refuses_a_demo_folder_with_foreign_files(tmp_path: Path) -> None:
    demo_folder.prepare(tmp_path / "d")
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(demo_folder.NotADemoFolder, match=r"notes\.txt"):
        demo_folder.prepare(tmp_path / "d")
    assert (tmp_path / "d" / "notes.txt").exists()


def test_prepare_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(demo_folder.NotADemoFolder, match="not a folder"):
        demo_folder.prepare(tmp_path / "f")


def test_offline_env_scrubs_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_PROFILE", "production-admin")
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111111111111")
    with offline_env():
        assert "AWS_ENDPOINT_URL" not in os.environ and "AWS_PROFILE" not in os.environ
        assert "MOTO_ACCOUNT_ID" not in os.environ
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        assert os.environ["AWS_CONFIG_FILE"] == os.devnull
        assert os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] == "true"
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert os.environ["AWS_PROFILE"] == "production-admin"
    assert "AWS_ACCESS_KEY_ID" not in os.environ


def test_no_network_refuses_lookups_and_restores() -> None:
    before = socket.getaddrinfo
    with no_network(), pytest.raises(OSError, match="offline"):
        socket.create_connection(("sts.amazonaws.com", 443), timeout=1)
    assert socket.getaddrinfo is before


def test_soa_written_by_the_demo_is_valid() -> None:
    from agent.catalogue import load_catalogue
    from agent.soa import parse_soa_text

    text = demo_folder.soa_text()
    assert text is not None
    soa = parse_soa_text(text, "soa.yaml", load_catalogue())
    excluded = {cid for cid, entry in soa.items() if not entry.applicable}
    assert excluded == set(demo_folder.NOT_APPLICABLE)
    assert all(soa[cid].justification for cid in excluded)
    assert soa["A.5.1"].owner == "CISO"


def test_without_moto_one_line_and_exit_2(tmp_path: Path) -> None:
    """A package named `moto` that fails to import stands in for a missing installation."""
    fake = tmp_path / "site" / "moto"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named moto')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANNEXA_"))}
    env["PYTHONPATH"] = str(tmp_path / "site")
    proc = subprocess.run([ANNEXA, "demo", "--dir", str(tmp_path / "demo")], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"annexa: error: {INSTALL_HINT}"]
    assert not (tmp_path / "demo").exists()


class _Tenant:
    """A simulated tenant for the provider mechanism: a testkit source reading a world file."""

    source = "demo-widgets"
    title = "Widget tenant (testkit)"

    def __init__(self) -> None:
        self.events: list[str] = []
        self.folder: Path | None = None

    def start(self, folder: Path, today: object) -> None:
        folder.mkdir(parents=True)
        (folder / "world.json").write_text('{"resources": []}', encoding="utf-8")
        self.folder = folder
        self.events.append("start")

    def source_yaml(self) -> str:
        return f"- name: {self.source}\n  type: testkit\n  world: {self.folder / 'world.json'}\n  token_env: DEMO_T\n"

    def env(self) -> dict[str, str]:
        return {"DEMO_T": "dummy"}

    def apply_fixes(self) -> list[str]:
        return ["widget fixed"]

    def stop(self) -> None:
        self.events.append("stop")


def test_simulated_tenants_join_the_demo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from agent.config import load_config
    from agent.demo import folder as demo_folder
    from agent.demo import providers
    from agent.demo.runner import _simulated_tenants

    tenant = _Tenant()
    monkeypatch.setattr(providers, "discover", lambda: [tenant])
    monkeypatch.delenv("DEMO_T", raising=False)
    demo_folder.prepare(tmp_path / "d")
    with _simulated_tenants(tmp_path / "d", None) as started:
        assert os.environ["DEMO_T"] == "dummy" and "127.0.0.1" in os.environ["NO_PROXY"]
        path = demo_folder.write_config(tmp_path / "d", "demo-aws", ["eu-west-1"],
                                        extra_sources=[t.source_yaml() for t in started])
        config = load_config(path)
    assert [s.name for s in config.sources] == ["demo-aws", "demo-widgets"]
    assert config.source("demo-widgets").token_env == "DEMO_T"
    assert tenant.events == ["start", "stop"] and "DEMO_T" not in os.environ
    assert (tmp_path / "d" / "sources" / "demo-widgets" / "world.json").exists()
    demo_folder.prepare(tmp_path / "d")  # the sources folder is the demo's own: a re-run clears it


def test_sandbox_resolves_loopback_only() -> None:
    from agent.demo.sandbox import OfflineError, no_network

    with no_network():
        assert socket.getaddrinfo("127.0.0.1", 80)
        with pytest.raises(OfflineError):
            socket.getaddrinfo("example.com", 443)


def test_prepare_clears_the_stores_own_lock_and_journal_files(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    demo_folder.prepare(folder)
    for name in ("annexa.db", "annexa.db-wal", "annexa.db-shm", "annexa.db.migrate.lock", "annexa.db.demo-aws.lock",
                 "annexa.db.run.lock", "sources.lock", ".annexa-demo-export.zip.k3j2.partial"):
        (folder / name).write_text("x")
    demo_folder.prepare(folder)
    assert sorted(p.name for p in folder.iterdir()) == [demo_folder.MARKER]


def test_prepare_still_refuses_look_alikes_it_did_not_write(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    demo_folder.prepare(folder)
    (folder / "annexa.db.lock").mkdir()  # a folder where the demo only writes files
    with pytest.raises(demo_folder.NotADemoFolder, match=r"annexa\.db\.lock"):
        demo_folder.prepare(folder)
    (folder / "annexa.db.lock").rmdir()
    (folder / "secrets.lock").symlink_to(tmp_path)
    with pytest.raises(demo_folder.NotADemoFolder, match=r"secrets\.lock"):
        demo_folder.prepare(folder)
    assert (folder / "secrets.lock").is_symlink()
