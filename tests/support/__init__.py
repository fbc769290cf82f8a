"""Test-only helpers: a file-driven collector and rule packs to drive the pipeline."""
