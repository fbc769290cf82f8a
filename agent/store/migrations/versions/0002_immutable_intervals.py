"""Immutable intervals, every shown column under a hash, chained manual evidence events.

Adds runs.kind, interval hints/closed_run/close_hash, manual evidence removal fields. Existing rows
are re-hashed with the new (complete) row hashes, open intervals get their first values back in
last_seen/last_run (those are derived from run coverage now), closed ones get the run that closed
them and a close hash. The migration then seals one chain entry (kind `migration`) whose roots cover
every row that existed: from here on, any change to those rows is detected. What was changed in
the database *before* the migration cannot be told apart (the old hashes did not cover it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy import bindparam, select, update

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("kind", sa.String(16), nullable=False, server_default="run"))
    for table in ("resource_states", "findings"):
        op.add_column(table, sa.Column("hints", sa.String(96)))
        op.add_column(table, sa.Column("closed_run", sa.Integer))
        op.add_column(table, sa.Column("close_hash", sa.String(80)))
    op.create_index("ix_resource_states_closed", "resource_states", ["source", "closed_run"])
    op.create_index("ix_findings_closed", "findings", ["source", "closed_run"])
    op.add_column("manual_evidence", sa.Column("removal_reason", sa.Text))
    op.add_column("manual_evidence", sa.Column("removal_hash", sa.String(80)))
    _convert(op.get_bind())


def _convert(conn: sa.engine.Connection) -> None:
    from agent import __version__
    from agent.model import content_hash
    from agent.store import hashing
    from agent.store.recorder import migration_roots
    from agent.store.schema import findings, manual_evidence, resource_states, run_sources, runs
    from agent.store.store import build_manifest
    from agent.store.timeutil import ts_text

    covering: dict[str, list[int]] = {}
    for source, run_id in conn.execute(select(run_sources.c.source, run_sources.c.run_id)
                                       .where(run_sources.c.status.in_(("complete", "partial")))
                                       .order_by(run_sources.c.run_id)):
        covering.setdefault(source, []).append(int(run_id))
    for table, content, row_hash in (
        (resource_states, hashing.RESOURCE_CONTENT, hashing.resource_row_hash),
        (findings, hashing.FINDING_CONTENT, hashing.finding_row_hash),
    ):
        rows = [dict(r) for r in conn.execute(select(table)).mappings()]
        updates = []
        for row in rows:
            row["row_hash"] = row_hash(row)
            row["hints"] = hashing.hints(row, content + hashing.OPEN_COLUMNS)
            row["closed_run"] = row["close_hash"] = None
            if row["open"]:
                row["last_run"], row["last_seen"] = row["first_run"], row["first_seen"]
            else:
                later = [r for r in covering.get(row["source"], []) if r > row["last_run"]]
                row["closed_run"] = later[0] if later else row["last_run"]
                row["close_hash"] = hashing.close_hash(row)
            updates.append({"_id": row["id"], "_row_hash": row["row_hash"], "_hints": row["hints"],
                            "_last_run": row["last_run"], "_last_seen": row["last_seen"],
                            "_closed_run": row["closed_run"], "_close_hash": row["close_hash"]})
        if updates:
            conn.execute(update(table).where(table.c.id == bindparam("_id")).values(
                row_hash=bindparam("_row_hash"), hints=bindparam("_hints"), last_run=bindparam("_last_run"),
                last_seen=bindparam("_last_seen"), closed_run=bindparam("_closed_run"),
                close_hash=bindparam("_close_hash")), updates)
    for row in [dict(r) for r in conn.execute(select(manual_evidence)).mappings()]:
        row["row_hash"] = hashing.manual_row_hash(row)
        row["removal_hash"] = hashing.manual_removal_hash(row) if row["removed_at"] is not None else None
        conn.execute(update(manual_evidence).where(manual_evidence.c.id == row["id"]).values(
            row_hash=row["row_hash"], removal_hash=row["removal_hash"]))
    boundary = conn.execute(select(sa.func.max(runs.c.id))).scalar()
    manual = conn.execute(select(sa.func.count()).select_from(manual_evidence)).scalar()
    if boundary is None and not manual:
        return  # an empty store: nothing to seal
    now = datetime.now(UTC)
    run_id = conn.execute(sa.insert(runs).values(kind="migration", started_at=now, status="complete", sources=[],
                                                 tool_version=__version__)).inserted_primary_key[0]
    head = conn.execute(select(runs.c.seq, runs.c.hash).where(runs.c.seq.is_not(None))
                        .order_by(runs.c.seq.desc()).limit(1)).first()
    run = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
    manual_max = int(conn.execute(select(sa.func.max(manual_evidence.c.id))).scalar() or 0)
    body = {"revision": "0002", "boundary_run": int(boundary or 0), "manual_max_id": manual_max,
            **migration_roots(conn, int(boundary or 0), manual_max, ts_text(now) or "")}
    manifest = build_manifest(run, [], status="complete", finished=now, seq=(head.seq + 1) if head else 1,
                              prev_hash=head.hash if head else None, kind="migration", body=body)
    conn.execute(update(runs).where(runs.c.id == run_id).values(
        seq=manifest["seq"], finished_at=now, manifest=manifest, prev_hash=manifest["prev_hash"],
        hash=content_hash(manifest)))


def downgrade() -> None:  # pragma: no cover - the store only moves forward
    raise NotImplementedError("schema 0002 cannot be downgraded: the old hashes did not cover every column")
