"""`annexa verify` reads the zip directory, manifest.json and SHA256SUMS as streams (a year's bundle has
hundreds of thousands of entries): these check that the streamed readers see what the whole-file
readers saw, and that every check still names the file on a bundle larger than one spill batch."""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.export import manifest as mf
from agent.export import manifest_stream
from agent.export.manifest_stream import read_manifest, text_lines
from agent.export.verify import check_bundle, first_different_line
from agent.export.zipout import BundleWriter
from agent.export.zipscan import ZipScan
from tests.agent.export.conftest import rewrite

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ATTRS = ("filename", "orig_filename", "header_offset", "compress_size", "file_size", "CRC", "flag_bits",
         "compress_type", "external_attr", "create_system", "create_version", "extract_version", "date_time",
         "extra", "comment", "volume", "internal_attr")


def _name(i: int) -> str:
    return f"controls/A.{i % 9}/evidence/{i:06d}.json"


def _bundle(path: Path, n: int) -> Path:
    """A bundle as agent.export.bundle finishes one: data files, manifest.json, SHA256SUMS, zip comment."""
    writer = BundleWriter(path, WHEN)
    for i in range(n):
        writer.write_bytes(_name(i), json.dumps({"n": i}).encode())
    data = len(writer.files)
    with writer.open_binary(mf.MANIFEST) as fh:
        mf.write_manifest(fh, {"kind": mf.KIND, "signature": None}, writer.files)
    man = writer.files[-1]
    with writer.open_binary(mf.SUMS) as fh:
        entries = ((f.path, f.sha256) for k, f in enumerate(writer.files) if k < data)
        for line in mf.iter_sums(mf.iter_sums_entries(entries, man.sha256, None)):
            fh.write(line)
    writer.finish(mf.zip_comment(man.sha256, None))
    return path


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bundle(tmp_path_factory.mktemp("large") / "large.zip", 4500)  # over two spill batches


def _problems(path: Path) -> dict[str, str]:
    return {p["file"]: p["problem"] for p in check_bundle(path).problems}


def test_a_bundle_larger_than_a_batch_verifies(large: Path) -> None:
    report = check_bundle(large)
    assert report.ok, report.problems[:3]
    assert report.files == 4502
    with zipfile.ZipFile(large) as zf:
        assert report.manifest_sha256 == hashlib.sha256(zf.read(mf.MANIFEST)).hexdigest()


def test_tampered_missing_and_extra_entries_are_named_in_a_large_bundle(large: Path, tmp_path: Path) -> None:
    changed, dropped, added = _name(3001), _name(4399), "controls/A.1/evidence/extra.json"
    bad = rewrite(large, tmp_path / "bad.zip", change={changed: b'{"n": -1}'}, drop={dropped}, add={added: b"{}"})
    problems = _problems(bad)
    assert problems == {changed: "content does not match its SHA-256 in manifest.json",
                        added: "not listed in manifest.json (extra file)",
                        dropped: "missing from the bundle (listed in manifest.json)"}
    assert [p["file"] for p in check_bundle(bad).problems] == [changed, added, dropped]  # zip order, then missing


def test_a_broken_manifest_falls_back_to_sha256sums_in_a_large_bundle(large: Path, tmp_path: Path) -> None:
    changed = _name(4000)
    bad = rewrite(large, tmp_path / "bad.zip", change={mf.MANIFEST: b'{"files": [', changed: b"{}"})
    problems = _problems(bad)
    assert problems[mf.MANIFEST] == "content differs from the digest recorded when the bundle was written"
    assert problems[changed] == "content does not match its SHA-256 in SHA256SUMS"
    assert len(problems) == 2


def test_sha256sums_problems_are_named_in_a_large_bundle(large: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(large) as zf:
        sums = zf.read(mf.SUMS)
    lines = sums.splitlines(keepends=True)
    lines[3210] = lines[3210].replace(b"  controls", b"  Controls")
    bad = rewrite(large, tmp_path / "renamed.zip", change={mf.SUMS: b"".join(lines)})
    assert _problems(bad) == {mf.SUMS: f"its entry for {_name(3210)} is missing or does not match the file"}
    longer = rewrite(large, tmp_path / "longer.zip", change={mf.SUMS: sums + b"0" * 64 + b"  extra.json\n"})
    assert _problems(longer) == {mf.SUMS: "does not match the bundle's file list (first difference at line 4502)"}
    twice = rewrite(large, tmp_path / "twice.zip", change={mf.SUMS: sums + lines[7]})
    assert _problems(twice) == {mf.SUMS: f"malformed: line 4502 lists {_name(7)} a second time"}


def test_zipscan_reads_what_zipfile_reads(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        zf.writestr("plain.txt", b"x" * 1000)
        zf.writestr(zipfile.ZipInfo("stored.bin", (2020, 1, 2, 3, 4, 6)), bytes(range(256)), zipfile.ZIP_STORED)
        zf.writestr("unicodé/naïve.json", "é".encode() * 10)
        with zf.open(zipfile.ZipInfo("forced64.json"), "w", force_zip64=True) as fh:
            fh.write(b"{}" * 5000)
        zf.mkdir("folder") if hasattr(zf, "mkdir") else zf.writestr("folder/", b"")
        zf.comment = b"annexa-bundle/1 test"
    for name, data in (("plain.zip", buf.getvalue()), ("prefixed.zip", b"#!/bin/sh\nexit 0\n" + buf.getvalue())):
        path = tmp_path / name
        path.write_bytes(data)
        with zipfile.ZipFile(path) as ref, ZipScan(path) as scan:
            mine = list(scan.infos())
            assert scan.comment == ref.comment
            assert len(mine) == len(ref.infolist())
            for a, b in zip(mine, ref.infolist(), strict=True):
                assert {k: getattr(a, k) for k in ATTRS} == {k: getattr(b, k) for k in ATTRS}
                if not a.is_dir():
                    with scan.open(a) as fh:
                        assert fh.read() == ref.read(b)


def test_zipscan_refuses_what_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    for data in (b"", b"not a zip at all", b"PK\x05\x06" + b"\x00" * 10):
        path.write_bytes(data)
        with pytest.raises(zipfile.BadZipFile):
            ZipScan(path).close()


SAMPLE = {"kind": "k", "a": [1, 2.5, -3e-7, True, None, {"x": "é\u2028\\\"q"}], "n": 1234567890123,
          "files": [{"path": f"p/{i}\u00e9", "sha256": "0" * 64, "size": i * 1000} for i in range(40)],
          "z": {"deep": [[[]]], "s": "x" * 50}, "m": -0.0}


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
def test_the_streamed_manifest_is_what_json_loads_reads(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(manifest_stream, "_BLOCK", block)  # values cut at every possible place
    for raw in (json.dumps(SAMPLE, indent=2, sort_keys=True, ensure_ascii=False).encode(),
                json.dumps(SAMPLE, separators=(",", ":")).encode()):
        files: list[object] = []
        doc = read_manifest(io.BytesIO(raw), files.append)
        expected = json.loads(raw)
        assert files == expected.pop("files")
        assert doc == expected


@pytest.mark.parametrize("raw", [b"[]", b'{"files": []} x', b'{"files": [], "files": []}', b'{"a": 1}',
                                 b'{"files": [1,]}', b'{"files": [1 2]}', b'{"files": ', b"\xff{}", b'{"a" 1}',
                                 b'{"files": {}}', b""])
def test_what_is_not_a_manifest_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):  # UnicodeDecodeError is a ValueError
        read_manifest(io.BytesIO(raw), lambda f: None)


@pytest.mark.parametrize("block", [1, 2, 3, 5, 1 << 20])
def test_sha256sums_lines_split_as_splitlines_does(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(manifest_stream, "_BLOCK", block)
    rng = random.Random(block)
    pieces = ["a", "bé", "\r\n", "\n", "\r", "\x0b", "\u2028", "\x85", "", "  x"]
    for _ in range(50):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30)))
        assert list(text_lines(io.BytesIO(text.encode()))) == text.splitlines()
    with pytest.raises(UnicodeDecodeError):
        list(text_lines(io.BytesIO(b"ok\n\xff\n")))


def test_first_different_line_numbers_lines_as_a_line_by_line_comparison() -> None:
    want = [f"{i:064x}  file/{i}\n".encode() for i in range(5000)]
    same = b"".join(want)
    assert first_different_line(io.BytesIO(same), want) is None
    changed = bytearray(same)
    changed[same.index(b"file/4321\n") + 5] ^= 1
    assert first_different_line(io.BytesIO(bytes(changed)), want) == 4322
    assert first_different_line(io.BytesIO(same + b"extra\n"), want) == 5001
    assert first_different_line(io.BytesIO(same[:-len(want[-1])]), want) == 5000
    assert first_different_line(io.BytesIO(b""), want) == 1
    assert first_different_line(io.BytesIO(b""), []) is None


def test_the_anchor_reader_returns_the_manifest_without_its_file_list(large: Path, tmp_path: Path) -> None:
    from agent.export.verify import BundleUnreadable
    from agent.export.verify import read_manifest as read_bundle_manifest

    assert read_bundle_manifest(large) == {"kind": mf.KIND, "signature": None}
    with pytest.raises(BundleUnreadable, match=r"no manifest\.json"):
        read_bundle_manifest(rewrite(large, tmp_path / "none.zip", drop={mf.MANIFEST}))
    with pytest.raises(BundleUnreadable, match="not a readable bundle"):
        read_bundle_manifest(rewrite(large, tmp_path / "bad.zip", change={mf.MANIFEST: b"[1, 2]"}))
