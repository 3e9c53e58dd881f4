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

from ..errors import ELFError

__all__ = ["BTFSections", "ELFError", "btf_sections", "bzimage_payload", "decompress", "unwrap"]

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


_WANTED = (BTF_SECTION.encode(), BTF_BASE_SECTION.encode(), BTF_EXT_SECTION.encode())
_SHT_NOBITS = 8
_SHF_COMPRESSED = 0x800


def _plain_sections(data: bytes | bytearray | memoryview) -> BTFSections | None:
    """The BTF sections of a well-formed ELF read straight from its section table.

    A fast path for the common case (thousands of modules in a tree): anything
    unusual (compressed sections, extended section numbering, a table or a
    section outside the file, no ``.BTF``) gives None, and pyelftools, with its
    error reporting, takes over.
    """
    if len(data) < 64 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        entsize, shnum, shstrndx = struct.unpack_from(end + "3H", data, 0x3A)
        fmt = struct.Struct(end + "IIQQQQ")  # name, type, flags, addr, offset, size
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        entsize, shnum, shstrndx = struct.unpack_from(end + "3H", data, 0x2E)
        fmt = struct.Struct(end + "IIIIII")
    if entsize < fmt.size or not shnum > 0 or shstrndx >= shnum or shoff + shnum * entsize > len(data):
        return None
    headers = [fmt.unpack_from(data, shoff + i * entsize) for i in range(shnum)]
    _n, _t, _f, _a, str_off, str_size = headers[shstrndx]
    if str_off + str_size > len(data):
        return None
    names = bytes(data[str_off : str_off + str_size])
    found: dict[bytes, bytes] = {}
    for sh_name, sh_type, sh_flags, _addr, offset, size in headers:
        stop = names.find(b"\0", sh_name)
        if stop < 0:
            return None
        sec_name = names[sh_name:stop]
        if sec_name in _WANTED:
            if sh_type == _SHT_NOBITS or sh_flags & _SHF_COMPRESSED or offset + size > len(data):
                return None
            found[sec_name] = bytes(data[offset : offset + size])
    if _WANTED[0] not in found:
        return None
    return BTFSections(found[_WANTED[0]], found.get(_WANTED[1]), found.get(_WANTED[2]), 8 if is64 else 4)


def btf_sections(data: bytes | bytearray | memoryview, name: str) -> BTFSections:
    """Extract ``.BTF`` (required), ``.BTF.base`` and ``.BTF.ext`` from an ELF or its wrapping."""
    data = unwrap(data, name)
    if bytes(data[:4]) != _ELF_MAGIC:
        raise ELFError(f"{name}: neither raw BTF, ELF, a compressed module nor a bzImage")
    plain = _plain_sections(data)
    if plain is not None:
        return plain
    from elftools.common.exceptions import ELFError as _PyELFError  # noqa: PLC0415 (see above)
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415

    try:
        elf = ELFFile(io.BytesIO(data))
        found: dict[str, bytes] = {}
        for sec in elf.iter_sections():
            if sec.name in (BTF_SECTION, BTF_BASE_SECTION, BTF_EXT_SECTION):
                if sec["sh_type"] == "SHT_NOBITS":
                    raise ELFError(f"{name}: section {sec.name} has no data")
                found[sec.name] = sec.data()
        pointer_size = 8 if elf.elfclass == 64 else 4
    # Beyond its own ELFError, pyelftools reports corrupt input with whatever its stream
    # and struct code meets: a seek past 2**63 (OverflowError), a bad index, a short read.
    except (_PyELFError, struct.error, ValueError, OSError, ArithmeticError, LookupError) as exc:
        raise ELFError(f"{name}: unreadable ELF: {exc}") from exc
    if BTF_SECTION not in found:
        raise ELFError(f"{name}: no {BTF_SECTION} section")
    return BTFSections(
        found[BTF_SECTION], found.get(BTF_BASE_SECTION), found.get(BTF_EXT_SECTION), pointer_size
    )
