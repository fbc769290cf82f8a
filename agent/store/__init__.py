"""The evidence store: SQL tables of state intervals plus content-addressed blobs, hash-chained runs.

Import `agent.store.store.EvidenceStore` where needed; this package stays light so the CLI starts fast.
"""
