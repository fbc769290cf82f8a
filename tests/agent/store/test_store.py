"""The evidence store on SQLite and on a real PostgreSQL: intervals, blobs, chain, tamper detection."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from agent.config import load_config
from agent.rules.engine import RuleSet
from agent.rules.loader import load_rules
from agent.runner import Runner, RunResult, select_sources
from agent.store.schema import findings, resource_states, runs
from agent.store.store import EvidenceStore
from agent.store.verify import verify_store
from collectors.registry import known_resource_types
from tests.conftest import SUPPORT, World, write_config
from tests.support.evidence import drop_blob, evidence_payloads, replace_blob


class Harness:
    def __init__(self, tmp_path: Path, world: World, url: str):
        self.config = load_config(write_config(tmp_path, world, url))
        self.store = EvidenceStore.open(self.config.store_url, self.config.evidence_dir)
        self.rules = load_rules([SUPPORT / "rules"], known_types=set(known_resource_types()))

    def run(self) -> RunResult:
        return Runner(self.config, self.store, RuleSet(self.rules)).run(select_sources(self.config, None, None))

    def count(self, table) -> int:  # type: ignore[no-untyped-def]
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def evidence_digests(self) -> list[str]:
        """Evidence blob digests, not the policy inputs (rule files, rule set) the runs also keep there."""
        from agent.policy_inputs import recorded_digests

        policy = recorded_digests(self.store)
        return sorted(d for d in evidence_payloads(Path(self.config.evidence_dir)) if d not in policy)

    def blob_files(self) -> int:
        return len(self.evidence_digests())


@pytest.fixture
def harness(tmp_path: Path, world: World, store_url: str) -> Harness:
    world.add("testkit.widget", "w1", {"kind": "server", "encryption": {"enabled": True}, "rules": []})
    world.add("testkit.widget", "w2", {"kind": "db", "encryption": {"enabled": False}})
    return Harness(tmp_path, world, store_url)


def test_unchanged_second_run_adds_no_blobs_and_no_finding_rows(harness: Harness) -> None:
    first = harness.run()
    assert first.status == "complete"
    blobs, rows, snaps = harness.blob_files(), harness.count(findings), harness.count(resource_states)
    assert rows == 3 and snaps == 2 and blobs == 2
    harness.run()
    harness.run()
    assert (harness.blob_files(), harness.count(findings), harness.count(resource_states)) == (blobs, rows, snaps)
    assert {f["last_run"] for f in harness.store.current_findings()} == {3}, \
        "every open interval is seen by the latest run (derived from the run's coverage, nothing written)"
    assert verify_store(harness.store).ok


def test_only_new_and_changed_resources_write_blobs(harness: Harness, world: World) -> None:
    harness.run()
    writes = harness.store.blobs.writes
    harness.run()
    assert harness.store.blobs.writes == writes, "unchanged resources write no blob"
    world.add("testkit.widget", "w2", {"kind": "db", "encryption": {"enabled": True}})
    harness.run()
    assert harness.store.blobs.writes == writes + 1
    assert harness.blob_files() == 3
    assert verify_store(harness.store).ok


def test_status_change_adds_exactly_one_interval(harness: Harness, world: World) -> None:
    harness.run()
    before = harness.count(findings)
    world.add("testkit.widget", "w2", {"kind": "db", "encryption": {"enabled": True}})
    harness.run()
    assert harness.count(findings) == before + 1
    with harness.store.engine.connect() as conn:
        history = conn.execute(select(findings.c.status, findings.c.open, findings.c.first_run, findings.c.last_run)
                               .where(findings.c.resource_id == "w2").order_by(findings.c.id)).all()
    assert [tuple(h) for h in history] == [("fail", False, 1, 1), ("pass", True, 2, 2)]
    # the changed resource got a new snapshot interval, the unchanged one did not
    assert harness.count(resource_states) == 3
    assert verify_store(harness.store).ok


def test_resource_that_disappears_closes_its_intervals(harness: Harness, world: World) -> None:
    harness.run()
    world.remove("w2")
    harness.run()
    current = {(f["rule_id"], f["resource_id"]) for f in harness.store.current_findings()}
    assert ("testkit.widget.encrypted", "w2") not in current
    assert ("testkit.widget.encrypted", "w1") in current
    assert verify_store(harness.store).ok


def test_collection_error_turns_previous_findings_into_errors_not_silence(harness: Harness, world: World) -> None:
    harness.run()
    world.resources = []
    world.fail = [{"type": "testkit.widget", "message": "AccessDenied: not authorised"}]
    world.save()
    result = harness.run()
    assert result.status == "partial" and result.exit_code() == 3
    statuses = {(f["rule_id"], f["resource_id"]): f["status"] for f in harness.store.current_findings()}
    assert statuses[("testkit.widget.encrypted", "w1")] == "error"
    assert statuses[("testkit.widget.encrypted", "w2")] == "error"
    assert "pass" not in statuses.values()
    assert any(rid.startswith("annexa:collection/") for _, rid in statuses)
    assert verify_store(harness.store).ok


def test_chain_links_each_run_to_the_previous(harness: Harness) -> None:
    a, b = harness.run(), harness.run()
    assert b.manifest["prev_hash"] == a.manifest["hash"]
    assert b.manifest["seq"] == a.manifest["seq"] + 1
    report = verify_store(harness.store)
    assert report.ok and report.runs == 2 and report.head == b.manifest["hash"]


def test_tampered_blob_is_named(harness: Harness) -> None:
    harness.run()
    folder = Path(harness.config.evidence_dir)
    digest = harness.evidence_digests()[0]
    doc = harness.store.blobs.get_bytes(digest).replace(b"\"name\"", b"\"nome\"")
    replace_blob(folder, digest, zlib.compress(doc, 6))
    report = verify_store(EvidenceStore.open(harness.config.store_url, harness.config.evidence_dir))
    assert not report.ok
    assert report.problems[0] == f"evidence blob {digest} content does not match its hash"


def test_missing_blob_is_named(harness: Harness) -> None:
    harness.run()
    folder = Path(harness.config.evidence_dir)
    digest = harness.evidence_digests()[0]
    harness.store.blobs.flush()  # type: ignore[attr-defined]
    drop_blob(folder, digest)
    report = verify_store(EvidenceStore.open(harness.config.store_url, harness.config.evidence_dir))
    assert f"evidence blob {digest} is missing" in report.problems


def test_tampered_finding_row_is_named(harness: Harness) -> None:
    harness.run()
    harness.run()
    with harness.store.engine.begin() as conn:
        row_id = conn.execute(select(findings.c.id).where(findings.c.status == "fail")).scalars().first()
        conn.execute(update(findings).where(findings.c.id == row_id).values(status="pass"))
    report = verify_store(harness.store)
    assert not report.ok
    assert report.problems[0].startswith(f"findings row {row_id} ")


def test_deleted_finding_row_breaks_the_sealed_root(harness: Harness) -> None:
    harness.run()
    with harness.store.engine.begin() as conn:
        conn.execute(findings.delete().where(findings.c.resource_id == "w2"))
    report = verify_store(harness.store)
    assert any("run 1 source kit: findings differ" in p for p in report.problems)


def test_rewritten_manifest_breaks_the_chain(harness: Harness) -> None:
    harness.run()
    harness.run()
    with harness.store.engine.begin() as conn:
        manifest = conn.execute(select(runs.c.manifest).where(runs.c.id == 1)).scalar_one()
        manifest["sources"][0]["resources"] = 99
        conn.execute(update(runs).where(runs.c.id == 1).values(manifest=manifest))
    report = verify_store(harness.store)
    assert report.problems[0] == f"runs row 1: manifest does not match its hash {report_hash(harness, 1)}"


def report_hash(harness: Harness, run_id: int) -> str:
    with harness.store.engine.connect() as conn:
        return str(conn.execute(select(runs.c.hash).where(runs.c.id == run_id)).scalar_one())


def test_cursor_saved_only_when_source_completes(harness: Harness, world: World) -> None:
    harness.run()
    assert harness.store.cursor_value("kit", "seen") == 2
    harness.run()
    assert harness.store.cursor_value("kit", "seen") == 4
    world.crash = True
    world.save()
    harness.run()
    # the collector crashed before setting the cursor: it keeps its last completed value
    assert harness.store.cursor_value("kit", "seen") == 4


def test_schema_revision_is_checked(tmp_path: Path, store_url: str) -> None:
    store = EvidenceStore.open(store_url, str(tmp_path / "ev"))
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    from agent.errors import StoreError

    with pytest.raises(StoreError, match="annexa db upgrade"):
        EvidenceStore.open(store_url, str(tmp_path / "ev"))


def test_an_anchor_catches_a_consistently_rewritten_chain(harness: Harness) -> None:
    from agent.model import content_hash

    first = harness.run()
    harness.run()
    anchor = first.manifest["hash"]
    assert verify_store(harness.store, anchors=[anchor]).ok
    # Someone with write access rewrites run 1 and recomputes every later hash consistently.
    with harness.store.engine.begin() as conn:
        rows = conn.execute(select(runs).order_by(runs.c.seq)).mappings().all()
        prev = None
        for row in rows:
            manifest = dict(row["manifest"])
            if row["id"] == 1:
                manifest["tool_version"] = "forged"
            manifest["prev_hash"] = prev
            digest = content_hash(manifest)
            conn.execute(update(runs).where(runs.c.id == row["id"]).values(
                manifest=manifest, prev_hash=prev, hash=digest, tool_version=manifest["tool_version"]))
            prev = digest
    Path(harness.config.evidence_dir, "chain-head.json").unlink()  # ... and the checkpoint with it
    assert verify_store(harness.store).ok, "without an outside anchor a full rewrite is self-consistent"
    report = verify_store(harness.store, anchors=[anchor])
    assert report.problems == [f"anchor {anchor} is not in the chain: the history it sealed was rewritten or removed"]


def test_since_limits_root_recomputation_but_not_row_checks(harness: Harness) -> None:
    harness.run()
    harness.run()
    harness.run()
    with harness.store.engine.begin() as conn:  # an interval deleted: only the roots of run 1 (which opened it) tell
        conn.execute(findings.delete().where(findings.c.resource_id == "w2", findings.c.first_run == 1))
    full = verify_store(harness.store)
    assert any("run 1 source kit: findings differ" in p for p in full.problems)
    recent = verify_store(harness.store, since_seq=1)
    assert any("run 1 source kit: findings differ" in p for p in recent.problems)
    old_only = verify_store(harness.store, since_seq=2)
    assert old_only.ok and "were not recomputed" in old_only.notes[0]
    with harness.store.engine.begin() as conn:  # a modified row is still named, whatever --since says
        conn.execute(update(findings).where(findings.c.resource_id == "w1").values(status="fail"))
    assert any(p.startswith("findings row") for p in verify_store(harness.store, since_seq=2).problems)


def test_two_writers_saving_the_same_cursor_both_succeed(tmp_path: Path, store_url: str) -> None:
    """Shards of one source save cursors side by side: the second writer waits, then replaces the value
    (an update-then-insert let both insert, and one run failed on the primary key)."""
    import threading

    from agent.store.schema import cursors

    store = EvidenceStore.open(store_url, str(tmp_path / "ev"))
    other = EvidenceStore.open(store_url, str(tmp_path / "ev"))
    failures: list[BaseException] = []

    def second_writer() -> None:
        try:
            with other.engine.begin() as conn:
                other.save_cursors(conn, "gh", {"etag": "second"})
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    with store.engine.begin() as conn:
        store.save_cursors(conn, "gh", {"etag": "first"})
        if store.dialect == "postgresql":  # SQLite serialises writers at BEGIN: no overlap to provoke
            thread = threading.Thread(target=second_writer)
            thread.start()
            thread.join(0.5)  # blocked on the first writer's uncommitted key
    if store.dialect != "postgresql":
        thread = threading.Thread(target=second_writer)
        thread.start()
    thread.join(30)
    assert not failures, failures
    with store.engine.connect() as conn:
        rows = conn.execute(select(cursors.c.key, cursors.c.value).where(cursors.c.source == "gh")).all()
    assert [(k, v) for k, v in rows] == [("etag", "second")]
