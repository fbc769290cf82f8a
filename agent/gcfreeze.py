"""Keep the cyclic garbage collector's work during a run to the objects that may be garbage.

A run allocates many short-lived objects. CPython answers with frequent young-generation passes
and, now and then, a full collection that walks every object of the process (modules, rule packs,
SQLAlchemy metadata): tens of milliseconds each time, for objects that are not garbage, and in all
a tenth of an unchanged run's CPU. For the length of a run:

* `gc.freeze()` moves the objects that already exist out of the collector's sight, and
  `gc.unfreeze()` gives them back afterwards, so nothing is kept alive once the run is over;
* the young generation's threshold is raised to `YOUNG_THRESHOLD` allocations (from CPython's 700):
  the run's objects are almost all freed by reference counting, so few passes are needed, and a
  cycle left behind waits at most that many allocations (a few megabytes) to be collected.

Nested or concurrent runs in one process share one such period (the outermost ends it).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 20_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] = ()


@contextmanager
def existing_objects_frozen() -> Iterator[None]:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            gc.freeze()
            _saved = gc.get_threshold()
            if 0 < _saved[0] < YOUNG_THRESHOLD:
                gc.set_threshold(YOUNG_THRESHOLD, *_saved[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
