"""Collector registry: entry points (group `annexa.collectors`) plus explicit registration.

Built-in collectors register through the same entry-point group as third-party ones, so there is
one way to find a collector. An unknown type is an error, never silently skipped.
"""

from __future__ import annotations

import importlib
import os
import threading
from importlib.metadata import EntryPoint, entry_points

from collectors.base import Collector

GROUP = "annexa.collectors"
_registered: dict[str, type[Collector]] = {}
_lock = threading.RLock()
_loaded = False


def register(collector: type[Collector]) -> type[Collector]:
    """Register a collector class under its `type` (usable as a decorator)."""
    with _lock:
        _registered[collector.type] = collector
    return collector



def unregister(type_name: str) -> None:
    with _lock:
        _registered.pop(type_name, None)


def _load_entry_points() -> None:
    """Load the entry-point group, then modules named in $ANNEXA_PLUGINS (comma-separated).

    ANNEXA_PLUGINS lets a team use an in-house collector module without packaging it: the module
    calls `register()` when imported.
    """
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for module in filter(None, (m.strip() for m in os.environ.get("ANNEXA_PLUGINS", "").split(","))):
            importlib.import_module(module)
        for ep in entry_points(group=GROUP):
            if ep.name not in _registered:
                _registered[ep.name] = _checked(ep)
        _loaded = True


def collector_types() -> dict[str, type[Collector]]:
    _load_entry_points()
    return dict(_registered)


def get_collector(type_name: str) -> type[Collector]:
    """The collector class for `type_name` (KeyError if none), importing only its own entry point."""
    found = _registered.get(type_name)
    if found is not None:
        return found
    with _lock:
        _load_plugins()
        if type_name not in _registered:
            for ep in entry_points(group=GROUP, name=type_name):
                _registered[ep.name] = _checked(ep)
                break
        return _registered[type_name]


_plugins_loaded = False


def _load_plugins() -> None:
    """Import the modules named in $ANNEXA_PLUGINS once (they register() their collectors)."""
    global _plugins_loaded
    if not _plugins_loaded:
        for module in filter(None, (m.strip() for m in os.environ.get("ANNEXA_PLUGINS", "").split(","))):
            importlib.import_module(module)
        _plugins_loaded = True


def _checked(ep: EntryPoint) -> type[Collector]:
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Collector)):
        raise TypeError(f"entry point {ep.name} = {ep.value} is not a Collector subclass")
    return cls


def known_resource_types() -> dict[str, str]:
    """Every resource type any registered collector declares, with its description."""
    out: dict[str, str] = {}
    for cls in collector_types().values():
        out.update(cls.resource_types)
    return out
