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

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import stat
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

from agent.errors import AnnexaError
from agent.export import manifest as mf
from agent.export import signing
from agent.export.manifest_stream import read_manifest as read_manifest_stream
from agent.export.manifest_stream import text_lines
from agent.export.verify_policy import check_policy, kept
from agent.export.zipscan import ZipScan

EXIT_OK, EXIT_MISMATCH, EXIT_UNUSABLE = 0, 1, 2
CHUNK = 1 << 16
MiB = 1 << 20
MAX_MEMBER_BYTES = 32 << 30  # a data file (streamed, never held whole)
MAX_INTEGRITY_BYTES = {mf.MANIFEST: 128 * MiB, mf.SUMS: 128 * MiB, mf.SIGNATURE: 64 * 1024}  # for any bundle
# manifest.json and SHA256SUMS list every entry (about 210 and 160 bytes each in a real bundle), so a
# bundle with more entries may have larger ones: their cap grows by this much per entry the zip's
# directory really holds (a year of 10,000 resources: 261,099 entries, a 54 MB manifest).
INTEGRITY_BYTES_PER_ENTRY = 512
MIN_DIRECTORY_RECORD = 46  # bytes of a central directory record with an empty name
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


def integrity_caps(zs: ZipScan) -> dict[str, int]:
    """The caps on the integrity files of this zip: a fixed base, plus an allowance per entry.

    The entry count is the smaller of the one the end record declares and the number of records the
    declared directory size can hold, so a forged count cannot raise the caps.
    """
    entries = min(zs.count, zs.cd_size // MIN_DIRECTORY_RECORD)
    allowance = INTEGRITY_BYTES_PER_ENTRY * entries
    return {name: cap + (allowance if name in (mf.MANIFEST, mf.SUMS) else 0)
            for name, cap in MAX_INTEGRITY_BYTES.items()}


def refuse_bombs(path: Path, infos: Iterable[zipfile.ZipInfo], caps: dict[str, int] | None = None) -> None:
    """Raise BundleRefused when an entry (or the whole zip) declares more than any bundle can hold."""
    caps = caps or MAX_INTEGRITY_BYTES
    total = 0
    for info in infos:
        size, packed = info.file_size, info.compress_size
        cap = caps.get(info.filename, MAX_MEMBER_BYTES)
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
    """A bundle's manifest.json as a document without its `files` list, read within the same caps as
    `annexa verify` (the zip directory and the file list are streamed, never held).

    Raises BundleUnreadable (not a zip, no manifest, refused as a bomb, not a manifest object).
    """
    try:
        with ZipScan(path) as zs:
            info = next((i for i in zs.infos() if i.filename == mf.MANIFEST), None)
            if info is None:
                raise KeyError(mf.MANIFEST)
            refuse_bombs(Path(path), [info], integrity_caps(zs))
            with zs.open(info) as fh:  # reads stop at the declared size, which refuse_bombs capped
                doc = read_manifest_stream(fh, lambda _file: None)
    except KeyError:
        raise BundleUnreadable(f"{path}: no manifest.json in the zip") from None
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, ValueError, NotImplementedError) as exc:
        raise BundleUnreadable(f"{path}: not a readable bundle ({exc})") from None
    return doc


class _Entries:
    """What verify learns about the zip's entries, kept in an unlinked temporary SQLite file.

    A year's bundle has hundreds of thousands of entries: the entry table, the manifest's file list and
    SHA256SUMS live here instead of in memory, so verifying uses about the same memory whatever the
    number of entries (only the problems found are held).
    """

    BATCH = 2000

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="annexa-verify-", suffix=".entries")
        os.close(fd)
        try:
            self.db = sqlite3.connect(path, isolation_level=None)
            for sql in ("PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF",
                        # every entry, first occurrence of each name; sha256 NULL when not read
                        "CREATE TABLE entries (pos INTEGER PRIMARY KEY, name TEXT UNIQUE, sha256 TEXT, size INTEGER,"
                        " dir_size INTEGER)",
                        # manifest.json's files as a lookup (a path listed twice: its last values, first place)
                        "CREATE TABLE listed (path TEXT PRIMARY KEY, n INTEGER, sha256 TEXT, size INTEGER)",
                        "CREATE TABLE listed_order (n INTEGER PRIMARY KEY, path TEXT, sha256 TEXT)",
                        "CREATE TABLE sums (path TEXT PRIMARY KEY, n INTEGER, sha256 TEXT)",
                        "BEGIN"):
                self.db.execute(sql)
        finally:
            os.unlink(path)  # open, but gone from the folder: nothing is left behind by a killed verify
        self.pending: list[tuple[str, int, int]] = []

    def add(self, pos: int, name: str) -> bool:
        """Record an entry name; False when the name was seen before."""
        return self.db.execute("INSERT OR IGNORE INTO entries (pos, name) VALUES (?, ?)", (pos, name)).rowcount == 1

    def hashed(self, pos: int, digest: str, size: int) -> None:
        self.pending.append((digest, size, pos))
        if len(self.pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.db.executemany("UPDATE entries SET sha256 = ?, size = ? WHERE pos = ?", self.pending)
            self.pending = []

    def one(self, sql: str, *args: Any) -> Any:
        row = self.db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()


class _Actual(Mapping[str, tuple[str, int]]):
    """name -> (sha256 hex, size) of every entry that was read, looked up in the entry table."""

    def __init__(self, entries: _Entries):
        self.entries = entries

    def __getitem__(self, name: str) -> tuple[str, int]:
        row = self.entries.db.execute("SELECT sha256, size FROM entries WHERE name = ? AND sha256 IS NOT NULL",
                                      (name,)).fetchone()
        if row is None:
            raise KeyError(name)
        return row[0], row[1]

    def __iter__(self) -> Iterator[str]:
        return (n for (n,) in self.entries.db.execute(
            "SELECT name FROM entries WHERE sha256 IS NOT NULL ORDER BY pos").fetchall())

    def __len__(self) -> int:
        return int(self.entries.one("SELECT COUNT(*) FROM entries WHERE sha256 IS NOT NULL"))


class _Checker:
    """One verification. Entries are hashed in one streamed pass over the zip (its directory is read
    record by record, never held); manifest.json and SHA256SUMS are spilled to temporary files and
    read back as streams; the comparisons run over the entry table (agent.export.verify._Entries)."""

    def __init__(self, path: Path, public_key: Any | None, *, skip_signature: bool = False):
        self.path = path
        self.public_key = public_key
        self.skip_signature = skip_signature
        self.flags: dict[str, str] = {}
        self.entries = _Entries()
        self.actual = _Actual(self.entries)
        self.raw: dict[str, bytes] = {}  # the signature and the policy files verify_policy reads
        self.spilled: dict[str, IO[bytes]] = {}  # manifest.json and SHA256SUMS, decompressed
        self.sums_read = False
        self.sums_error: str | None = None

    def flag(self, name: str, problem: str) -> None:
        self.flags.setdefault(name, problem)

    def present(self, name: str) -> bool:
        return self.entries.one("SELECT 1 FROM entries WHERE name = ?", name) is not None

    def listed_in_sums(self, name: str) -> str | None:
        return self.entries.one("SELECT sha256 FROM sums WHERE path = ?", name) if self.sums_read else None

    def read_all(self, zs: ZipScan) -> None:
        """Hash every plain-file entry (integrity files spilled or kept); flag every other entry."""
        try:
            refuse_bombs(self.path, zs.infos(), integrity_caps(zs))
        except (zipfile.BadZipFile, NotImplementedError, UnicodeDecodeError) as exc:
            raise BundleUnreadable(f"{self.path}: not a zip file ({exc})") from None
        for pos, info in enumerate(zs.infos()):
            name = info.filename
            if not self.entries.add(pos, name):
                self.flag(name, "appears more than once in the zip")
                continue
            problem = entry_problem(info)
            if problem:
                self.flag(name, problem)
                continue
            if info.is_dir():
                self.entries.db.execute("UPDATE entries SET dir_size = ? WHERE pos = ?", (info.file_size, pos))
                continue
            self._read(zs, info, pos)
        self.entries.flush()

    def _read(self, zs: ZipScan, info: zipfile.ZipInfo, pos: int) -> None:
        name = info.filename
        spill = name in (mf.MANIFEST, mf.SUMS)
        keep = not spill and (name in mf.INTEGRITY_FILES or kept(name))
        digest, size, chunks = hashlib.sha256(), 0, []
        out: IO[bytes] | None = tempfile.TemporaryFile() if spill else None  # noqa: SIM115 - closed in close()
        try:
            with zs.open(info) as fh:
                while block := fh.read(CHUNK):
                    size += len(block)
                    if size > info.file_size:  # zipfile stops at the declared size; never trust it alone
                        self.flag(name, f"inflates beyond its declared size of {info.file_size} bytes")
                        return
                    digest.update(block)
                    if keep:
                        chunks.append(block)
                    elif out is not None:
                        out.write(block)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            self.flag(name, f"cannot be read from the zip (corrupt entry: {exc})")
            return
        finally:
            if out is not None and name in self.flags:
                out.close()
        self.entries.hashed(pos, digest.hexdigest(), size)
        if keep:
            self.raw[name] = b"".join(chunks)
        elif out is not None:
            out.seek(0)
            self.spilled[name] = out

    def close(self) -> None:
        for fh in self.spilled.values():
            fh.close()
        self.entries.close()

    def check(self) -> Report:
        try:
            return self._check()
        finally:
            self.close()

    def _check(self) -> Report:
        report = Report(bundle=str(self.path))
        try:
            zs = ZipScan(self.path)
        except FileNotFoundError:
            raise BundleUnreadable(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise BundleUnreadable(f"{self.path}: is a directory, not a zip file") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise BundleUnreadable(f"{self.path}: not a zip file ({exc})") from None
        with zs:
            self.read_all(zs)
            comment = mf.parse_comment(zs.comment) or {}
        report.files = int(self.entries.one("SELECT COUNT(*) FROM entries"))
        self._parse_sums()
        doc = self._manifest(comment)
        report.manifest_sha256 = self.actual[mf.MANIFEST][0] if mf.MANIFEST in self.actual else None
        if doc is not None:  # first, so a changed policy file is named as such
            check_policy(doc, self.actual, self.raw, self.flag)
        self._files(doc, comment)
        self._sums(doc, comment)
        self._signature(report)
        flagged = list(self.flags.items())  # only the problems found are held, never the entry list
        position = {name: self.entries.one("SELECT pos FROM entries WHERE name = ?", name) for name, _ in flagged}
        last = report.files
        ordered = sorted(flagged, key=lambda kv: last if position[kv[0]] is None else position[kv[0]])
        report.problems = [{"file": name, "problem": problem} for name, problem in ordered]
        return report

    def _parse_sums(self) -> None:
        """SHA256SUMS into the `sums` table, line by line, with the checks of manifest.parse_sums."""
        fh = self.spilled.get(mf.SUMS)
        if fh is None:
            return
        self.sums_read = True
        db = self.entries.db
        try:
            for n, line in enumerate(text_lines(fh), start=1):
                m = mf.SUM_LINE.match(line)
                if m is None:
                    self.sums_error = self.sums_error or f"line {n} is not '<sha256>  <path>'"
                    continue
                digest, path = m.groups()
                if db.execute("INSERT OR IGNORE INTO sums VALUES (?, ?, ?)", (path, n, digest)).rowcount != 1:
                    self.sums_error = self.sums_error or f"line {n} lists {path} a second time"
        except UnicodeDecodeError:
            db.execute("DELETE FROM sums")
            self.sums_error = "not UTF-8 text"

    def _manifest(self, comment: dict[str, str]) -> dict[str, Any] | None:
        if not self.present(mf.MANIFEST):
            self.flag(mf.MANIFEST, "missing from the bundle")
            return None
        if mf.MANIFEST not in self.actual:
            return None
        have = self.actual[mf.MANIFEST][0]
        listed = self.listed_in_sums(mf.MANIFEST)
        if "manifest" in comment:
            if have != comment["manifest"]:
                self.flag(mf.MANIFEST, "content differs from the digest recorded when the bundle was written")
            elif listed is not None and listed != have:
                self.flag(mf.SUMS, "its entry for manifest.json does not match manifest.json")
        elif listed is not None and listed != have:
            self.flag(mf.MANIFEST, "content does not match its SHA-256 in SHA256SUMS")
        fh = self.spilled[mf.MANIFEST]
        fh.seek(0)
        db = self.entries.db
        pending: list[tuple[int, str, str, int]] = []

        def store() -> None:
            db.executemany("INSERT INTO listed VALUES (?2, ?1, ?3, ?4) ON CONFLICT (path) DO UPDATE SET "
                           "sha256 = excluded.sha256, size = excluded.size", pending)
            db.executemany("INSERT INTO listed_order VALUES (?, ?, ?)", [p[:3] for p in pending])
            pending.clear()

        def on_file(f: Any) -> None:
            if not (isinstance(f, dict) and {"path", "sha256", "size"} <= f.keys() and isinstance(f["path"], str)
                    and isinstance(f["sha256"], str) and isinstance(f["size"], int)):
                raise ValueError("bad files list")
            pending.append((len(pending) + self._listed, f["path"], f["sha256"], f["size"]))
            if len(pending) >= _Entries.BATCH:
                self._listed += len(pending)
                store()

        self._listed = 0
        try:
            doc = read_manifest_stream(fh, on_file)
            store()
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            self.flag(mf.MANIFEST, "is not a valid Annexa manifest (JSON with a files list)")
            return None
        return doc if mf.MANIFEST not in self.flags else None

    def _files(self, doc: dict[str, Any] | None, comment: dict[str, str]) -> None:
        db = self.entries.db
        if doc is not None:
            ref = "SELECT path, n, sha256, size FROM listed"
            where = "manifest.json"
        else:  # the manifest cannot be trusted: fall back to SHA256SUMS for the other files
            integrity = ", ".join(f"'{n}'" for n in mf.INTEGRITY_FILES)
            ref = f"SELECT path, n, sha256, NULL AS size FROM sums WHERE path NOT IN ({integrity})"
            where = "SHA256SUMS"
        check_sums = doc is not None and self.sums_read
        rows = db.execute(f"SELECT e.name, e.sha256, e.size, r.path IS NOT NULL, r.sha256, r.size, s.sha256 "
                          f"FROM entries e LEFT JOIN ({ref}) r ON r.path = e.name LEFT JOIN sums s ON s.path = e.name "
                          "WHERE e.sha256 IS NOT NULL ORDER BY e.pos")
        for name, have, size, in_ref, want, want_size, summed in rows:
            if name in (mf.MANIFEST, mf.SUMS):
                continue
            if name == mf.SIGNATURE:
                self._signature_file(have, comment)
                continue
            if not in_ref:
                self.flag(name, f"not listed in {where} (extra file)")
                continue
            if have != want or (want_size is not None and size != want_size):
                self.flag(name, f"content does not match its SHA-256 in {where}")
            elif check_sums and summed != have:
                self.flag(mf.SUMS, f"its entry for {name} is missing or does not match the file")
        declared = doc.get("directories") if doc is not None else None
        empty_dirs = {d for d in declared if isinstance(d, str)} if isinstance(declared, list) else set()
        for name, size in db.execute("SELECT name, dir_size FROM entries WHERE dir_size IS NOT NULL ORDER BY pos"):
            if size:
                self.flag(name, f"a directory entry holding {size} bytes of data (not listed in {where})")
            elif name not in empty_dirs:
                self.flag(name, f"a directory entry not listed in {where} (extra entry)")
        for (path,) in db.execute(f"SELECT r.path FROM ({ref}) r WHERE r.path NOT IN (SELECT name FROM entries) "
                                  "ORDER BY r.n"):
            self.flag(path, f"missing from the bundle (listed in {where})")
        expects_sig = bool(comment.get("sig")) or (doc is not None and doc.get("signature")) or (
            self.listed_in_sums(mf.SIGNATURE) is not None)
        if expects_sig and not self.present(mf.SIGNATURE):
            self.flag(mf.SIGNATURE, "missing from the bundle (the bundle was signed)")

    def _signature_file(self, have: str, comment: dict[str, str]) -> None:
        listed = self.listed_in_sums(mf.SIGNATURE)
        if "sig" in comment:
            if have != comment["sig"]:
                self.flag(mf.SIGNATURE, "content differs from the digest recorded when the bundle was written")
            elif self.sums_read and listed != have:
                self.flag(mf.SUMS, "its entry for manifest.sig is missing or does not match the file")
        elif self.sums_read and listed != have:
            self.flag(mf.SIGNATURE, "content does not match its SHA-256 in SHA256SUMS")

    def _sums(self, doc: dict[str, Any] | None, comment: dict[str, str]) -> None:
        if not self.present(mf.SUMS):
            self.flag(mf.SUMS, "missing from the bundle")
            return
        if not self.sums_read or mf.SUMS in self.flags:
            return
        if self.sums_error:
            self.flag(mf.SUMS, f"malformed: {self.sums_error}")
            return
        if doc is None or mf.MANIFEST not in self.actual:
            return
        sig = comment.get("sig") or (self.actual[mf.SIGNATURE][0] if mf.SIGNATURE in self.actual else None)
        if mf.SIGNATURE in self.flags:
            sig = self.listed_in_sums(mf.SIGNATURE) or sig
        listed = ((p, d) for p, d in self.entries.db.execute("SELECT path, sha256 FROM listed_order ORDER BY n"))
        expected = mf.iter_sums(mf.iter_sums_entries(listed, self.actual[mf.MANIFEST][0], sig))
        fh = self.spilled[mf.SUMS]
        fh.seek(0)
        line = first_different_line(fh, expected)
        if line is not None:
            self.flag(mf.SUMS, f"does not match the bundle's file list (first difference at line {line})")

    def _signature(self, report: Report) -> None:
        present = self.present(mf.SIGNATURE)
        report.signature = ("skipped" if self.skip_signature else "unchecked") if present else "absent"
        if self.public_key is None:
            return
        report.key_fingerprint = signing.fingerprint(self.public_key)
        if not present:
            self.flag(mf.SIGNATURE, "missing: the bundle is not signed, but --public-key was given")
            report.signature = "invalid"
            return
        if mf.SIGNATURE not in self.raw or mf.MANIFEST not in self.spilled:
            report.signature = "invalid"
            return
        fh = self.spilled[mf.MANIFEST]
        fh.seek(0)  # Ed25519 signs the whole message: the manifest is held for this check only
        if signing.check(self.public_key, fh.read(), self.raw[mf.SIGNATURE]):
            report.signature = "valid"
        else:
            report.signature = "invalid"
            self.flag(mf.SIGNATURE, "the signature over manifest.json does not verify with the given public key "
                                    f"(fingerprint {report.key_fingerprint})")


def first_different_line(fh: IO[bytes], expected: Iterable[bytes]) -> int | None:
    """The first line (1-based) where the stream differs from the expected lines, or None when equal.

    Compared block by block; the line number counts the newlines of the identical part before it, as
    comparing both texts split into lines would find it."""
    lines_before = 0
    pending = bytearray()
    chunks = iter(expected)
    done = False
    while True:
        while not done and len(pending) < CHUNK:
            piece = next(chunks, None)
            if piece is None:
                done = True
            else:
                pending += piece
        want = bytes(pending)
        got = fh.read(len(want)) if want else b""
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
            return lines_before + want.count(b"\n", 0, at) + 1
        if not want:
            return None if not fh.read(1) else lines_before + 1
        lines_before += want.count(b"\n")
        pending.clear()


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
