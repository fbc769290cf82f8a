"""The evidence store: SQL tables of state intervals plus content-addressed blobs, hash-chained runs."""

from agent.store.store import EvidenceStore

__all__ = ["EvidenceStore"]
