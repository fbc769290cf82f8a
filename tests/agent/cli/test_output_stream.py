"""Streaming output: JSON arrays written item by item, long tables printed in seamless chunks."""

from __future__ import annotations

import json

import pytest

from agent.cli import output


@pytest.mark.parametrize("items", [[], [{"a": 1}], [{"a": [1, {"b": "é\n"}], "c": None}, {"d": {}}, [], "x"]])
def test_streamed_json_is_the_same_text_as_one_document(items: list[object],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    output.emit_json(items)
    whole = capsys.readouterr().out
    output.emit_json_stream(iter(items))
    streamed = capsys.readouterr().out
    assert streamed == whole and json.loads(streamed) == items


def test_a_long_table_is_printed_in_chunks_that_join_seamlessly(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(output, "TABLE_CHUNK", 4)
    monkeypatch.setenv("COLUMNS", "100")
    rows = ({"status": "fail" if i % 2 else "pass", "rule": f"rule-{i:02d}", "message": "m" * (i % 4)}
            for i in range(11))
    output.emit_table(rows, ["status", "rule", "message"], title="Findings")
    lines = capsys.readouterr().out.splitlines()
    body = [line for line in lines if line.startswith("│")]
    assert [line.split("│")[2].strip() for line in body] == [f"rule-{i:02d}" for i in range(11)]
    borders = [line for line in lines if line[:1] in "┏┡└┌"]
    assert [b[0] for b in borders] == ["┏", "┡", "└"]  # one header, one bottom: no seams between chunks
    assert len({len(line) for line in lines[1:]}) == 1  # every chunk kept the first one's column widths
    assert sum("Findings" in line for line in lines) == 1
