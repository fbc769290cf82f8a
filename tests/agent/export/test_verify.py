"""`annexa verify FILE.zip`: any altered, removed or added file is named; signatures need the right key."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from agent.export.verify import check_bundle, verify_bundle
from tests.agent.export.conftest import History, export, flip, read, rewrite

KINDS = {
    "index.html": "index.html",
    "manifest.json": "manifest.json",
    "SHA256SUMS": "SHA256SUMS",
    "manifest.sig": "manifest.sig",
    "soa.csv": "soa.csv",
    "soa.xlsx": "soa.xlsx",
    "findings.csv": "controls/A.8.24/findings.csv",
    "population.csv": "controls/A.8.24/population.csv",
    "control page": "controls/A.8.24/index.html",
    "oscal": "oscal/assessment-results.json",
    "manual document": "controls/A.5.1/manual/policy_v1.pdf",
}


def evidence_file(bundle: Path) -> str:
    with zipfile.ZipFile(bundle) as zf:
        return next(n for n in zf.namelist() if n.startswith("controls/A.8.24/evidence/"))


@pytest.fixture(scope="module")
def small(history: History, keys, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """A signed two-control bundle, small enough to tamper with every single file."""
    out = tmp_path_factory.mktemp("small") / "small.zip"
    export(history, out, controls=["A.8.24", "A.5.1"], key_path=keys[0][0])
    return out


def names_of(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


@pytest.mark.parametrize("kind", [*KINDS, "evidence json"])
def test_flipping_one_byte_names_the_file(bundle: Path, tmp_path: Path, kind: str, capsys) -> None:  # type: ignore[no-untyped-def]
    name = evidence_file(bundle) if kind == "evidence json" else KINDS[kind]
    data = read(bundle, name)
    bad = rewrite(bundle, tmp_path / "bad.zip", change={name: flip(data, len(data) // 2)})
    assert verify_bundle(bad) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"bundle verification FAILED: {name}: "), out


def test_every_file_flipped_or_removed_is_named(small: Path, tmp_path: Path) -> None:
    names = names_of(small)
    assert len(names) > 10
    for name in names:
        data = read(small, name)
        for position in sorted({0, len(data) // 2, len(data) - 1}):
            report = check_bundle(rewrite(small, tmp_path / "x.zip", change={name: flip(data, position)}))
            assert report.problems and report.problems[0]["file"] == name, (name, position, report.problems)
        report = check_bundle(rewrite(small, tmp_path / "x.zip", drop={name}))
        assert report.problems[0]["file"] == name and "missing" in report.problems[0]["problem"], (name, report)


@pytest.mark.parametrize("line_of", ["manifest.json", "manifest.sig", "soa.csv"])
def test_a_changed_line_in_sha256sums_names_sha256sums(small: Path, tmp_path: Path, line_of: str) -> None:
    """Whichever line is edited (even the manifest's own), the other records show SHA256SUMS is the odd one."""
    sums = read(small, "SHA256SUMS")
    position = sums.index(f"  {line_of}\n".encode()) - 10  # inside that line's hex digest
    report = check_bundle(rewrite(small, tmp_path / "x.zip", change={"SHA256SUMS": flip(sums, position)}))
    assert report.problems[0]["file"] == "SHA256SUMS", report.problems


def test_tampering_without_the_zip_comment_still_names_the_data_file(bundle: Path, tmp_path: Path) -> None:
    name = "controls/A.8.24/findings.csv"
    bad = rewrite(bundle, tmp_path / "bad.zip", change={name: read(bundle, name) + b"x\n"}, keep_comment=False)
    report = check_bundle(bad)
    assert report.problems[0] == {"file": name, "problem": "content does not match its SHA-256 in manifest.json"}


def test_a_corrupted_zip_entry_is_named(bundle: Path, tmp_path: Path) -> None:
    """Bytes flipped in the zip file itself (not re-packed): the entry fails its CRC or inflation."""
    name = "controls/A.8.24/findings.csv"
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(name)
    local_header = 30 + len(info.filename.encode()) + int.from_bytes(raw[info.header_offset + 28:
                                                                         info.header_offset + 30], "little")
    raw[info.header_offset + local_header + info.compress_size // 2] ^= 0xFF
    (tmp_path / "bad.zip").write_bytes(bytes(raw))
    report = check_bundle(tmp_path / "bad.zip")
    assert report.problems[0]["file"] == name


def test_an_added_file_is_named(bundle: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = rewrite(bundle, tmp_path / "bad.zip", add={"controls/A.8.24/evidence/extra.json": b"{}"})
    assert verify_bundle(bad, fmt="json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert doc["first_difference"] == {"file": "controls/A.8.24/evidence/extra.json",
                                       "problem": "not listed in manifest.json (extra file)"}


def test_signature_checks_with_the_right_key_and_fails_with_another(bundle: Path, keys, capsys) -> None:  # type: ignore[no-untyped-def]
    (_, public), (_, other_public) = keys
    assert verify_bundle(bundle, public_key=public) == 0
    assert "signature: valid (Ed25519 key fingerprint" in capsys.readouterr().out
    assert verify_bundle(bundle, public_key=other_public) == 1
    out = capsys.readouterr().out
    assert out.startswith("bundle verification FAILED: manifest.sig: the signature over manifest.json does not "
                          "verify with the given public key"), out


def test_a_consistently_rewritten_manifest_fails_the_signature(bundle: Path, keys, tmp_path: Path) -> None:
    """Someone edits a file and rewrites manifest.json, SHA256SUMS and the zip comment to match: only the
    signature can tell, and it does."""
    from agent.export import manifest as mf

    (_, public), _ = keys
    name = "controls/A.8.24/findings.csv"
    data = read(bundle, name).replace(b"fail", b"pass")
    import hashlib

    from agent.export.zipout import FileEntry

    doc = json.loads(read(bundle, "manifest.json"))
    files = [FileEntry(f["path"], hashlib.sha256(data).hexdigest(), len(data)) if f["path"] == name
             else FileEntry(f["path"], f["sha256"], f["size"]) for f in doc.pop("files")]
    raw = mf.manifest_bytes(doc, files)
    sig = read(bundle, "manifest.sig")
    man_hex, sig_hex = hashlib.sha256(raw).hexdigest(), hashlib.sha256(sig).hexdigest()
    sums = mf.render_sums(mf.sums_entries(((f.path, f.sha256) for f in files), man_hex, sig_hex))
    forged = rewrite(bundle, tmp_path / "forged.zip", change={name: data, "manifest.json": raw, "SHA256SUMS": sums},
                     keep_comment=False)
    with zipfile.ZipFile(forged, "a") as zf:
        zf.comment = mf.zip_comment(man_hex, sig_hex)
    assert check_bundle(forged).ok  # hashes alone are consistent again...
    report = check_bundle(forged, public_key=public)
    assert report.problems[0]["file"] == "manifest.sig" and report.signature == "invalid"


def test_unsigned_bundle_with_a_public_key_fails_on_the_signature(history: History, keys, tmp_path: Path) -> None:
    out = tmp_path / "unsigned.zip"
    export(history, out, controls=["A.8.24"])
    (_, public), _ = keys
    report = check_bundle(out)
    assert report.ok and report.signature == "absent"
    report = check_bundle(out, public_key=public)
    assert report.problems[0]["file"] == "manifest.sig" and "not signed" in report.problems[0]["problem"]


def test_not_a_zip_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.zip").write_text("just text")
    assert verify_bundle(tmp_path / "notes.zip") == 2
    assert "not a zip file" in capsys.readouterr().err
    assert verify_bundle(tmp_path / "absent.zip", fmt="json") == 2
    assert json.loads(capsys.readouterr().out)["error"].endswith("no such file")
