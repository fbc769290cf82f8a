"""Bundle verification accounts for every zip entry, bounds what it reads, and never passes a signed
bundle as verified without its key."""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import time
import zipfile
from pathlib import Path

import pytest

from agent.export import manifest as mf
from agent.export import verify as verify_mod
from agent.export.verify import BundleRefused, check_bundle, verify_bundle
from agent.export.zipout import FileEntry
from tests.agent.export.conftest import History, export, read, rewrite
from tests.agent.export.test_cli import main

PAYLOAD = b"MZ" + bytes(range(256)) * 400  # ~100 KB


@pytest.fixture(scope="module")
def small(history: History, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small") / "small.zip"
    export(history, out, controls=["A.8.24", "A.5.1"])
    return out


@pytest.fixture(scope="module")
def small_signed(history: History, keys, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("small-signed") / "signed.zip"
    export(history, out, controls=["A.8.24", "A.5.1"], key_path=keys[0][0])
    return out


def with_entry(src: Path, dst: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    """Copy a bundle and add one raw entry (name, type and data exactly as given)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        zout.writestr(info, data)
        zout.comment = zin.comment
    dst.write_bytes(buf.getvalue())
    return dst


def forge(src: Path, dst: Path, *, change: dict[str, bytes] | None = None, doc_extra: dict | None = None,  # type: ignore[type-arg]
          extra_entries: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> Path:  # type: ignore[assignment]
    """Rewrite a bundle the way a careful tamperer would: change files, then manifest.json, SHA256SUMS and
    the zip comment to match (the old manifest.sig, if any, is kept)."""
    change = dict(change or {})
    doc = json.loads(read(src, mf.MANIFEST))
    files = []
    for f in doc.pop("files"):
        data = change.get(f["path"])
        files.append(FileEntry(f["path"], hashlib.sha256(data).hexdigest(), len(data)) if data is not None
                     else FileEntry(f["path"], f["sha256"], f["size"]))
    doc.update(doc_extra or {})
    raw = mf.manifest_bytes(doc, files)
    man_hex = hashlib.sha256(raw).hexdigest()
    with zipfile.ZipFile(src) as zf:
        sig = zf.read(mf.SIGNATURE) if mf.SIGNATURE in zf.namelist() else None
    sig_hex = hashlib.sha256(sig).hexdigest() if sig else None
    sums = mf.render_sums(mf.sums_entries(((f.path, f.sha256) for f in files), man_hex, sig_hex))
    change.update({mf.MANIFEST: raw, mf.SUMS: sums})
    rewrite(src, dst, change=change, keep_comment=False)
    buf = io.BytesIO(dst.read_bytes())
    with zipfile.ZipFile(buf, "a") as zf:
        for info, data in extra_entries:
            zf.writestr(info, data)
        zf.comment = mf.zip_comment(man_hex, sig_hex)
    dst.write_bytes(buf.getvalue())
    return dst


def problem_for(report, name: str) -> str:  # type: ignore[no-untyped-def]
    found = [p["problem"] for p in report.problems if p["file"] == name]
    assert found, report.problems
    return found[0]


def test_a_payload_stored_under_a_directory_name_fails_a_signed_bundle(small_signed: Path, keys, tmp_path: Path,
                                                                       capsys) -> None:  # type: ignore[no-untyped-def]
    (_, public), _ = keys
    name = "controls/A.5.1/payload.exe/"
    bad = with_entry(small_signed, tmp_path / "bad.zip", zipfile.ZipInfo(name), PAYLOAD)
    report = check_bundle(bad, public_key=public)
    assert not report.ok
    assert problem_for(report, name) == (f"a directory entry holding {len(PAYLOAD)} bytes of data "
                                         "(not listed in manifest.json)")
    assert report.signature == "valid"  # the manifest is intact: only the accounting catches it
    assert verify_bundle(bad, public_key=public) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"bundle verification FAILED: {name}: a directory entry holding") and "OK" not in out


def test_an_empty_directory_entry_counts_unless_the_manifest_declares_it(small: Path, tmp_path: Path) -> None:
    name = "controls/A.5.1/extra/"
    bad = with_entry(small, tmp_path / "dir.zip", zipfile.ZipInfo(name), b"")
    assert problem_for(check_bundle(bad), name) == "a directory entry not listed in manifest.json (extra entry)"
    declared = forge(small, tmp_path / "declared.zip", doc_extra={"directories": [name]},
                     extra_entries=[(zipfile.ZipInfo(name), b"")])
    assert check_bundle(declared).ok, check_bundle(declared).problems
    with_data = forge(small, tmp_path / "declared-data.zip", doc_extra={"directories": [name]},
                      extra_entries=[(zipfile.ZipInfo(name), PAYLOAD)])
    assert "holding" in problem_for(check_bundle(with_data), name)


@pytest.mark.parametrize(("name", "expected"), [
    ("/etc/cron.d/x", "unsafe path in the zip (absolute)"),
    ("C:/Windows/x.dll", "unsafe path in the zip (absolute)"),
    ("controls/../../x.sh", "unsafe path in the zip (..)"),
    ("controls\\A.5.1\\x.exe", "unsafe path in the zip (backslash)"),
    ("controls/A.5.1/a\nb", "unsafe path in the zip (control character)"),
])
def test_unsafe_names_are_problems(small: Path, tmp_path: Path, name: str, expected: str) -> None:
    info = zipfile.ZipInfo("placeholder")
    info.filename = name  # zipfile normalises names given to ZipInfo(); a hostile zip need not
    bad = with_entry(small, tmp_path / "bad.zip", info, b"x")
    assert problem_for(check_bundle(bad), name) == expected


def test_symlinks_and_duplicates_are_problems(small: Path, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("controls/A.5.1/evidence/link.json")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    bad = with_entry(small, tmp_path / "link.zip", link, b"/etc/passwd")
    assert problem_for(check_bundle(bad), link.filename) == "a symbolic link entry (a bundle holds only plain files)"

    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = with_entry(small, tmp_path / "dup.zip", zipfile.ZipInfo("soa.csv"), b"id\n")
    assert problem_for(check_bundle(dup), "soa.csv") == "appears more than once in the zip"


def _declare_size(path: Path, name: str, size: int) -> None:
    """Patch the central directory (and local header) so `name` claims `size` uncompressed bytes."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for sig, size_at, name_len_at, name_at in ((b"PK\x01\x02", 24, 28, 46), (b"PK\x03\x04", 22, 26, 30)):
        pos = data.find(sig)
        while pos >= 0:
            (n,) = struct.unpack_from("<H", data, pos + name_len_at)
            if bytes(data[pos + name_at:pos + name_at + n]) == encoded:
                struct.pack_into("<I", data, pos + size_at, size)
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))


def test_a_manifest_declaring_gigabytes_is_refused_before_reading(small: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bomb = rewrite(small, tmp_path / "bomb.zip")  # rewritten without ZIP64 extras, so sizes sit in the headers
    _declare_size(bomb, mf.MANIFEST, 3 << 30)
    with zipfile.ZipFile(bomb) as zf:
        assert zf.getinfo(mf.MANIFEST).file_size == 3 << 30
    began = time.monotonic()
    expected = re.escape("manifest.json declares 3.0 GB uncompressed, over the 128.0 MB limit")
    with pytest.raises(BundleRefused, match=expected):
        check_bundle(bomb)
    assert verify_bundle(bomb) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "zip bomb" in err
    assert time.monotonic() - began < 5


def test_a_manifest_that_really_inflates_past_its_cap_is_refused(small: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(verify_mod.MAX_INTEGRITY_BYTES, mf.MANIFEST, 1 << 20)
    bomb = rewrite(small, tmp_path / "bomb.zip", change={mf.MANIFEST: b"{" + b" " * (8 << 20) + b"}"})
    expected = re.escape("manifest.json declares 8.0 MB uncompressed, over the 1.0 MB limit")
    with pytest.raises(BundleRefused, match=expected):
        check_bundle(bomb)


def test_an_anchor_bundle_is_read_within_the_same_caps(small: Path, tmp_path: Path) -> None:
    bomb = rewrite(small, tmp_path / "bomb.zip")
    _declare_size(bomb, mf.MANIFEST, 3 << 30)
    (tmp_path / "annexa.yaml").write_text(f"store:\n  url: sqlite:///{tmp_path / 'annexa.db'}\n")
    proc = main("--config", str(tmp_path / "annexa.yaml"), "verify", "--store", "--anchor", str(bomb))
    assert proc.returncode == 2 and "neither a sha256: hash nor an export bundle" in proc.stderr


def test_a_compression_ratio_bomb_is_refused(small: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bomb = rewrite(small, tmp_path / "ratio.zip", add={"controls/A.5.1/evidence/zeros.json": bytes(64 << 20)})
    assert verify_bundle(bomb) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "controls/A.5.1/evidence/zeros.json inflates" in err and "limit 200:1" in err and "zip bomb" in err


def test_reading_stops_at_the_declared_size(small: Path, tmp_path: Path) -> None:
    """A local header that lies (declares fewer bytes than the entry inflates to) reads no further."""
    name = "controls/A.5.1/evidence/big.json"
    bad = rewrite(small, tmp_path / "liar.zip", add={name: b"[" + b"1," * (4 << 20) + b"1]"})
    _declare_size(bad, name, 1000)
    report = check_bundle(bad)
    assert "corrupt entry" in problem_for(report, name) or "declared size" in problem_for(report, name)


def test_a_consistent_rewrite_of_a_signed_bundle_is_not_passed_without_the_key(small_signed: Path, keys,
                                                                                tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (_, public), _ = keys
    name = "controls/A.8.24/findings.csv"
    changed = read(small_signed, name).replace(b"fail", b"pass")
    forged = forge(small_signed, tmp_path / "forged.zip", change={name: changed})
    report = check_bundle(forged)
    assert report.ok and report.signature == "unchecked"  # the hashes agree again...

    plain = main("verify", str(forged))  # ...but without the key it is not reported as verified
    assert plain.returncode == 2 and "OK" not in plain.stdout
    assert "is signed, but no --public-key was given, so it was NOT verified" in plain.stderr
    doc = json.loads(main("verify", str(forged), "--format", "json").stdout)
    assert doc["ok"] is False and doc["hashes_ok"] is True and doc["signature"] == "unchecked"

    keyed = main("verify", str(forged), "--public-key", str(public))
    assert keyed.returncode == 1 and keyed.stdout.startswith("bundle verification FAILED: manifest.sig:")

    skipped = main("verify", str(forged), "--skip-signature")
    assert skipped.returncode == 0 and "signature: present but NOT checked" in skipped.stdout
    assert "not who wrote it" in skipped.stdout


def test_unsigned_bundles_still_verify_and_say_what_that_proves(small: Path) -> None:
    proc = main("verify", str(small))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "signature: none (the bundle is not signed): this shows the bundle is internally consistent" in proc.stdout
    doc = json.loads(main("verify", str(small), "--format", "json").stdout)
    assert doc["ok"] is True and doc["signature"] == "absent" and "not who wrote it" in doc["proves"]


def test_the_integrity_caps_grow_with_the_entries_the_directory_really_holds(small: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A long history's manifest may exceed the fixed base: it is allowed 512 bytes per real entry."""
    from agent.export.zipscan import ZipScan

    monkeypatch.setitem(verify_mod.MAX_INTEGRITY_BYTES, mf.MANIFEST, 1 << 20)
    extra = {f"controls/A.5.1/evidence/pad-{i:05d}.json": b"{}" for i in range(4000)}  # +4,000 x 512 B = 2 MB
    padded = rewrite(small, tmp_path / "many.zip", add=extra,
                     change={mf.MANIFEST: b"{" + b" " * (2 << 20) + b"}"})
    with ZipScan(padded) as zs:
        caps = verify_mod.integrity_caps(zs)
        assert zs.count >= 4000
    assert caps[mf.MANIFEST] == (1 << 20) + 512 * zs.count
    report = check_bundle(padded)  # not refused as a bomb: read, and judged on its content
    assert not report.ok
    # The same manifest in a bundle of a few entries is still over its cap.
    few = rewrite(small, tmp_path / "few.zip", change={mf.MANIFEST: b"{" + b" " * (2 << 20) + b"}"})
    with pytest.raises(BundleRefused, match=re.escape("over the 1.0 MB limit")):
        check_bundle(few)


def test_a_forged_entry_count_does_not_raise_the_caps(small: Path, tmp_path: Path) -> None:
    """The end record's count is bounded by the records the declared directory size can hold."""
    from agent.export.zipscan import ZipScan

    forged = tmp_path / "forged.zip"
    data = bytearray(small.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    data[at + 8:at + 12] = (0xFFFF).to_bytes(2, "little") * 2  # entries on this disk, and in all
    forged.write_bytes(bytes(data))
    with ZipScan(forged) as zs:
        caps = verify_mod.integrity_caps(zs)
        assert zs.count == 0xFFFF
        assert caps[mf.MANIFEST] == verify_mod.MAX_INTEGRITY_BYTES[mf.MANIFEST] + 512 * (zs.cd_size // 46)
        assert zs.cd_size // 46 < 0xFFFF // 10  # the forged count bought next to nothing
