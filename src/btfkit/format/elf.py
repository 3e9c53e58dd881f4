"""Finding BTF inside containers: ELF objects, compressed modules and kernel images.

ELF parsing is pyelftools'; decompression is the standard library's (gzip, xz,
bzip2), ``zstandard``'s and ``lz4``'s.  A bzImage (``vmlinuz``) carries the
compressed ELF vmlinux as its payload, which is unpacked and read like any ELF.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import ELFError

__all__ = ["BTFSections", "ELFError", "SectionTable", "btf_sections", "bzimage_payload", "decompress",
           "section_table", "unwrap"]

BTF_SECTION = ".BTF"
BTF_BASE_SECTION = ".BTF.base"
BTF_EXT_SECTION = ".BTF.ext"

_ELF_MAGIC = b"\x7fELF"
_LZ4_LEGACY_MAGIC = 0x184C2102
_LZ4_LEGACY_BLOCK = 8 << 20


@dataclass(frozen=True)
class BTFSections:
    """The BTF-related sections of one ELF object."""

    btf: bytes
    base_btf: bytes | None
    ext: bytes | None
    pointer_size: int  # from the ELF class: 4 or 8


# pyelftools, lz4 and zstandard are imported where they are first needed: most
# inputs are raw BTF, and importing them would double a short command's run time.


def _decompress_lz4_legacy(data: bytes | bytearray | memoryview) -> bytes:
    """The kernel's legacy LZ4 framing: magic, then (u32 size, block) pairs."""
    import lz4.block  # noqa: PLC0415 (see above)

    out = []
    pos = 4
    n = len(data)
    while pos + 4 <= n:
        (size,) = struct.unpack_from("<I", data, pos)
        if size == _LZ4_LEGACY_MAGIC:  # concatenated streams
            pos += 4
            continue
        if pos + 4 + size > n:
            break  # the trailing word is the kernel's appended uncompressed size
        block = bytes(data[pos + 4 : pos + 4 + size])
        try:
            out.append(lz4.block.decompress(block, uncompressed_size=_LZ4_LEGACY_BLOCK))
        except lz4.block.LZ4BlockError as exc:
            raise ValueError(str(exc)) from exc
        pos += 4 + size
    return b"".join(out)


def _decompress_zstd(data: bytes | bytearray | memoryview) -> bytes:
    import zstandard  # noqa: PLC0415 (see above)

    try:
        return zstandard.ZstdDecompressor().decompressobj().decompress(bytes(data))
    except zstandard.ZstdError as exc:
        raise ValueError(str(exc)) from exc


def _decompress_gzip(data: bytes | bytearray | memoryview) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(data)


def _decompress_xz(data: bytes | bytearray | memoryview) -> bytes:
    return lzma.LZMADecompressor().decompress(data)


def _decompress_bzip2(data: bytes | bytearray | memoryview) -> bytes:
    return bz2.BZ2Decompressor().decompress(data)


# Magic prefixes of the compressions used for modules and kernel payloads.
_DECOMPRESSORS = (
    (b"\x1f\x8b", "gzip", _decompress_gzip),
    (b"\xfd7zXZ\x00", "xz", _decompress_xz),
    (b"\x5d\x00\x00", "lzma", _decompress_xz),
    (b"\x28\xb5\x2f\xfd", "zstd", _decompress_zstd),
    (struct.pack("<I", _LZ4_LEGACY_MAGIC), "lz4", _decompress_lz4_legacy),
    (b"BZh", "bzip2", _decompress_bzip2),
)


def decompress(data: bytes | bytearray | memoryview, name: str) -> bytes | None:
    """Decompress ``data`` if it starts with a known compression magic, else ``None``."""
    head = bytes(data[:8])
    for magic, label, fn in _DECOMPRESSORS:
        if head.startswith(magic):
            try:
                return fn(data)
            except (OSError, EOFError, ValueError, RuntimeError, lzma.LZMAError, zlib.error) as exc:
                raise ELFError(f"{name}: corrupt {label} data: {exc}") from exc
    return None


def bzimage_payload(data: bytes | bytearray | memoryview) -> memoryview | None:
    """The compressed payload of an x86 bzImage, or ``None`` if ``data`` is not one."""
    if len(data) < 0x250 or bytes(data[0x202:0x206]) != b"HdrS":
        return None
    setup_sects = data[0x1F1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    if length == 0 or start + length > len(data):
        return None
    return memoryview(data)[start : start + length]


def container_extent(head: bytes | bytearray, name: str) -> int | None:
    """How many bytes of a stream starting with ``head`` an ELF, compressed or bzImage input needs.

    For reading devices and FIFOs, whose size is not known beforehand: an ELF
    extends to the end of its section table and of its sections; compressed data
    and kernel images to the end of the stream (None).  Anything else is refused
    at once (``/dev/zero`` is read no further than its head).
    """
    if len(head) < 64:
        return 64
    if bytes(head[:4]) == _ELF_MAGIC:
        return _elf_extent(head)
    if any(bytes(head).startswith(magic) for magic, _label, _fn in _DECOMPRESSORS):
        return None
    if len(head) < 0x206:
        return 0x206
    if bytes(head[0x202:0x206]) == b"HdrS":
        return None
    raise ELFError(f"{name}: neither raw BTF, ELF, a compressed module nor a bzImage")


def _elf_extent(head: bytes | bytearray) -> int:
    """The end of the ELF's section table, and (once the table is in ``head``) of its sections."""
    raw = _raw_table(head)
    if raw is None or raw[1] > len(head):
        return max(raw[1] if raw is not None else 0, 64)
    headers, table_end = raw
    return max([table_end, *(h.offset + h.size for h in headers if h.type != SHT_NOBITS)])


def unwrap(data: bytes | bytearray | memoryview, name: str) -> bytes | bytearray | memoryview:
    """Peel compression and bzImage layers until an ELF (or something unknown) remains."""
    for _ in range(4):
        if bytes(data[:4]) == _ELF_MAGIC:
            return data
        payload = bzimage_payload(data)
        if payload is not None:
            data = payload
            continue
        inner = decompress(data, name)
        if inner is None:
            return data
        data = inner
    return data


SHT_NOBITS = 8
SHF_COMPRESSED = 0x800
_SHN_XINDEX = 0xFFFF


class SectionHeader(NamedTuple):
    """The fields of one section header that reading needs."""

    name: int  # offset into the section name table
    type: int
    flags: int
    offset: int
    size: int
    link: int


@dataclass(frozen=True)
class SectionTable:
    """An ELF's section headers and names, checked to lie inside the file."""

    is64: bool
    little: bool
    headers: list[SectionHeader]
    names: list[bytes]

    def find(self, wanted: str) -> SectionHeader | None:
        """The first section named ``wanted`` (None if there is none)."""
        key = wanted.encode()
        return next((h for h, n in zip(self.headers, self.names, strict=True) if n == key), None)


def _raw_table(data: bytes | bytearray | memoryview) -> tuple[list[SectionHeader], int] | None:
    """The section headers, unchecked, and where their table ends.

    None if the ELF header is incomplete; no headers if there is no table (end 0)
    or it extends past ``data`` (its end tells how much more to read).
    """
    if len(data) < 64 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
        entsize, shnum = struct.unpack_from(end + "2H", data, 0x3A)
        fmt = struct.Struct(end + "IIQQQQI")  # name, type, flags, addr, offset, size, link
    else:
        (shoff,) = struct.unpack_from(end + "I", data, 0x20)
        entsize, shnum = struct.unpack_from(end + "2H", data, 0x2E)
        fmt = struct.Struct(end + "IIIIIII")
    if shoff == 0 or entsize < fmt.size:
        return [], 0
    if shnum == 0 and shoff + fmt.size <= len(data):  # extended numbering: the count is in section 0
        shnum = fmt.unpack_from(data, shoff)[5]
    table_end = shoff + shnum * entsize
    if table_end > len(data):
        return [], table_end
    headers = []
    for i in range(shnum):
        n, t, flags, _addr, off, size, link = fmt.unpack_from(data, shoff + i * entsize)
        headers.append(SectionHeader(n, t, flags, off, size, link))
    return headers, table_end


def section_table(data: bytes | bytearray | memoryview, name: str) -> SectionTable:
    """Read and check an ELF's section table: every section (but NOBITS) and the table itself
    inside the file, a readable name table.

    The one check of ELF structure btfkit makes before anything (pyelftools, the
    encoder, the section editor) trusts an offset: corrupt input ends here as an
    :class:`ELFError`, never as an OverflowError or a seek past the end.
    """
    if len(data) < 64 or bytes(data[:4]) != _ELF_MAGIC:
        raise ELFError(f"{name}: not an ELF file, or a truncated ELF header")
    if data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ELFError(f"{name}: unknown ELF class {data[4]} or data encoding {data[5]}")
    end = "<" if data[5] == 1 else ">"
    raw = _raw_table(data)
    assert raw is not None
    headers, table_end = raw
    if not headers:
        if table_end:
            raise ELFError(f"{name}: the section header table (to byte {table_end}) lies outside the file "
                           f"({len(data)} bytes)")  # fmt: skip
        raise ELFError(f"{name}: no section header table")
    (shstrndx,) = struct.unpack_from(end + "H", data, 0x3E if data[4] == 2 else 0x32)
    if shstrndx == _SHN_XINDEX:
        shstrndx = headers[0].link
    for i, h in enumerate(headers):
        if i and h.type != SHT_NOBITS and h.offset + h.size > len(data):
            raise ELFError(f"{name}: section {i} ({h.offset:#x}+{h.size:#x}) lies outside the file "
                           f"({len(data)} bytes)")  # fmt: skip
    if not 0 < shstrndx < len(headers):
        raise ELFError(f"{name}: section name table index {shstrndx} out of range")
    strtab = headers[shstrndx]
    if strtab.type == SHT_NOBITS or strtab.flags & SHF_COMPRESSED:
        raise ELFError(f"{name}: the section name table (section {shstrndx}) holds no plain data")
    table = bytes(data[strtab.offset : strtab.offset + strtab.size])
    names = []
    for i, h in enumerate(headers):
        stop = table.find(b"\0", h.name)
        if stop < 0 and (i or h.name):
            raise ELFError(f"{name}: section {i}'s name (offset {h.name}) is outside the section name table")
        names.append(table[h.name : stop] if stop >= 0 else b"")
    return SectionTable(data[4] == 2, data[5] == 1, headers, names)


def btf_sections(data: bytes | bytearray | memoryview, name: str) -> BTFSections:
    """Extract ``.BTF`` (required), ``.BTF.base`` and ``.BTF.ext`` from an ELF or its wrapping."""
    data = unwrap(data, name)
    if bytes(data[:4]) != _ELF_MAGIC:
        raise ELFError(f"{name}: neither raw BTF, ELF, a compressed module nor a bzImage")
    table = section_table(data, name)
    found: dict[str, bytes | None] = {}
    for wanted in (BTF_SECTION, BTF_BASE_SECTION, BTF_EXT_SECTION):
        h = table.find(wanted)
        if h is None:
            found[wanted] = None
        elif h.type == SHT_NOBITS:
            raise ELFError(f"{name}: section {wanted} has no data")
        elif h.flags & SHF_COMPRESSED:
            found[wanted] = _compressed_section(data, name, wanted)
        else:
            found[wanted] = bytes(data[h.offset : h.offset + h.size])
    btf = found[BTF_SECTION]
    if btf is None:
        raise ELFError(f"{name}: no {BTF_SECTION} section")
    return BTFSections(btf, found[BTF_BASE_SECTION], found[BTF_EXT_SECTION], 8 if table.is64 else 4)


def _compressed_section(data: bytes | bytearray | memoryview, name: str, section: str) -> bytes:
    """A SHF_COMPRESSED section's contents, decompressed by pyelftools (rare: no fast path)."""
    from elftools.common.exceptions import ELFError as _PyELFError  # noqa: PLC0415 (see above)
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415

    try:
        sec = ELFFile(io.BytesIO(data)).get_section_by_name(section)
        if sec is None:
            raise ELFError(f"{name}: pyelftools does not find section {section}")
        return bytes(sec.data())
    # Beyond its own ELFError, pyelftools reports corrupt input with whatever its stream
    # and struct code meets: a bad index, a short read, zlib's error.
    except (_PyELFError, struct.error, ValueError, OSError, ArithmeticError, LookupError, zlib.error) as exc:
        raise ELFError(f"{name}: unreadable compressed section {section}: {exc}") from exc
