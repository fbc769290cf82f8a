"""Tables of the evidence store. Findings and resource snapshots are kept as immutable state intervals.

An interval row is written once when it opens (`row_hash` covers every shown column) and once when it
closes (`close_hash` covers its final state). While it is open nothing is written to it: its
`last_seen`/`last_run` are derived from the sealed runs that covered its source (see
EvidenceStore.coverage). docs/evidence-store.md describes exactly what each hash covers.
"""

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
    Column("kind", String(16), nullable=False, server_default="run",
           doc="run | evidence (a manual evidence upload or removal) | migration: every chain entry is a row"),
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
    Column("hints", String(96), doc="2-byte hash per column, to name the column that changed (not a proof)"),
    Column("closed_run", Integer, doc="the run that closed the interval (NULL while open)"),
    Column("close_hash", String(80), doc="hash of the final state, written when the interval closes"),
)
Index("ix_resource_states_key_open", resource_states.c.key, resource_states.c.open)
Index("ix_resource_states_source_open", resource_states.c.source, resource_states.c.open)
Index("ix_resource_states_runs", resource_states.c.source, resource_states.c.first_run, resource_states.c.last_run)
Index("ix_resource_states_closed", resource_states.c.source, resource_states.c.closed_run)

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
    Column("hints", String(96), doc="2-byte hash per column, to name the column that changed (not a proof)"),
    Column("closed_run", Integer, doc="the run that closed the interval (NULL while open)"),
    Column("close_hash", String(80), doc="hash of the final state, written when the interval closes"),
)
Index("ix_findings_key_open", findings.c.key, findings.c.open)
Index("ix_findings_open_rule", findings.c.open, findings.c.rule_id)
Index("ix_findings_runs", findings.c.source, findings.c.first_run, findings.c.last_run)
Index("ix_findings_closed", findings.c.source, findings.c.closed_run)

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
    Column("removal_reason", Text),
    Column("row_hash", String(80), nullable=False),
    Column("removal_hash", String(80), doc="hash of the removal (removed_at, removed_by, reason)"),
)
