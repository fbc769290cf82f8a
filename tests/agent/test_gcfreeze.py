"""A run's garbage-collector period: old objects frozen, then given back; thresholds untouched."""

from __future__ import annotations

import gc

from agent.gcfreeze import existing_objects_frozen


def test_old_objects_are_frozen_during_the_run_and_given_back_after() -> None:
    before = gc.get_threshold()
    with existing_objects_frozen():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == before
        with existing_objects_frozen():  # a nested run shares the period
            pass
        assert gc.get_freeze_count() > 0
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # garbage made during the run is still collected
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_settings_come_back_when_the_run_fails() -> None:
    before = gc.get_threshold()
    try:
        with existing_objects_frozen():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
