"""Process-level malloc tuning applied when an AWS scan starts (glibc only).

An AWS scan runs up to 16 worker threads that each parse JSON responses and build botocore
objects. glibc gives threads their own malloc arenas (up to 8 per core), and memory freed in one
arena is not reused by another, so the peak RSS grows with the number of threads rather than with
what is alive. One arena (M_ARENA_MAX=1) makes freed memory reusable by every thread; a fixed
128 KiB mmap threshold sends large buffers (response bodies, parsed models) to mmap, which returns
them to the system when freed instead of leaving holes in the heap.

Overrides: ANNEXA_MALLOC_ARENA_MAX and ANNEXA_MALLOC_MMAP_THRESHOLD (bytes); `0` leaves that setting
to glibc. On other C libraries (musl, macOS) nothing is done. The settings stay for the rest of
the process (they cannot be undone once arenas exist); `annexa run` is one process per run.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
DEFAULT_ARENA_MAX = 1
DEFAULT_MMAP_THRESHOLD = 128 * 1024

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_applied: dict[str, int] | None = None


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        logger.warning("%s must be a whole number, 0 or more (got %r): using %d", name, raw, default)
        return default
    return int(raw)


def tune() -> dict[str, int]:
    """Apply the settings once per process; returns what was applied (empty when not glibc)."""
    global _applied
    with _lock:
        if _applied is not None:
            return _applied
        applied: dict[str, int] = {}
        if platform.libc_ver()[0] == "glibc":
            arenas = _setting("ANNEXA_MALLOC_ARENA_MAX", DEFAULT_ARENA_MAX)
            threshold = _setting("ANNEXA_MALLOC_MMAP_THRESHOLD", DEFAULT_MMAP_THRESHOLD)
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.mallopt.restype = ctypes.c_int
            if arenas and libc.mallopt(M_ARENA_MAX, arenas) == 1:
                applied["arena_max"] = arenas
            if threshold and libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1:
                applied["mmap_threshold"] = threshold
        _applied = applied
        return applied
