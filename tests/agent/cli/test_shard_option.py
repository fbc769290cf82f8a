"""`annexa run --shard`: only the canonical ASCII spelling of K/N with 0 <= K < N <= 1024 is accepted.

The text is stored as the run's shard and groups coverage, so two spellings of one shard would read
as two different splits; anything else is one clear line and exit 2, before the store is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.sharding import MAX_SHARDS, Shard, parse_shard_text
from tests.conftest import ROOT

GOOD = {"0/1": Shard(0, 1), "3/4": Shard(3, 4), "0/1024": Shard(0, 1024), "1023/1024": Shard(1023, 1024),
        "10/20": Shard(10, 20)}
BAD = ["", "+1/02", "01/4", "1/04", "1/4 ", " 1/4", "1 /4", "1/4\n", "\u0661/\u0664", "\uff11/\uff14", "1\u2044" "4",
       "1/4/5", "-1/4", "0/0", "4/4", "5/4", "0/1025", "0/10000", "1/", "/4", "1", "a/b", "1.0/4", "0x1/4",
       "1_0/20", "1/4\x00", "9" * 5000 + "/4"]


@pytest.mark.parametrize("text", sorted(GOOD))
def test_canonical_spellings_are_accepted(text: str) -> None:
    assert parse_shard_text(text) == GOOD[text]
    assert str(parse_shard_text(text)) == text  # what the run stores is exactly what was given


@pytest.mark.parametrize("text", BAD)
def test_every_other_spelling_is_refused_with_one_line(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_shard_text(text)
    message = str(info.value)
    assert "\n" not in message and len(message) < 200
    assert "K/N" in message or str(MAX_SHARDS) in message


def test_cli_refuses_before_reading_anything(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    missing = tmp_path / "nowhere.yaml"  # the option is checked before the configuration is read
    for text in ("", "+1/02", "\u0661/\u0664", "4/4", "0/2000"):
        proc = subprocess.run([sys.executable, "-m", "agent", "--config", str(missing), "run", "--shard", text],
                              capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 2, (text, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "--shard" in lines[0], proc.stderr
        assert "nowhere.yaml" not in proc.stderr
        assert not (tmp_path / "annexa.db").exists()
