"""``.BTF.ext``: the per-instruction side of a BPF object's BTF.

A BPF object's ``.BTF.ext`` section tells the loader, for each code section,
which BTF ``FUNC`` each function starts with (*func_info*), which source line
each instruction came from (*line_info*) and which instructions a CO-RE
relocation patches (*core_relo*).  Its layout, as libbpf reads it::

    header   magic (0xeB9F), version, flags, hdr_len,
             func_info_off/len, line_info_off/len[, core_relo_off/len]
    info     (each of the three, at its offset from the header's end)
             u32 rec_size, then per code section:
                 u32 sec_name_off, u32 num_info, num_info records of rec_size bytes

Every ``*_off`` in a record (section names, file names, source lines, CO-RE
access strings) points into the string section of the object's ``.BTF``.
Instruction offsets are in bytes in an object file (libbpf turns them into
instruction indexes when it loads).

:func:`parse` reads either byte order and keeps everything the bytes say
(record sizes larger than today's, extra header bytes, the info blocks' places)
so that :func:`to_bytes` gives back the same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from ..errors import BTFFormatError
from .btf import ByteOrder
from .kinds import MAGIC

__all__ = [
    "BTFExt",
    "CoreRelo",
    "CoreReloKind",
    "ExtSection",
    "FuncInfo",
    "LineInfo",
    "parse",
    "to_bytes",
]

#: Header length without and with the CO-RE relocation block.
_HEADER_LEN = 24
_HEADER_LEN_CORE = 32


class CoreReloKind(IntEnum):
    """``enum bpf_core_relo_kind``: what a CO-RE relocation computes."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12

    @property
    def label(self) -> str:
        """libbpf's lower-case name (``field_byte_offset``, ``type_matches``, ...)."""
        return self.name.lower()

    @property
    def short_label(self) -> str:
        """The name libbpf's debug log uses (``byte_off``, ``byte_sz``, ``signed``, ...)."""
        return _SHORT_LABELS.get(self, self.label)

    @property
    def is_field(self) -> bool:
        return self <= CoreReloKind.FIELD_RSHIFT_U64

    @property
    def is_type(self) -> bool:
        return CoreReloKind.TYPE_ID_LOCAL <= self <= CoreReloKind.TYPE_SIZE or self == CoreReloKind.TYPE_MATCHES

    @property
    def is_enumval(self) -> bool:
        return self in (CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE)


_SHORT_LABELS = {
    CoreReloKind.FIELD_BYTE_OFFSET: "byte_off",
    CoreReloKind.FIELD_BYTE_SIZE: "byte_sz",
    CoreReloKind.FIELD_SIGNED: "signed",
    CoreReloKind.FIELD_LSHIFT_U64: "lshift_u64",
    CoreReloKind.FIELD_RSHIFT_U64: "rshift_u64",
    CoreReloKind.TYPE_ID_LOCAL: "local_type_id",
    CoreReloKind.TYPE_ID_TARGET: "target_type_id",
}


class FuncInfo(NamedTuple):
    """``struct bpf_func_info``: the ``FUNC`` type of the function starting at ``insn_off``."""

    insn_off: int
    type_id: int
    tail: bytes = b""  # bytes of a longer record than this format knows


class LineInfo(NamedTuple):
    """``struct bpf_line_info``: source file, line text, line number and column of an instruction."""

    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int  # line number << 10 | column
    tail: bytes = b""

    @property
    def line(self) -> int:
        return self.line_col >> 10

    @property
    def column(self) -> int:
        return self.line_col & 0x3FF


class CoreRelo(NamedTuple):
    """``struct bpf_core_relo``: relocate instruction ``insn_off`` by ``kind`` along an access path."""

    insn_off: int
    type_id: int
    access_str_off: int
    kind: int  # a CoreReloKind, kept as read (unknown kinds survive a round trip)
    tail: bytes = b""


_FIXED = {FuncInfo: 2, LineInfo: 4, CoreRelo: 4}  # u32 fields of each record
_KINDS: dict[str, type[FuncInfo | LineInfo | CoreRelo]] = {
    "func_info": FuncInfo, "line_info": LineInfo, "core_relo": CoreRelo,
}  # fmt: skip


@dataclass
class ExtSection:
    """One code section's records in one info block."""

    name_off: int
    records: list[FuncInfo] | list[LineInfo] | list[CoreRelo]


@dataclass
class InfoBlock:
    """One info block (func_info, line_info or core_relo): its record size and sections."""

    rec_size: int
    sections: list[ExtSection] = field(default_factory=list)
    #: Offset from the end of the header, and length in bytes, as read (None: lay out anew).
    place: tuple[int, int] | None = None


@dataclass
class BTFExt:
    """A parsed ``.BTF.ext`` section."""

    byteorder: ByteOrder = "little"
    version: int = 1
    flags: int = 0
    func_info: InfoBlock = field(default_factory=lambda: InfoBlock(8))
    line_info: InfoBlock = field(default_factory=lambda: InfoBlock(16))
    #: None when the header has no CO-RE fields (hdr_len 24).
    core_relo: InfoBlock | None = field(default_factory=lambda: InfoBlock(16))
    #: Header bytes beyond those this format knows (a newer header).
    header_tail: bytes = b""
    #: Bytes after the last block that belong to no block (kept for an exact round trip).
    trailer: bytes = b""

    def blocks(self) -> list[tuple[str, InfoBlock]]:
        """The present info blocks, by name, in header order."""
        out = [("func_info", self.func_info), ("line_info", self.line_info)]
        if self.core_relo is not None:
            out.append(("core_relo", self.core_relo))
        return out

    def relocations(self) -> list[tuple[int, int, CoreRelo]]:
        """Every CO-RE relocation as (section name offset, index within its section, record)."""
        if self.core_relo is None:
            return []
        return [
            (sec.name_off, i, rec)
            for sec in self.core_relo.sections
            for i, rec in enumerate(sec.records)
            if isinstance(rec, CoreRelo)
        ]


def _byteorder(data: bytes) -> ByteOrder:
    if len(data) < 8:
        raise BTFFormatError(".BTF.ext: too short for a header", offset=0)
    if data[0] | data[1] << 8 == MAGIC:
        return "little"
    if data[0] << 8 | data[1] == MAGIC:
        return "big"
    raise BTFFormatError(f".BTF.ext: bad magic {data[0]:#04x}{data[1]:02x}", offset=0)


def _parse_block(data: bytes, end: str, at: int, place: tuple[int, int], what: str) -> InfoBlock:
    off, length = place
    kind = _KINDS[what]
    if off % 4 or (length and length < 4) or at + length > len(data):
        raise BTFFormatError(f".BTF.ext: {what} block ({off}+{length}) outside the section", offset=at)
    fixed = _FIXED[kind]
    if length == 0:
        return InfoBlock(fixed * 4, place=(off, 0))
    (rec_size,) = struct.unpack_from(end + "I", data, at)
    if rec_size < fixed * 4 or rec_size % 4:
        raise BTFFormatError(f".BTF.ext: {what} record size {rec_size} (want >= {fixed * 4})", offset=at)
    block = InfoBlock(rec_size, place=(off, length))
    pos, stop = at + 4, at + length
    rec = struct.Struct(end + "I" * fixed)
    while pos < stop:
        if pos + 8 > stop:
            raise BTFFormatError(f".BTF.ext: {what} section header cut short", offset=pos)
        name_off, num = struct.unpack_from(end + "II", data, pos)
        pos += 8
        if num == 0 or pos + num * rec_size > stop:
            raise BTFFormatError(f".BTF.ext: {what} section with {num} records does not fit", offset=pos - 8)
        records = []
        for _ in range(num):
            records.append(kind._make((*rec.unpack_from(data, pos), bytes(data[pos + fixed * 4 : pos + rec_size]))))
            pos += rec_size
        block.sections.append(ExtSection(name_off, records))  # type: ignore[arg-type]
    return block


def parse(data: bytes | bytearray | memoryview) -> BTFExt:
    """Parse a ``.BTF.ext`` section in either byte order.

    Raises :class:`~btfkit.errors.BTFFormatError` naming the offset of the first
    problem (bad magic, a block outside the section, a record size too small for
    its kind, a section whose records overrun its block).
    """
    data = bytes(data)
    byteorder = _byteorder(data)
    end = "<" if byteorder == "little" else ">"
    _magic, version, flags, hdr_len = struct.unpack_from(end + "HBBI", data, 0)
    if hdr_len < _HEADER_LEN or hdr_len > len(data) or hdr_len % 4:
        raise BTFFormatError(f".BTF.ext: header length {hdr_len}", offset=4)
    fi_off, fi_len, li_off, li_len = struct.unpack_from(end + "4I", data, 8)
    ext = BTFExt(byteorder, version, flags)
    ext.func_info = _parse_block(data, end, hdr_len + fi_off, (fi_off, fi_len), "func_info")
    ext.line_info = _parse_block(data, end, hdr_len + li_off, (li_off, li_len), "line_info")
    known = _HEADER_LEN
    if hdr_len >= _HEADER_LEN_CORE:
        cr_off, cr_len = struct.unpack_from(end + "2I", data, 24)
        ext.core_relo = _parse_block(data, end, hdr_len + cr_off, (cr_off, cr_len), "core_relo")
        known = _HEADER_LEN_CORE
    else:
        ext.core_relo = None
    ext.header_tail = data[known:hdr_len]
    last = max(hdr_len + (b.place[0] + b.place[1] if b.place else 0) for _, b in ext.blocks())
    ext.trailer = data[last:]
    return ext


def _block_bytes(block: InfoBlock, end: str) -> bytes:
    if not block.sections:
        return b""
    fixed = _FIXED[type(block.sections[0].records[0])]
    rec = struct.Struct(end + "I" * fixed)
    pad = block.rec_size - fixed * 4
    out = [struct.pack(end + "I", block.rec_size)]
    for sec in block.sections:
        out.append(struct.pack(end + "II", sec.name_off, len(sec.records)))
        for r in sec.records:
            tail = r.tail[:pad].ljust(pad, b"\0")
            out.append(rec.pack(*r[:fixed]) + tail)
    return b"".join(out)


def to_bytes(ext: BTFExt, byteorder: ByteOrder | None = None) -> bytes:
    """The ``.BTF.ext`` bytes of ``ext`` (in its own byte order unless told otherwise).

    Blocks go where the parsed section had them when their length is unchanged;
    otherwise one after the other in header order, as compilers lay them out.
    """
    end = "<" if (byteorder or ext.byteorder) == "little" else ">"
    blocks = [(b, _block_bytes(b, end)) for _, b in ext.blocks()]
    known = _HEADER_LEN_CORE if ext.core_relo is not None else _HEADER_LEN
    hdr_len = known + len(ext.header_tail)
    keep = all(b.place is not None and b.place[1] == len(body) for b, body in blocks)
    places: list[tuple[int, int]] = []
    pos = 0
    for b, body in blocks:
        if keep:
            assert b.place is not None
            places.append(b.place)
        else:
            places.append((pos, len(body)))
            pos += len(body)
    size = max((o + n for o, n in places), default=0)
    body_bytes = bytearray(size)
    for (o, n), (_, body) in zip(places, blocks, strict=True):
        body_bytes[o : o + n] = body
    header = struct.pack(end + "HBBI", MAGIC, ext.version, ext.flags, hdr_len)
    header += b"".join(struct.pack(end + "II", *p) for p in places) + ext.header_tail
    return header + bytes(body_bytes) + (ext.trailer if keep else b"")
