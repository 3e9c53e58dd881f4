"""Replacing or adding one section of an ELF file, in memory.

pyelftools only reads, and shelling out to objcopy would make the library
depend on binutils, so this is a small section-table rewrite.  It never moves
or renumbers an existing section (symbols and relocations refer to sections by
index): the new contents, a grown ``.shstrtab`` if a name has to be added, and
the section header table go after everything the file already holds; a new
section takes the next index.  Old copies are dropped only when they sat at
the very end of the file, so repeated runs do not grow it; anything in the
middle stays, unreferenced, which tools accept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ELFError
from ..format.elf import section_table

__all__ = ["set_section"]

_SHT_PROGBITS = 1
_SHT_NOBITS = 8
_SHN_LORESERVE = 0xFF00
_MAX_ALIGN = 1 << 16  # beyond this, the header is more likely corrupt than demanding


@dataclass
class _Layout:
    end: str  # struct byte-order prefix
    is64: bool
    ehdr: struct.Struct
    shdr: struct.Struct
    phdr_end: int


def _layout(data: bytes | bytearray, name: str) -> _Layout:
    if len(data) < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ELFError(f"{name}: not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        ehdr = struct.Struct(end + "16sHHIQQQIHHHHHH")
        shdr = struct.Struct(end + "IIQQQQIIQQ")
    else:
        ehdr = struct.Struct(end + "16sHHIIIIIHHHHHH")
        shdr = struct.Struct(end + "IIIIIIIIII")
    if len(data) < ehdr.size:
        raise ELFError(f"{name}: truncated ELF header")
    f = ehdr.unpack_from(data)
    phoff, phentsize, phnum = f[5], f[9], f[10]
    return _Layout(end, is64, ehdr, shdr, phoff + phentsize * phnum if phnum else 0)


def set_section(data: bytes | bytearray, section: str, contents: bytes, *, name: str = "ELF",
                align: int = 4) -> bytes:  # fmt: skip
    """A copy of the ELF ``data`` whose section ``section`` holds ``contents``.

    An existing section of that name keeps its index and header fields (only
    its offset and size change); otherwise a ``SHT_PROGBITS`` section without
    flags is added at the end of the section table.
    """
    section_table(data, name)  # the checks every reader of ELF structure makes
    lay = _layout(data, name)
    f = list(lay.ehdr.unpack_from(data))
    shoff, shentsize, shnum, shstrndx = f[6], f[11], f[12], f[13]
    if shoff == 0 or shnum == 0 or shstrndx >= _SHN_LORESERVE:
        raise ELFError(f"{name}: no section table, or extended section numbering (not supported)")
    if shentsize != lay.shdr.size or shoff + shnum * shentsize > len(data):
        raise ELFError(f"{name}: truncated or malformed section header table")
    headers = [list(lay.shdr.unpack_from(data, shoff + i * shentsize)) for i in range(shnum)]
    # header fields: 0 name, 1 type, 2 flags, 3 addr, 4 offset, 5 size, 6 link, 7 info, 8 align, 9 entsize
    strtab_hdr = headers[shstrndx]
    shstr = bytes(data[strtab_hdr[4] : strtab_hdr[4] + strtab_hdr[5]])

    def sec_name(h: list[int]) -> bytes:
        e = shstr.find(b"\0", h[0])
        return shstr[h[0] : e if e >= 0 else len(shstr)]

    target = next((i for i, h in enumerate(headers) if i and sec_name(h) == section.encode()), None)
    moved = {target} if target is not None else set()
    new_shstr = None
    if target is None:
        new_shstr = shstr + section.encode() + b"\0"
        moved.add(shstrndx)
    # Everything that must stay where it is: headers, segments' file ranges, other sections.
    keep = max(lay.ehdr.size, lay.phdr_end)
    if lay.phdr_end:
        pf = struct.Struct(lay.end + ("IIQQQQQQ" if lay.is64 else "IIIIIIII"))
        phoff, phentsize, phnum = f[5], f[9], f[10]
        if phentsize != pf.size or lay.phdr_end > len(data):
            raise ELFError(f"{name}: truncated or malformed program header table")
        for i in range(phnum):
            p = pf.unpack_from(data, phoff + i * phentsize)
            off, filesz = (p[2], p[5]) if lay.is64 else (p[1], p[4])
            keep = max(keep, off + filesz)
    for i, h in enumerate(headers):
        if i and i not in moved and h[1] != _SHT_NOBITS:
            keep = max(keep, h[4] + h[5])
    out = bytearray(data[:keep])

    def place(blob: bytes, alignment: int) -> int:
        pad = -len(out) % max(alignment, 1)
        out.extend(b"\0" * pad)
        at = len(out)
        out.extend(blob)
        return at

    if target is not None:
        if headers[target][8] > _MAX_ALIGN:
            raise ELFError(f"{name}: section {section} claims an alignment of {headers[target][8]}")
        headers[target][4] = place(contents, max(headers[target][8], 1))
        headers[target][5] = len(contents)
    else:
        assert new_shstr is not None
        headers[shstrndx][4] = place(new_shstr, 1)
        headers[shstrndx][5] = len(new_shstr)
        at = place(contents, align)
        headers.append([len(shstr), _SHT_PROGBITS, 0, 0, at, len(contents), 0, 0, align, 0])
        if len(headers) >= _SHN_LORESERVE:
            raise ELFError(f"{name}: too many sections to add one")
    f[6] = place(b"", 8 if lay.is64 else 4)
    f[12] = len(headers)
    for h in headers:
        out.extend(lay.shdr.pack(*h))
    out[: lay.ehdr.size] = lay.ehdr.pack(*f)
    return bytes(out)
