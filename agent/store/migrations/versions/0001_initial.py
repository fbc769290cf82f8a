"""Initial schema: runs, run_sources, resource_states, findings, cursors, manual_evidence.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.Integer, unique=True, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sources", Json, nullable=False),
        sa.Column("shard", sa.String(32)),
        sa.Column("tool_version", sa.String(32), nullable=False),
        sa.Column("manifest", Json),
        sa.Column("prev_hash", sa.String(80)),
        sa.Column("hash", sa.String(80)),
    )
    op.create_table(
        "run_sources",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("source_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("resources", sa.Integer, nullable=False),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("errors", Json, nullable=False),
        sa.Column("evidence_root", sa.String(80)),
        sa.Column("findings_root", sa.String(80)),
    )
    op.create_table(
        "resource_states",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("account", sa.String(128)),
        sa.Column("region", sa.String(64)),
        sa.Column("evidence", sa.String(80), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("first_run", sa.Integer, nullable=False),
        sa.Column("last_run", sa.Integer, nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("row_hash", sa.String(80), nullable=False),
    )
    op.create_index("ix_resource_states_key_open", "resource_states", ["key", "open"])
    op.create_index("ix_resource_states_source_open", "resource_states", ["source", "open"])
    op.create_index("ix_resource_states_runs", "resource_states", ["source", "first_run", "last_run"])
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("resource_type", sa.String(128), nullable=False),
        sa.Column("resource_name", sa.Text, nullable=False),
        sa.Column("account", sa.String(128)),
        sa.Column("region", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("controls", Json, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("evidence", sa.String(80)),
        sa.Column("exception", sa.Text),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("first_run", sa.Integer, nullable=False),
        sa.Column("last_run", sa.Integer, nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("row_hash", sa.String(80), nullable=False),
    )
    op.create_index("ix_findings_key_open", "findings", ["key", "open"])
    op.create_index("ix_findings_open_rule", "findings", ["open", "rule_id"])
    op.create_index("ix_findings_runs", "findings", ["source", "first_run", "last_run"])
    op.create_table(
        "cursors",
        sa.Column("source", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", Json),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "manual_evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("control", sa.String(16), nullable=False, index=True),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("blob", sa.String(80), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("media_type", sa.String(128)),
        sa.Column("note", sa.Text),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
        sa.Column("valid_until", TS),
        sa.Column("removed_at", TS),
        sa.Column("removed_by", sa.String(200)),
        sa.Column("row_hash", sa.String(80), nullable=False),
    )


def downgrade() -> None:
    for table in ("manual_evidence", "cursors", "findings", "resource_states", "run_sources", "runs"):
        op.drop_table(table)
