"""Reading a zip's central directory one record at a time, for `annexa verify`.

`zipfile.ZipFile` reads the whole central directory into a list and a dict of ZipInfo objects when it
opens a file: for a year's bundle (hundreds of thousands of entries) that alone is a few hundred MB.
`ZipScan` finds the end-of-central-directory record (ZIP64 included), then yields the directory's
records as ZipInfo objects while reading it in blocks, and opens an entry from its record with the
same checks as `ZipFile.open` (local header signature and name, unsupported features), reading it
through `zipfile.ZipExtFile`, which stops at the declared sizes and checks the CRC-32.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory
_EOCD_SIG = b"PK\x05\x06"
_LOC64 = struct.Struct("<4sLQL")  # ZIP64 end of central directory locator
_LOC64_SIG = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # ZIP64 end of central directory record
_EOCD64_SIG = b"PK\x06\x06"
_CDIR = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header
_CDIR_SIG = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # local file header
_LOCAL_SIG = b"PK\x03\x04"
_UTF8_NAME = 0x800
_MAX_COMMENT = 0xFFFF
_BLOCK = 1 << 20


class ZipScan:
    """A zip file opened for reading without loading its directory.

    Raises zipfile.BadZipFile when the file has no readable end record, like ZipFile does.
    """

    def __init__(self, path: str | Path):
        self.fp: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()/__exit__
        try:
            self._read_end()
        except BaseException:
            self.fp.close()
            raise

    def __enter__(self) -> ZipScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.fp.close()

    def _read_end(self) -> None:
        fp = self.fp
        fp.seek(0, 2)
        size = fp.tell()
        tail_len = min(size, _EOCD.size + _MAX_COMMENT)
        fp.seek(size - tail_len)
        tail = fp.read(tail_len)
        at = tail.rfind(_EOCD_SIG)
        while at >= 0 and len(tail) - at < _EOCD.size:
            at = tail.rfind(_EOCD_SIG, 0, at)
        if at < 0:
            raise zipfile.BadZipFile("File is not a zip file")
        (_, _, _, _, count, cd_size, cd_offset, comment_len) = _EOCD.unpack_from(tail, at)
        self.comment = tail[at + _EOCD.size:at + _EOCD.size + comment_len]
        location = size - tail_len + at  # where the end record starts
        extra = 0  # bytes of ZIP64 records between the directory and the end record
        if location >= _LOC64.size:
            fp.seek(location - _LOC64.size)
            sig, disk64, _, disks = _LOC64.unpack(fp.read(_LOC64.size))
            if sig == _LOC64_SIG:
                if disk64 != 0 or disks > 1:
                    raise zipfile.BadZipFile("zipfiles that span multiple disks are not supported")
                if location >= _LOC64.size + _EOCD64.size:
                    fp.seek(location - _LOC64.size - _EOCD64.size)
                    record = fp.read(_EOCD64.size)
                    fields = _EOCD64.unpack(record)
                    if fields[0] == _EOCD64_SIG:
                        count, cd_size, cd_offset = fields[7], fields[8], fields[9]
                        extra = _LOC64.size + _EOCD64.size
        # data prepended to the zip ("concat") shifts every offset, as zipfile accounts for it
        self.concat = location - cd_size - cd_offset - extra
        self.start_dir = cd_offset + self.concat
        if self.start_dir < 0:
            raise zipfile.BadZipFile("Bad offset for central directory")
        self.cd_size = cd_size
        self.count = count

    def infos(self) -> Iterator[zipfile.ZipInfo]:
        """The central directory's records, in order, as ZipInfo objects (read in 1 MiB blocks)."""
        fp = self.fp
        pos, end = self.start_dir, self.start_dir + self.cd_size
        buf, at = b"", 0

        def need(n: int) -> bytes:  # the next n bytes of the directory (never past its declared end)
            nonlocal buf, at, pos
            if len(buf) - at < n:
                fp.seek(pos)
                more = fp.read(max(0, min(max(_BLOCK, n - (len(buf) - at)), end - pos)))
                pos += len(more)
                buf = buf[at:] + more
                at = 0
                if len(buf) < n:
                    raise zipfile.BadZipFile("Truncated central directory")
            out = buf[at:at + n]
            at += n
            return out

        total = 0
        while total < self.cd_size:
            fields = _CDIR.unpack(need(_CDIR.size))
            if fields[0] != _CDIR_SIG:
                raise zipfile.BadZipFile("Bad magic number for central directory")
            (create_version, create_system, extract_version, reserved, flags, method, t, d, crc, csize, usize,
             name_len, extra_len, comment_len, volume, internal, external, offset) = fields[1:]
            raw_name = need(name_len)
            name = raw_name.decode("utf-8") if flags & _UTF8_NAME else raw_name.decode("cp437")
            info = zipfile.ZipInfo(name)
            info.extra = need(extra_len)
            info.comment = need(comment_len)
            info.create_version, info.create_system, info.extract_version = create_version, create_system, \
                extract_version
            info.reserved, info.flag_bits, info.compress_type = reserved, flags, method
            info.CRC, info.compress_size, info.file_size, info.header_offset = crc, csize, usize, offset
            if extract_version > zipfile.MAX_EXTRACT_VERSION:
                raise NotImplementedError(f"zip file version {extract_version / 10:.1f}")
            info.volume, info.internal_attr, info.external_attr = volume, internal, external
            info._raw_time = t  # type: ignore[attr-defined]  # as ZipFile sets it (ZipExtFile may read it)
            info.date_time = ((d >> 9) + 1980, (d >> 5) & 0xF, d & 0x1F, t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2)
            _zip64_extra(info)
            info.header_offset += self.concat
            total += _CDIR.size + name_len + extra_len + comment_len
            yield info

    def open(self, info: zipfile.ZipInfo) -> zipfile.ZipExtFile:
        """A reader of the entry's content (the checks of ZipFile.open; ZipExtFile bounds it and checks the CRC)."""
        fp = self.fp
        fp.seek(info.header_offset)
        header = fp.read(_LOCAL.size)
        if len(header) != _LOCAL.size:
            raise zipfile.BadZipFile("Truncated file header")
        fields = _LOCAL.unpack(header)
        if fields[0] != _LOCAL_SIG:
            raise zipfile.BadZipFile("Bad magic number for file header")
        raw_name = fp.read(fields[10])
        if fields[11]:
            fp.read(fields[11])
        if info.flag_bits & 0x20:
            raise NotImplementedError("compressed patched data (flag bit 5)")
        if info.flag_bits & 0x40:
            raise NotImplementedError("strong encryption (flag bit 6)")
        if info.flag_bits & 0x1:
            raise RuntimeError(f"File {info.filename!r} is encrypted")
        name = raw_name.decode("utf-8") if fields[3] & _UTF8_NAME else raw_name.decode("cp437")
        if name != info.orig_filename:
            raise zipfile.BadZipFile(f"File name in directory {info.orig_filename!r} and header {name!r} differ.")
        return zipfile.ZipExtFile(fp, "r", info)


def _zip64_extra(info: zipfile.ZipInfo) -> None:
    """Apply a ZIP64 extra field's sizes and offset (what ZipInfo's own decoding does when reading)."""
    extra = info.extra
    while len(extra) >= 4:
        kind, length = struct.unpack("<HH", extra[:4])
        if length + 4 > len(extra):
            raise zipfile.BadZipFile(f"Corrupt extra field {kind:04x} (size={length})")
        if kind == 0x0001:
            data = extra[4:length + 4]
            try:
                if info.file_size in (0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF):
                    (info.file_size,) = struct.unpack("<Q", data[:8])
                    data = data[8:]
                if info.compress_size == 0xFFFF_FFFF:
                    (info.compress_size,) = struct.unpack("<Q", data[:8])
                    data = data[8:]
                if info.header_offset == 0xFFFF_FFFF:
                    (info.header_offset,) = struct.unpack("<Q", data[:8])
            except struct.error:
                raise zipfile.BadZipFile("Corrupt zip64 extra field") from None
        extra = extra[length + 4:]
