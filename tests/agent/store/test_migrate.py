"""Schema migrations: idempotent, and safe when several processes start on an empty database."""

from __future__ import annotations

import threading
from pathlib import Path

from agent.store import migrate
from agent.store.engine import make_engine


def test_concurrent_first_start_creates_the_schema_once(store_url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    engines = [make_engine(store_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))

    def start(engine) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            migrate.upgrade(engine)
        except BaseException as exc:  # pragma: no cover - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert migrate.current_revision(engines[0]) == migrate.head_revision()
    assert migrate.upgrade(engines[0])[0] == migrate.head_revision()


def test_0001_store_upgrades_and_is_then_fully_covered(store_url: str, tmp_path: Path) -> None:
    """A store written by the 0001 schema (intervals updated in place, v1 manifests) is re-hashed by 0002
    and sealed by a `migration` chain entry: it verifies, and any later edit of an old row is caught."""
    from alembic import command
    from sqlalchemy import select, text, update

    from agent.model import content_hash
    from agent.store.schema import findings, runs
    from agent.store.store import EvidenceStore
    from agent.store.verify import verify_store

    engine = make_engine(store_url)
    cfg = migrate._alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    t1, t2 = "2026-11-01 10:00:00", "2026-11-02 10:00:00"
    manifest = {"kind": "annexa.run-manifest/v1", "run_id": 1, "seq": 1, "status": "complete", "prev_hash": None}
    digest = content_hash(manifest)
    with engine.begin() as conn:
        for run_id, at in ((1, t1), (2, t2)):
            m = {**manifest, "run_id": run_id, "seq": run_id, "prev_hash": None if run_id == 1 else digest}
            h = content_hash(m)
            conn.execute(text("INSERT INTO runs (seq, started_at, finished_at, status, sources, tool_version, "
                              "manifest, prev_hash, hash) VALUES (:seq, :at, :at, 'complete', '[\"kit\"]', "
                              "'0.1', :m, :p, :h)"),
                         {"id": run_id, "seq": run_id, "at": at, "m": __import__("json").dumps(m),
                          "p": m["prev_hash"], "h": h})
            conn.execute(text("INSERT INTO run_sources (run_id, source, source_type, status, started_at, "
                              "finished_at, resources, findings, errors) VALUES (:id, 'kit', 'testkit', "
                              "'complete', :at, :at, 1, 2, '[]')"), {"id": run_id, "at": at})
            digest = h
        for key, status, is_open, last in (("k1", "pass", True, 2), ("k2", "fail", False, 1)):
            conn.execute(text(
                "INSERT INTO findings (key, source, rule_id, resource_id, resource_type, resource_name, status, "
                "severity, controls, title, message, first_seen, last_seen, first_run, last_run, open, row_hash) "
                "VALUES (:k, 'kit', 'r1', :rid, 't', 'n', :s, 'high', '[\"A.8.1\"]', 'T', 'm', "
                ":t1, :tl, 1, :l, :o, 'x')"),
                {"k": key, "rid": key, "s": status, "t1": t1, "tl": t2 if last == 2 else t1, "l": last, "o": is_open})
    store = EvidenceStore.open(store_url, str(tmp_path / "evidence"), migrate_schema="always")
    report = verify_store(store)
    assert report.ok, report.problems
    with store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(runs.c.kind).order_by(runs.c.seq))]
        closed = conn.execute(select(findings.c.closed_run).where(findings.c.key == "k2")).scalar_one()
    assert kinds == ["run", "run", "migration"] and closed == 2
    assert [f["last_run"] for f in store.current_findings()] == [2]
    with store.engine.begin() as conn:
        conn.execute(update(findings).where(findings.c.key == "k2").values(severity="info"))
    assert verify_store(store).problems[0].startswith("findings row 2 (rule r1, resource k2): column severity")
    with store.engine.begin() as conn:
        conn.execute(findings.delete().where(findings.c.key == "k2"))
    assert any("schema migration" in p for p in verify_store(store).problems)


def test_revisions_read_without_alembic_agree_with_alembic(store_url: str) -> None:
    engine = make_engine(store_url)
    assert migrate.head_revision() == migrate.alembic_head_revision() != ""
    assert migrate.current_revision(engine) is None is migrate.alembic_current_revision(engine)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.alembic_current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_opening_a_current_store_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    code = ("import sys; from agent.store.store import EvidenceStore; "
            "u = sys.argv[1]; EvidenceStore.open(u, sys.argv[2]).close(); assert 'alembic' in sys.modules; "
            "[sys.modules.pop(m) for m in list(sys.modules) if m.startswith('alembic')]; "
            "EvidenceStore.open(u, sys.argv[2]); print('alembic' in sys.modules)")
    db = f"sqlite:///{tmp_path / 'annexa.db'}"
    out = subprocess.run([sys.executable, "-c", code, db, str(tmp_path / "ev")], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False", "the first open creates the schema with Alembic, the second needs none"
