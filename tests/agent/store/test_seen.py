"""SeenIds: the compact set of interval keys a run has seen."""

from __future__ import annotations

import hashlib

from agent.store import seen as seen_module
from agent.store.seen import SeenIds


def key(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_membership_across_sorted_runs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(seen_module, "RUN", 100)  # many runs, then a merge
    ids = SeenIds()
    for i in range(0, 2000, 2):
        ids.add(key(i))
    assert len(ids) == 1000
    assert all(key(i) in ids for i in range(0, 2000, 2))
    assert not any(key(i) in ids for i in range(1, 2000, 2))
    ids.add(key(1))  # added after lookups: still found
    assert key(1) in ids and key(3) not in ids
    assert 42 not in ids


def test_unseen_is_the_keys_not_in_the_set_in_order(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(seen_module, "RUN", 64)  # several sorted runs plus pending ids
    ids = SeenIds()
    for i in range(0, 500, 3):
        ids.add(key(i))
    wanted = [key(i) for i in range(500, -1, -1)]
    assert ids.unseen(wanted) == [k for k in wanted if k not in ids]
    assert ids.unseen(iter([key(3), key(4)])) == [key(4)]
    assert SeenIds().unseen([key(1)]) == [key(1)]
