"""collectors.aws.memory: one malloc arena for the scan's threads (glibc), overridable, a no-op elsewhere.

Each case runs in a fresh interpreter (the settings last for the process). glibc's malloc_info
reports one <heap> element per arena, which shows whether threads got arenas of their own.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = r"""
import ctypes, json, os, sys, tempfile, threading
from collectors.aws import memory
applied = memory.tune() if sys.argv[1] == "tune" else {}
def work():
    blobs = [bytearray(4096) for _ in range(2000)]
    del blobs
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
path = tempfile.mktemp()
fp = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, fp)
libc.fclose(fp)
xml = open(path).read()
os.unlink(path)
print(json.dumps({"applied": applied, "heaps": xml.count("<heap nr=")}))
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_info and mallopt are glibc's")


def probe(mode: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANNEXA_MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env={**clean, **env}, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.splitlines()[-1]), "stderr": out.stderr}


@glibc_only
def test_threads_share_one_arena_once_tuned() -> None:
    untuned = probe("none")
    tuned = probe("tune")
    assert untuned["heaps"] > 1  # the threads got arenas of their own
    assert tuned["heaps"] == 1
    assert tuned["applied"] == {"arena_max": 1, "mmap_threshold": 128 * 1024}


@glibc_only
def test_environment_overrides_and_zero_leaves_glibc_alone() -> None:
    assert probe("tune", ANNEXA_MALLOC_ARENA_MAX="2", ANNEXA_MALLOC_MMAP_THRESHOLD="0")["applied"] == {"arena_max": 2}
    off = probe("tune", ANNEXA_MALLOC_ARENA_MAX="0", ANNEXA_MALLOC_MMAP_THRESHOLD="0")
    assert off["applied"] == {} and off["heaps"] > 1
    bad = probe("tune", ANNEXA_MALLOC_ARENA_MAX="many")
    assert bad["applied"]["arena_max"] == 1 and "ANNEXA_MALLOC_ARENA_MAX must be a whole number" in bad["stderr"]


def test_not_glibc_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    from collectors.aws import memory

    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("", ""))
    monkeypatch.setattr(memory.ctypes, "CDLL", lambda *a: pytest.fail("no C library call off glibc"))
    assert memory.tune() == {}
