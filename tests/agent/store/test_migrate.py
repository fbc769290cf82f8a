"""Schema migrations: idempotent, and safe when several processes start on an empty database."""

from __future__ import annotations

import threading
from pathlib import Path

from agent.store import migrate
from agent.store.engine import make_engine


def test_concurrent_first_start_creates_the_schema_once(store_url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    engines = [make_engine(store_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))

    def start(engine) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            migrate.upgrade(engine)
        except BaseException as exc:  # pragma: no cover - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert migrate.current_revision(engines[0]) == migrate.head_revision()
    assert migrate.upgrade(engines[0])[0] == migrate.head_revision()
