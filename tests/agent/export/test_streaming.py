"""A year's bundle is written without holding it: these check that streaming changed no byte."""

from __future__ import annotations

import copy
import io
import json
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.cli.app import App
from agent.export.history import Period, load_run_index
from agent.export.manifest import iter_sums, iter_sums_entries, manifest_bytes, render_sums, write_manifest
from agent.export.observations import add_interval_observations, write_assessment_results
from agent.export.oscal import assessment_results
from agent.export.zipout import GENERATED_LEVEL, STORE_LEVEL, BundleWriter, FileEntry
from agent.store.timeutil import utcnow
from tests.agent.export.conftest import History

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _plain_zip(entries: list[tuple[str, bytes]], comment: bytes, level: int = GENERATED_LEVEL) -> bytes:
    """What BundleWriter wrote before its directory was spilled: zipfile with everything in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=level) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, (2026, 3, 4, 5, 6, 7))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info._compresslevel = level  # type: ignore[attr-defined]
            with zf.open(info, "w", force_zip64=True) as fh:
                fh.write(data)
        zf.comment = comment
    return buf.getvalue()


def test_spilled_zip_directory_gives_the_same_bytes(tmp_path: Path) -> None:
    # more entries than one spill batch, so records come back from the temporary database
    entries = [(f"c/{n % 7}/evidence/{n:06d}.json", json.dumps({"n": n, "pad": "x" * (n % 50)}).encode())
               for n in range(4500)]
    out = tmp_path / "b.zip"
    writer = BundleWriter(out, WHEN)
    for name, data in entries:
        writer.write_bytes(name, data)
    assert len(writer.files) == 4500
    assert [f.path for f in writer.files] == [n for n, _ in entries]  # read back in order
    writer.finish(b"annexa-bundle/1 test")
    assert out.read_bytes() == _plain_zip(entries, b"annexa-bundle/1 test")
    assert list(tmp_path.iterdir()) == [out]  # neither the partial nor the spill is left
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None and len(zf.infolist()) == 4500


def test_duplicate_entry_is_still_refused(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "b.zip", WHEN)
    writer.write_text("a.txt", "one")
    assert writer.has("a.txt") and not writer.has("b.txt")
    with pytest.raises(ValueError, match=r"duplicate bundle entry 'a\.txt'"):
        writer.write_text("a.txt", "two")
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def _manifest_reference(document: dict, files: list[FileEntry]) -> bytes:  # type: ignore[type-arg]
    """manifest_bytes as it was written with the whole list in memory."""
    mark = "\x00files\x00"
    head = json.dumps({**document, "files": mark}, indent=2, sort_keys=True, ensure_ascii=False)
    lines = ",\n".join("    " + json.dumps({"path": e.path, "sha256": e.sha256, "size": e.size}, ensure_ascii=False)
                       for e in files)
    body = f"[\n{lines}\n  ]" if files else "[]"
    return (head.replace(json.dumps(mark), body, 1) + "\n").encode("utf-8")


@pytest.mark.parametrize("count", [0, 1, 3000])
def test_streamed_manifest_and_sums_match_the_held_ones(count: int) -> None:
    doc = {"kind": "annexa.export-manifest/v1", "zeta": ["é", {"b": 1}], "alpha": None, "signature": None}
    files = [FileEntry(f"dir/fïle-{n}.json", f"{n:064x}", n) for n in range(count)]
    out = io.BytesIO()
    write_manifest(out, doc, iter(files))
    assert out.getvalue() == manifest_bytes(doc, files) == _manifest_reference(doc, files)
    held = "".join(f"{d}  {p}\n" for p, d in [(f.path, f.sha256) for f in files] + [("manifest.json", "ab" * 32)])
    streamed = b"".join(iter_sums(iter_sums_entries(((f.path, f.sha256) for f in files), "ab" * 32, None)))
    assert streamed == render_sums([(f.path, f.sha256) for f in files] + [("manifest.json", "ab" * 32)]) \
        == held.encode()


def test_streamed_oscal_matches_the_document_held_in_memory(history: History) -> None:
    app = App(str(history.config))
    store = app.store()
    try:
        now = utcnow()
        index = load_run_index(store, Period(now - timedelta(days=365), now))
        base = assessment_results(states=[], exports={}, period_start=now - timedelta(days=1), period_end=now,
                                  generated_at=now, sources=[{"name": "kit", "type": "testkit"}], excluded=[])
        result = base["assessment-results"]["results"][0]
        # two controls' findings: one with an observation already related, one without
        result["findings"] = [
            {"uuid": "f1", "target": {"target-id": "A.8.24_obj"},
             "related-observations": [{"observation-uuid": "pre"}]},
            {"uuid": "f2", "target": {"target-id": "A.8.20_obj"}, "related-risks": [{"risk-uuid": "r"}]},
            {"uuid": "f3", "target": {"target-id": "A.5.1_obj"}}]
        result["observations"] = [{"uuid": "pre", "title": "per control"}]
        rules = {"A.8.24": ["testkit.widget.encrypted"], "A.8.20": ["testkit.widget.no_public_ports"], "A.5.1": []}
        folders = {"A.8.24": "controls/A.8.24", "A.8.20": "controls/A.8.20"}
        held = copy.deepcopy(base)
        n_held = add_interval_observations(held, store, index, control_rules=rules, folders=folders)
        out = io.BytesIO()
        n_streamed = write_assessment_results(out, copy.deepcopy(base), store, index, control_rules=rules,
                                              folders=folders)
    finally:
        store.close()
    assert n_held == n_streamed > 3
    assert out.getvalue() == (json.dumps(held, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    streamed = json.loads(out.getvalue())["assessment-results"]["results"][0]
    assert len(streamed["observations"]) == n_held + 1
    assert streamed["findings"][1]["related-observations"]  # after related-risks, as setdefault placed it


def test_streamed_oscal_without_intervals_adds_no_lists(history: History) -> None:
    app = App(str(history.config))
    store = app.store()
    try:
        index = load_run_index(store, Period(datetime(2001, 1, 1, tzinfo=UTC), datetime(2001, 1, 2, tzinfo=UTC)))
        base = assessment_results(states=[], exports={}, period_start=WHEN, period_end=WHEN, generated_at=WHEN,
                                  sources=[], excluded=[])
        out = io.BytesIO()
        assert write_assessment_results(out, copy.deepcopy(base), store, index, control_rules={"A.8.24": []},
                                        folders={}) == 0
    finally:
        store.close()
    assert out.getvalue() == (json.dumps(base, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def test_indented_dump_matches_the_standard_encoder() -> None:
    from agent.export.observations import dumps_indented

    value = {"a": [], "b": {}, "c": [1, 2.5, -3, True, False, None, "é \"q\" \n\t\u2028 \x00"],
             "d": {"e": [{"f": "g"}, [[]], {}], 7: "int key"}, "h": 1e100, "ü": ["x"], "t": ({"u": (1, [])},),
             "deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["bottom", {"k": {}}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
    assert dumps_indented(value) == json.dumps(value, indent=1, ensure_ascii=False)
    assert dumps_indented([]) == "[]" and dumps_indented("x") == '"x"'


def test_evidence_copied_compressed_gives_the_same_zip(tmp_path: Path) -> None:
    import random

    from agent.store.blobs import FileBlobStore

    blobs = FileBlobStore(tmp_path / "evidence")
    rng = random.Random(3)
    docs = [{"resource": {"id": f"w{n}"}, "data": {"n": n, "words": [rng.choice(["a", "bé", "ccc"]) for _ in range(k)]}}
            for n, k in enumerate((0, 5, 300, 60_000))]  # the last one is well over one 64 KiB write
    digests = [blobs.put_json(d) for d in docs]
    blobs.packs.flush()
    entries = [(f"c/evidence/{d[7:]}.json", blobs.get_bytes(d)) for d in digests]
    entries.append(("c/other-level.json", b'{"x": 1}' * 50))  # stored at level 9: written the ordinary way
    streams = [blobs.get_compressed(d) for d in digests] + [zlib.compress(entries[-1][1], 9)]
    assert len(entries[3][1]) > 1 << 16
    out = tmp_path / "b.zip"
    writer = BundleWriter(out, WHEN)
    for (name, raw), stream in zip(entries, streams, strict=True):
        entry = writer.write_deflated(name, raw, stream)
        assert (entry.path, entry.size) == (name, len(raw))
    assert [f.sha256 for f in writer.files][:4] == [d[7:] for d in digests]
    writer.finish(b"c")
    assert out.read_bytes() == _plain_zip(entries, b"c", STORE_LEVEL)  # the store's level, kept


def test_rendered_entries_use_the_fast_level_and_copied_evidence_keeps_the_stores(tmp_path: Path) -> None:
    text = b"rule,resource,status\n" + b"".join(b"r%d,w%d,pass\n" % (n % 7, n) for n in range(20000))
    writer = BundleWriter(tmp_path / "b.zip", WHEN)
    writer.write_bytes("c/findings.csv", text)
    writer.write_deflated("c/evidence/x.json", text, zlib.compress(text, STORE_LEVEL))
    writer.finish(b"c")
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        sizes = {i.filename: i.compress_size for i in zf.infolist()}
        assert zf.read("c/findings.csv") == text == zf.read("c/evidence/x.json")  # the content is unchanged
    fast = zlib.compressobj(GENERATED_LEVEL, zlib.DEFLATED, -15)
    assert sizes["c/findings.csv"] == len(fast.compress(text) + fast.flush())
    assert sizes["c/evidence/x.json"] == len(zlib.compress(text, STORE_LEVEL)) - 6  # the stored stream as it is
    assert sizes["c/findings.csv"] != sizes["c/evidence/x.json"]


def test_skipping_rules_without_intervals_changes_no_byte_of_a_control(history: History, tmp_path: Path) -> None:
    """export_control with `rules_in_period` (no query for the rules without intervals) and the timeline
    count taken from the findings pass write the same entries as querying every rule."""
    from agent.export.controls import export_control
    from agent.export.history import stored_rule_controls

    app = App(str(history.config))
    store = app.store()
    try:
        now = utcnow()
        index = load_run_index(store, Period(now - timedelta(days=365), now))
        in_period = stored_rule_controls(store, index).keys()
        rules = sorted({r.id for r in app.active_rules() if "A.8.24" in r.controls} | {"no.such.rule"})
        assert set(rules) - set(in_period) and set(rules) & set(in_period)  # both kinds are exercised
        written = []
        for n, known in enumerate((None, in_period)):
            writer = BundleWriter(tmp_path / f"{n}.zip", WHEN)
            exp = export_control(writer, store, index, "A.8.24", rules, [], now, rules_in_period=known)
            writer.finish(b"c")
            with zipfile.ZipFile(tmp_path / f"{n}.zip") as zf:
                written.append(({i.filename: zf.read(i) for i in zf.infolist()}, exp.timeline_changes, exp.findings))
    finally:
        store.close()
    assert written[0] == written[1]
    assert written[0][1] > 0 and written[0][2] > 0


def test_observations_render_as_the_general_encoder_does() -> None:
    from agent.export.observations import dumps_indented, render_observation

    obs = {"uuid": "u", "title": 't é"x\u2028', "props": [{"name": "a", "ns": "n", "value": "v\n"}],
           "methods": ["TEST"], "origins": [{"actors": [{"type": "tool", "actor-uuid": "x"}]}],
           "subjects": [{"subject-uuid": "s", "type": "inventory-item", "title": "T"}],
           "odd": [{"k": "v"}, {}], "mixed": ["s", 1], "nested": [{"k": ["x"]}], "numbers": [{1: "v"}],
           "empty": [], "none": None, "obj": {"a": [{}]}}
    assert render_observation(obs) == dumps_indented(obs) == json.dumps(obs, indent=1, ensure_ascii=False)
