"""A store with several runs of the test collector (status changes, a risk acceptance, an SoA exclusion,
collection errors, documents) and bundles exported from it, built once per module."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import tests.support.testkit  # noqa: F401  (registers the test collector in this process)
from agent.cli.app import App
from agent.cli.cmd_run import execute_run
from agent.export.bundle import ExportResult, export_bundle
from agent.export.history import Period
from agent.export.signing import write_keypair
from agent.manual import add_evidence, remove_evidence
from agent.soa import configured_soa
from agent.store.timeutil import utcnow
from tests.conftest import World, write_config

SOA = """controls:
  A.7.4: {applicable: false, justification: "No premises of our own <script>alert(1)</script>"}
  A.8.22: {applicable: false, justification: "One flat network; nothing to segregate"}
  A.8.24: {applicable: true, implementation: implemented, owner: CISO}
"""
EXCEPTIONS = """exceptions:
  - id: RA-7
    rule: testkit.widget.encrypted
    resource: w-exc
    justification: Legacy widget, replaced next quarter
    owner: alice@acme.com
    approved_by: ciso@acme.com
    expires: 2099-12-31
"""
HOSTILE_NAME = 'enc <img src=x onerror="alert(1)"> & co'
NOT_APPLICABLE = ("A.7.4", "A.8.22")


@dataclass
class History:
    folder: Path
    config: Path
    world: World
    marks: list[datetime]  # utcnow() after each run


def _widget(encrypted: bool, **extra: object) -> dict[str, object]:
    return {"encryption": {"enabled": encrypted}, **extra}


def make_history(folder: Path, store_url: str | None = None, runs: int = 3) -> History:
    """Three runs with changes between them, plus documents; returns the config path and timestamps."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "soa.yaml").write_text(SOA)
    (folder / "exceptions.yaml").write_text(EXCEPTIONS)
    world = World(folder / "world.json")
    config = write_config(folder, world, store_url, extra="soa: soa.yaml\nexceptions: exceptions.yaml\n")
    app = App(str(config))
    store = app.store()
    marks: list[datetime] = []
    try:
        world.add("testkit.widget", "w-enc", _widget(True, kind="server", rules=[]), name=HOSTILE_NAME,
                  region="r1", account="111")
        world.add("testkit.widget", "w-plain", _widget(False), region="r1", account="111")
        world.add("testkit.widget", "w-srv", _widget(True, kind="server", rules=[{"cidr": "0.0.0.0/0", "port": 22}]),
                  region="r1", account="111")
        world.add("testkit.widget", "w-exc", _widget(False), region="r1", account="111")
        world.add("testkit.widget", "w-gone", _widget(True), region="r1", account="111")
        execute_run(app, quiet=True, store=store)
        marks.append(utcnow())
        if runs >= 2:
            world.add("testkit.widget", "w-enc", _widget(True, kind="server", rules=[], tags={"v": 2}),
                      name=HOSTILE_NAME, region="r1", account="111")
            world.add("testkit.widget", "w-plain", _widget(True), region="r1", account="111")
            world.add("testkit.widget", "w-srv", _widget(True, kind="server", rules=[]), region="r1", account="111")
            execute_run(app, quiet=True, store=store)
            marks.append(utcnow())
        if runs >= 3:
            world.remove("w-gone")
            world.add("testkit.widget", "w-plain", _widget(False), region="r1", account="111")
            world.fail = [{"type": "testkit.widget", "message": "AccessDenied", "region": "r9"}]
            world.save()
            execute_run(app, quiet=True, store=store)
            marks.append(utcnow())
        docs = folder / "docs"
        docs.mkdir(exist_ok=True)
        (docs / "policy v1.pdf").write_bytes(b"%PDF-1.4 information security policy, version 1")
        add_evidence(store, "A.5.1", docs / "policy v1.pdf", note="<i>approved</i> by the board", uploaded_by="alice")
        (docs / "policy v1.pdf").write_bytes(b"%PDF-1.4 information security policy, version 1.1")
        add_evidence(store, "A.5.1", docs / "policy v1.pdf", uploaded_by="alice")
        (docs / "training <2026>.csv").write_text("name,completed\nalice,2026-01-10\n")
        add_evidence(store, "A.6.3", docs / "training <2026>.csv", valid_for=timedelta(days=365), uploaded_by="hr")
        (docs / "old.txt").write_text("long gone")
        old = add_evidence(store, "A.5.10", docs / "old.txt", uploaded_by="bob",
                           uploaded_at=utcnow() - timedelta(days=3 * 365))
        remove_evidence(store, old["id"], removed_by="bob", removed_at=utcnow() - timedelta(days=2 * 365))
        (docs / "expired.txt").write_text("checked once")
        add_evidence(store, "A.5.37", docs / "expired.txt", uploaded_by="bob", valid_for=timedelta(days=30),
                     uploaded_at=utcnow() - timedelta(days=300))
    finally:
        store.close()
    return History(folder=folder, config=config, world=world, marks=marks)


def export(history: History, out: Path, *, period: Period | None = None, controls: list[str] | None = None,
           key_path: Path | None = None) -> ExportResult:
    from agent.export.signing import load_private_key_file

    app = App(str(history.config))
    store = app.store()
    try:
        now = utcnow()
        return export_bundle(store=store, catalogue=app.catalogue, rules=app.active_rules(),
                             soa=configured_soa(app.config, app.catalogue), out=out,
                             period=period or Period(now - timedelta(days=365), now), controls=controls,
                             signing_key=load_private_key_file(key_path) if key_path else None)
    finally:
        store.close()


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return make_history(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    private = folder / "signing.pem"
    public = write_keypair(private)
    other = folder / "other.pem"
    other_public = write_keypair(other)
    return (private, public), (other, other_public)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def bundle(history: History, keys, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """The full bundle (all controls), signed."""
    out = tmp_path_factory.mktemp("bundle") / "audit.zip"
    export(history, out, key_path=keys[0][0])
    return out


def read(zip_path: Path, name: str) -> bytes:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.read(name)


def rewrite(src: Path, dst: Path, *, change: dict[str, bytes] | None = None, drop: set[str] | None = None,
            add: dict[str, bytes] | None = None, keep_comment: bool = True) -> Path:
    """Copy a zip entry by entry, changing, dropping or adding entries (what a tamperer would do)."""
    change, drop, add = change or {}, drop or set(), add or {}
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            zout.writestr(info, change.get(info.filename, zin.read(info)))
        for name, data in add.items():
            zout.writestr(name, data)
        if keep_comment:
            zout.comment = zin.comment
    dst.write_bytes(buf.getvalue())
    return dst


def flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)
