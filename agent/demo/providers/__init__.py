"""Simulated SaaS and cloud tenants for `annexa demo`, beside the simulated AWS organisation.

Each module in this package defines `PROVIDER`, a class following `DemoProvider`: it starts a
local fake of the provider's API (`agent.fakeapi`) seeded with Acme's tenant — violations and
compliant twins — and contributes one source to the demo's annexa.yaml. The demo then runs the
real collector, through the real HTTP client, against that fake on loopback. Adding a provider
to the demo is adding a module here; nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import date
from pathlib import Path
from typing import Protocol


class DemoProvider(Protocol):
    """One simulated tenant. Lifecycle: start → (source_yaml, env) → run 1 → apply_fixes → run 2 → stop."""

    source: str   # the demo source name, e.g. "demo-github"
    title: str    # one line for the demo's "simulated organisation" section

    def start(self, folder: Path, today: date) -> None:
        """Start the fake on 127.0.0.1 and seed the tenant; files go under `folder` (DIR/sources/<source>)."""

    def source_yaml(self) -> str:
        """The source's entry for annexa.yaml: a YAML list item starting `- name: ...`, unindented."""

    def env(self) -> dict[str, str]:
        """Environment variables the source needs while the demo runs (e.g. a dummy token)."""

    def apply_fixes(self) -> list[str]:
        """What the team fixes between run 1 and run 2 (one line each), so the history shows changes."""

    def stop(self) -> None:
        """Stop the fake."""


def discover() -> list[DemoProvider]:
    """One instance of every provider module in this package, in module-name order."""
    out: list[DemoProvider] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        factory = getattr(module, "PROVIDER", None)
        if factory is not None:
            out.append(factory())
    return out
