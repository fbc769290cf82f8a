"""`annexa verify FILE.zip`: recompute every hash of a bundle and name the first file that differs.

Exit codes: 0 everything matches (and, for a signed bundle, the signature verifies with the given key,
or checking it was explicitly skipped); 1 a file differs, is missing or is extra, an entry is not a
plain file listed in the manifest, or the signature does not verify with the given key; 2 the file is
not a readable zip, it is refused as a decompression bomb, the public key is unusable, or the bundle is
signed and neither --public-key nor --skip-signature was given.

Every zip entry is accounted for before anything is read: directory entries, symbolic links,
duplicate names and unsafe paths are problems, and declared sizes are checked against caps (the
integrity files, which are held in memory, have much smaller caps) and against a compression-ratio
limit. Reading never goes past an entry's declared size, whatever its local header says.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
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
from agent.export.verify_policy import check_policy, kept

EXIT_OK, EXIT_MISMATCH, EXIT_UNUSABLE = 0, 1, 2
CHUNK = 1 << 16
MiB = 1 << 20
MAX_MEMBER_BYTES = 32 << 30  # a data file (streamed, never held whole)
MAX_INTEGRITY_BYTES = {mf.MANIFEST: 128 * MiB, mf.SUMS: 128 * MiB, mf.SIGNATURE: 64 * 1024}  # held in memory
MAX_RATIO = 200  # uncompressed/compressed; DEFLATE tops out near 1032:1, real bundle files stay far below
RATIO_FLOOR = 16 * MiB  # the ratio limit applies to entries declaring more than this
MAX_TOTAL_BYTES = 1 << 40
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BundleUnreadable(AnnexaError):
    """The file is missing or not a zip."""


class BundleRefused(BundleUnreadable):
    """The zip declares sizes or ratios no Annexa bundle has (a decompression bomb): nothing is read."""


@dataclass
class Report:
    bundle: str
    files: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    signature: str = "absent"  # absent | unchecked | skipped | valid | invalid
    key_fingerprint: str | None = None
    manifest_sha256: str | None = None

    @property
    def ok(self) -> bool:
        """Every entry matches manifest.json and SHA256SUMS (and the signature, when a key was given)."""
        return not self.problems

    @property
    def signature_required(self) -> bool:
        """Signed, but nobody checked the signature nor chose to skip it: hashes alone prove too little."""
        return self.signature == "unchecked"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok and not self.signature_required, "hashes_ok": self.ok, "bundle": self.bundle,
                "files": self.files, "first_difference": self.problems[0] if self.problems else None,
                "problems": self.problems, "signature": self.signature, "key_fingerprint": self.key_fingerprint,
                "manifest_sha256": self.manifest_sha256, "proves": proves(self)}


def proves(report: Report) -> str:
    """What a passing check shows, in one sentence (printed and in the JSON document)."""
    if not report.ok:
        return "nothing: the bundle does not match its own hash lists"
    if report.signature == "valid":
        return ("every file matches manifest.json, and manifest.json was signed with the key given "
                "(fingerprint " + str(report.key_fingerprint) + ")")
    consistent = ("every file matches manifest.json and SHA256SUMS; this shows the bundle is internally "
                  "consistent, not who wrote it (anyone can rebuild a bundle with matching hashes)")
    if report.signature == "absent":
        return consistent + "; the bundle is not signed"
    return consistent + "; the signature was NOT checked"


def _mib(n: int) -> str:
    return f"{n / MiB:.1f} MB" if n < 1 << 30 else f"{n / (1 << 30):.1f} GB"


def entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry's name or type has no place in a bundle (None when it is a plain, safe file)."""
    name = info.filename
    if not name:
        return "an entry with an empty name"
    if name.startswith("/") or _DRIVE.match(name):
        return "unsafe path in the zip (absolute)"
    if "\\" in name:
        return "unsafe path in the zip (backslash)"
    if ".." in name.split("/"):
        return "unsafe path in the zip (..)"
    if _CONTROL.search(name):
        return "unsafe path in the zip (control character)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        return "a symbolic link entry (a bundle holds only plain files)"
    if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "a special file entry (a bundle holds only plain files)"
    if info.flag_bits & 0x1:
        return "an encrypted entry (a bundle holds no encrypted entries)"
    return None


def refuse_bombs(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Raise BundleRefused when an entry (or the whole zip) declares more than any bundle can hold."""
    total = 0
    for info in infos:
        size, packed = info.file_size, info.compress_size
        cap = MAX_INTEGRITY_BYTES.get(info.filename, MAX_MEMBER_BYTES)
        if size > cap:
            raise BundleRefused(f"{path}: {info.filename} declares {_mib(size)} uncompressed, over the "
                                f"{_mib(cap)} limit for it; refusing to read a likely zip bomb")
        if size > RATIO_FLOOR and size > MAX_RATIO * max(packed, 1):
            raise BundleRefused(f"{path}: {info.filename} inflates {_mib(packed)} to {_mib(size)} (ratio "
                                f"{size // max(packed, 1)}:1, limit {MAX_RATIO}:1); refusing to read a likely "
                                "zip bomb")
        total += size
    if total > MAX_TOTAL_BYTES:
        raise BundleRefused(f"{path}: its entries declare {_mib(total)} uncompressed in all, over the "
                            f"{_mib(MAX_TOTAL_BYTES)} limit; refusing to read a likely zip bomb")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A bundle's manifest.json as a document, read within the same caps as `annexa verify`.

    Raises BundleUnreadable (not a zip, no manifest, refused as a bomb, not JSON).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(mf.MANIFEST)
            refuse_bombs(Path(path), [info])
            with zf.open(info) as fh:
                raw = fh.read(MAX_INTEGRITY_BYTES[mf.MANIFEST] + 1)
        doc = json.loads(raw)
    except KeyError:
        raise BundleUnreadable(f"{path}: no manifest.json in the zip") from None
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, ValueError) as exc:
        raise BundleUnreadable(f"{path}: not a readable bundle ({exc})") from None
    if not isinstance(doc, dict):
        raise BundleUnreadable(f"{path}: manifest.json is not a JSON object")
    return doc


class _Checker:
    def __init__(self, path: Path, public_key: Any | None, *, skip_signature: bool = False):
        self.path = path
        self.public_key = public_key
        self.skip_signature = skip_signature
        self.flags: dict[str, str] = {}
        self.actual: dict[str, tuple[str, int]] = {}
        self.raw: dict[str, bytes] = {}
        self.dirs: dict[str, int] = {}  # directory entries: name -> declared size

    def flag(self, name: str, problem: str) -> None:
        self.flags.setdefault(name, problem)

    def read_all(self, zf: zipfile.ZipFile) -> list[str]:
        """Hash every plain-file entry (integrity files kept in memory); flag every other entry."""
        names: list[str] = []
        seen: set[str] = set()
        infos = zf.infolist()
        refuse_bombs(self.path, infos)
        for info in infos:
            name = info.filename
            if name in seen:
                self.flag(name, "appears more than once in the zip")
                continue
            seen.add(name)
            names.append(name)
            problem = entry_problem(info)
            if problem:
                self.flag(name, problem)
                continue
            if info.is_dir():
                self.dirs[name] = info.file_size
                continue
            self._read(zf, info)
        return names

    def _read(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        name = info.filename
        keep = name in mf.INTEGRITY_FILES or kept(name)
        digest, size, chunks = hashlib.sha256(), 0, []
        try:
            with zf.open(info) as fh:
                while block := fh.read(CHUNK):
                    size += len(block)
                    if size > info.file_size:  # zipfile stops at the declared size; never trust it alone
                        self.flag(name, f"inflates beyond its declared size of {info.file_size} bytes")
                        return
                    digest.update(block)
                    if keep:
                        chunks.append(block)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            self.flag(name, f"cannot be read from the zip (corrupt entry: {exc})")
            return
        self.actual[name] = (digest.hexdigest(), size)
        if keep:
            self.raw[name] = b"".join(chunks)

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
        if doc is not None:  # first, so a changed policy file is named as such
            check_policy(doc, self.actual, self.raw, self.flag)
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
        declared = doc.get("directories") if doc is not None else None
        empty_dirs = {d for d in declared if isinstance(d, str)} if isinstance(declared, list) else set()
        for name, size in self.dirs.items():
            if size:
                self.flag(name, f"a directory entry holding {size} bytes of data (not listed in {where})")
            elif name not in empty_dirs:
                self.flag(name, f"a directory entry not listed in {where} (extra entry)")
        present = set(names)  # a set: a year's bundle lists hundreds of thousands of files
        for path in ref:
            if path not in present:
                self.flag(path, f"missing from the bundle (listed in {where})")
        expects_sig = bool(comment.get("sig")) or (doc is not None and doc.get("signature")) or (
            sums is not None and mf.SIGNATURE in sums.entries)
        if expects_sig and mf.SIGNATURE not in present:
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
        report.signature = ("skipped" if self.skip_signature else "unchecked") if present else "absent"
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


def check_bundle(path: str | Path, public_key: str | Path | None = None, *, skip_signature: bool = False) -> Report:
    """Check a bundle; raises BundleUnreadable (not a zip, or refused) or InputError (bad key file).

    Without a key, a signed bundle's signature is reported `unchecked` (or `skipped` when the caller
    chose to skip it); `Report.ok` covers the hashes and, with a key, the signature.
    """
    key = signing.load_public_key_file(public_key) if public_key else None
    return _Checker(Path(path), key, skip_signature=skip_signature and key is None).check()


def _unchecked_message(bundle: str | Path, report: Report) -> str:
    return (f"{bundle}: the bundle is signed, but no --public-key was given, so it was NOT verified: its "
            f"{report.files} files do match manifest.json and SHA256SUMS, but whoever rewrites a bundle can "
            "make those agree too; pass --public-key KEY.pem to check the signature, or --skip-signature to "
            "accept the hashes alone")


def verify_bundle(bundle: str | Path, public_key: str | Path | None = None, fmt: str = "text", *,
                  skip_signature: bool = False) -> int:
    """The CLI entry: print the outcome (text, or one JSON document) and return the exit code."""
    try:
        report = check_bundle(bundle, public_key, skip_signature=skip_signature)
    except AnnexaError as exc:
        if fmt == "json":
            sys.stdout.write(json.dumps({"ok": False, "bundle": str(bundle), "error": str(exc)}, indent=2) + "\n")
        click.echo(f"annexa: error: {exc}", err=True)
        return EXIT_UNUSABLE
    unchecked = report.ok and report.signature_required
    if fmt == "json":
        doc = report.as_dict()
        if unchecked:
            doc["error"] = _unchecked_message(bundle, report)
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_UNUSABLE if unchecked else EXIT_OK if report.ok else EXIT_MISMATCH
    if unchecked:
        click.echo(f"annexa: error: {_unchecked_message(bundle, report)}", err=True)
        return EXIT_UNUSABLE
    if report.ok:
        sig = {"valid": f"valid (Ed25519 key fingerprint {report.key_fingerprint}): manifest.json was signed "
                        "with this key",
               "skipped": "present but NOT checked (--skip-signature): this shows the bundle is internally "
                          "consistent, not who wrote it",
               "absent": "none (the bundle is not signed): this shows the bundle is internally consistent, "
                         "not who wrote it"}[report.signature]
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
