"""Tables of the evidence store. Findings and resource snapshots are kept as state intervals."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", Integer, unique=True, nullable=True, doc="position in the hash chain, set when sealed"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False, doc="running | complete | partial | incomplete"),
    Column("sources", Json, nullable=False),
    Column("shard", String(32)),
    Column("tool_version", String(32), nullable=False),
    Column("manifest", Json),
    Column("prev_hash", String(80)),
    Column("hash", String(80)),
)

run_sources = Table(
    "run_sources", metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("source", String(128), primary_key=True),
    Column("source_type", String(64), nullable=False),
    Column("status", String(16), nullable=False, doc="running | complete | partial | failed | incomplete"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_seconds", Float),
    Column("resources", Integer, nullable=False, default=0),
    Column("findings", Integer, nullable=False, default=0),
    Column("errors", Json, nullable=False),
    Column("evidence_root", String(80)),
    Column("findings_root", String(80)),
)

resource_states = Table(
    "resource_states", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, doc="sha256 of source|type|resource id"),
    Column("source", String(128), nullable=False),
    Column("type", String(128), nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("account", String(128)),
    Column("region", String(64)),
    Column("evidence", String(80), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("first_run", Integer, nullable=False),
    Column("last_run", Integer, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("row_hash", String(80), nullable=False),
)
Index("ix_resource_states_key_open", resource_states.c.key, resource_states.c.open)
Index("ix_resource_states_source_open", resource_states.c.source, resource_states.c.open)
Index("ix_resource_states_runs", resource_states.c.source, resource_states.c.first_run, resource_states.c.last_run)

findings = Table(
    "findings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, doc="sha256 of source|rule|resource id"),
    Column("source", String(128), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("resource_type", String(128), nullable=False),
    Column("resource_name", Text, nullable=False),
    Column("account", String(128)),
    Column("region", String(64)),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("controls", Json, nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence", String(80)),
    Column("exception", Text),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("first_run", Integer, nullable=False),
    Column("last_run", Integer, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("row_hash", String(80), nullable=False),
)
Index("ix_findings_key_open", findings.c.key, findings.c.open)
Index("ix_findings_open_rule", findings.c.open, findings.c.rule_id)
Index("ix_findings_runs", findings.c.source, findings.c.first_run, findings.c.last_run)

cursors = Table(
    "cursors", metadata,
    Column("source", String(128), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Json),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

manual_evidence = Table(
    "manual_evidence", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("control", String(16), nullable=False, index=True),
    Column("filename", Text, nullable=False),
    Column("blob", String(80), nullable=False),
    Column("size", Integer, nullable=False),
    Column("media_type", String(128)),
    Column("note", Text),
    Column("uploaded_by", String(200), nullable=False),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True)),
    Column("removed_at", DateTime(timezone=True)),
    Column("removed_by", String(200)),
    Column("row_hash", String(80), nullable=False),
)
