"""`annexa verify FILE.zip`: recompute every hash of a bundle and name the first file that differs.

Exit codes: 0 everything matches; 1 a file differs, is missing or is extra, or the signature does not
verify with the given key; 2 the file is not a readable zip (or the public key is unusable).
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from agent.errors import AnnexaError
from agent.export import manifest as mf
from agent.export import signing

EXIT_OK, EXIT_MISMATCH, EXIT_UNUSABLE = 0, 1, 2
CHUNK = 1 << 16


class BundleUnreadable(AnnexaError):
    """The file is missing or not a zip."""


@dataclass
class Report:
    bundle: str
    files: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    signature: str = "absent"  # absent | unchecked | valid | invalid
    key_fingerprint: str | None = None
    manifest_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "bundle": self.bundle, "files": self.files,
                "first_difference": self.problems[0] if self.problems else None, "problems": self.problems,
                "signature": self.signature, "key_fingerprint": self.key_fingerprint,
                "manifest_sha256": self.manifest_sha256}


class _Checker:
    def __init__(self, path: Path, public_key: Any | None):
        self.path = path
        self.public_key = public_key
        self.flags: dict[str, str] = {}
        self.actual: dict[str, tuple[str, int]] = {}
        self.raw: dict[str, bytes] = {}

    def flag(self, name: str, problem: str) -> None:
        self.flags.setdefault(name, problem)

    def read_all(self, zf: zipfile.ZipFile) -> list[str]:
        names: list[str] = []
        for info in zf.infolist():
            name = info.filename
            if info.is_dir():
                continue
            if name in names:
                self.flag(name, "appears more than once in the zip")
                continue
            names.append(name)
            if name.startswith("/") or "\\" in name or ".." in name.split("/"):
                self.flag(name, "unsafe path in the zip")
            keep = name in mf.INTEGRITY_FILES
            digest, size, chunks = hashlib.sha256(), 0, []
            try:
                with zf.open(info) as fh:
                    while block := fh.read(CHUNK):
                        digest.update(block)
                        size += len(block)
                        if keep:
                            chunks.append(block)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
                self.flag(name, f"cannot be read from the zip (corrupt entry: {exc})")
                continue
            self.actual[name] = (digest.hexdigest(), size)
            if keep:
                self.raw[name] = b"".join(chunks)
        return names

    def check(self) -> Report:
        report = Report(bundle=str(self.path))
        try:
            zf = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise BundleUnreadable(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise BundleUnreadable(f"{self.path}: is a directory, not a zip file") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise BundleUnreadable(f"{self.path}: not a zip file ({exc})") from None
        with zf:
            names = self.read_all(zf)
            comment = mf.parse_comment(zf.comment) or {}
        report.files = len(names)
        doc = self._manifest(names, comment)
        report.manifest_sha256 = self.actual.get(mf.MANIFEST, (None, 0))[0]
        sums = mf.parse_sums(self.raw[mf.SUMS]) if mf.SUMS in self.raw else None
        self._files(names, doc, sums, comment)
        self._sums(names, doc, sums, comment)
        self._signature(names, doc, report)
        position = {n: i for i, n in enumerate(names)}
        ordered = sorted(self.flags.items(), key=lambda kv: position.get(kv[0], len(names)))
        report.problems = [{"file": name, "problem": problem} for name, problem in ordered]
        return report

    def _manifest(self, names: list[str], comment: dict[str, str]) -> dict[str, Any] | None:
        if mf.MANIFEST not in names:
            self.flag(mf.MANIFEST, "missing from the bundle")
            return None
        if mf.MANIFEST not in self.actual:
            return None
        have = self.actual[mf.MANIFEST][0]
        sums = mf.parse_sums(self.raw[mf.SUMS]) if mf.SUMS in self.raw else None
        listed = sums.entries.get(mf.MANIFEST) if sums else None
        if "manifest" in comment:
            if have != comment["manifest"]:
                self.flag(mf.MANIFEST, "content differs from the digest recorded when the bundle was written")
            elif listed is not None and listed != have:
                self.flag(mf.SUMS, "its entry for manifest.json does not match manifest.json")
        elif listed is not None and listed != have:
            self.flag(mf.MANIFEST, "content does not match its SHA-256 in SHA256SUMS")
        try:
            doc = json.loads(self.raw[mf.MANIFEST].decode("utf-8"))
            files = doc["files"]
            if not isinstance(files, list) or not all(
                    isinstance(f, dict) and {"path", "sha256", "size"} <= f.keys() for f in files):
                raise ValueError("bad files list")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            self.flag(mf.MANIFEST, "is not a valid Annexa manifest (JSON with a files list)")
            return None
        return doc if mf.MANIFEST not in self.flags else None

    def _files(self, names: list[str], doc: dict[str, Any] | None, sums: mf.ParsedSums | None,
               comment: dict[str, str]) -> None:
        if doc is not None:
            ref = {f["path"]: (f["sha256"], f["size"]) for f in doc["files"]}
            where = "manifest.json"
        else:  # the manifest cannot be trusted: fall back to SHA256SUMS for the other files
            ref = {p: (d, None) for p, d in (sums.entries.items() if sums else []) if p not in mf.INTEGRITY_FILES}
            where = "SHA256SUMS"
        for name in names:
            if name in (mf.MANIFEST, mf.SUMS) or name not in self.actual:
                continue
            have, size = self.actual[name]
            if name == mf.SIGNATURE:
                self._signature_file(have, sums, comment)
                continue
            if name not in ref:
                self.flag(name, f"not listed in {where} (extra file)")
                continue
            want, want_size = ref[name]
            if have != want or (want_size is not None and size != want_size):
                self.flag(name, f"content does not match its SHA-256 in {where}")
            elif doc is not None and sums is not None and sums.entries.get(name) != have:
                self.flag(mf.SUMS, f"its entry for {name} is missing or does not match the file")
        for path in ref:
            if path not in names:
                self.flag(path, f"missing from the bundle (listed in {where})")
        expects_sig = bool(comment.get("sig")) or (doc is not None and doc.get("signature")) or (
            sums is not None and mf.SIGNATURE in sums.entries)
        if expects_sig and mf.SIGNATURE not in names:
            self.flag(mf.SIGNATURE, "missing from the bundle (the bundle was signed)")

    def _signature_file(self, have: str, sums: mf.ParsedSums | None, comment: dict[str, str]) -> None:
        listed = sums.entries.get(mf.SIGNATURE) if sums else None
        if "sig" in comment:
            if have != comment["sig"]:
                self.flag(mf.SIGNATURE, "content differs from the digest recorded when the bundle was written")
            elif sums is not None and listed != have:
                self.flag(mf.SUMS, "its entry for manifest.sig is missing or does not match the file")
        elif sums is not None and listed != have:
            self.flag(mf.SIGNATURE, "content does not match its SHA-256 in SHA256SUMS")

    def _sums(self, names: list[str], doc: dict[str, Any] | None, sums: mf.ParsedSums | None,
              comment: dict[str, str]) -> None:
        if mf.SUMS not in names:
            self.flag(mf.SUMS, "missing from the bundle")
            return
        if sums is None or mf.SUMS in self.flags:
            return
        if sums.error:
            self.flag(mf.SUMS, f"malformed: {sums.error}")
            return
        if doc is None or mf.MANIFEST not in self.actual:
            return
        sig = comment.get("sig") or (self.actual[mf.SIGNATURE][0] if mf.SIGNATURE in self.actual else None)
        if mf.SIGNATURE in self.flags:
            sig = sums.entries.get(mf.SIGNATURE, sig)
        listed = ((f["path"], f["sha256"]) for f in doc["files"])
        expected = mf.render_sums(mf.sums_entries(listed, self.actual[mf.MANIFEST][0], sig))
        if self.raw[mf.SUMS] != expected:
            got, want = self.raw[mf.SUMS].decode("utf-8", "replace").splitlines(), expected.decode().splitlines()
            line = next((i for i, (a, b) in enumerate(zip(got, want, strict=False), 1) if a != b),
                        min(len(got), len(want)) + 1)
            self.flag(mf.SUMS, f"does not match the bundle's file list (first difference at line {line})")

    def _signature(self, names: list[str], doc: dict[str, Any] | None, report: Report) -> None:
        present = mf.SIGNATURE in names
        report.signature = "unchecked" if present else "absent"
        if self.public_key is None:
            return
        report.key_fingerprint = signing.fingerprint(self.public_key)
        if not present:
            self.flag(mf.SIGNATURE, "missing: the bundle is not signed, but --public-key was given")
            report.signature = "invalid"
            return
        if mf.SIGNATURE not in self.raw or mf.MANIFEST not in self.raw:
            report.signature = "invalid"
            return
        if signing.check(self.public_key, self.raw[mf.MANIFEST], self.raw[mf.SIGNATURE]):
            report.signature = "valid"
        else:
            report.signature = "invalid"
            self.flag(mf.SIGNATURE, "the signature over manifest.json does not verify with the given public key "
                                    f"(fingerprint {report.key_fingerprint})")


def check_bundle(path: str | Path, public_key: str | Path | None = None) -> Report:
    """Check a bundle; raises BundleUnreadable (not a zip) or InputError (bad key file)."""
    key = signing.load_public_key_file(public_key) if public_key else None
    return _Checker(Path(path), key).check()


def verify_bundle(bundle: str | Path, public_key: str | Path | None = None, fmt: str = "text") -> int:
    """The CLI entry: print the outcome (text, or one JSON document) and return the exit code."""
    try:
        report = check_bundle(bundle, public_key)
    except AnnexaError as exc:
        if fmt == "json":
            sys.stdout.write(json.dumps({"ok": False, "bundle": str(bundle), "error": str(exc)}, indent=2) + "\n")
        click.echo(f"annexa: error: {exc}", err=True)
        return EXIT_UNUSABLE
    if fmt == "json":
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
        return EXIT_OK if report.ok else EXIT_MISMATCH
    if report.ok:
        sig = {"valid": f"valid (Ed25519 key fingerprint {report.key_fingerprint})",
               "unchecked": "present but not checked (pass --public-key KEY.pem to check it)",
               "absent": "none (the bundle is not signed)"}[report.signature]
        click.echo(f"bundle OK: {bundle}: {report.files} files match manifest.json and SHA256SUMS; "
                   f"signature: {sig}")
        return EXIT_OK
    first = report.problems[0]
    click.echo(f"bundle verification FAILED: {first['file']}: {first['problem']}")
    for extra in report.problems[1:11]:
        click.echo(f"  also: {extra['file']}: {extra['problem']}")
    if len(report.problems) > 11:
        click.echo(f"  ... and {len(report.problems) - 11} more")
    return EXIT_MISMATCH
