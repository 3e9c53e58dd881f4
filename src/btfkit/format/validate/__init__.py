"""Validation modelled on the kernel's BTF verifier (``kernel/bpf/btf.c``, Linux 6.18).

:func:`validate` answers "would the running kernel accept this BTF?" for a
:class:`~btfkit.format.btf.BTF` object; :func:`validate_bytes` also checks the header
rules that :func:`~btfkit.format.reader.parse` tolerates (gaps between sections,
trailing bytes, unknown header fields and, for ``BPF_BTF_LOAD``, byte order and
size).  The first broken rule raises :class:`~btfkit.errors.BTFValidationError`
naming the type ID and, where there is one, the byte offset in the blob as
:func:`~btfkit.format.writer.to_bytes` lays it out.

The kernel checks in the same order as here:

1. *Header and sections*: contiguous, no gap, no overlap, strings last.
2. *Strings*: a base's strings start and end with NUL; no string offset past 16M.
3. *Meta pass*: every record on its own, in ID order: info bits, kind, name
   syntax, kind_flag and vlen, sizes, member offsets, DATASEC entries.  The
   per-kind facts come from :data:`~btfkit.format.kinds.KINDS` (``names``,
   ``elem_names``, ``kflag_ok``, ``vlen_max``, ``size_values``); only what a
   table cannot say (INT encodings, member and entry layout) has code here.
4. *Resolve pass*: for every type that refers to others, a depth-first walk
   proving the references end (a loop is allowed only through a pointer) in
   types that have a size, and that every member fits its struct.  The walk
   uses an explicit stack capped at 32 entries like the kernel's, so a
   reference loop or a very long unresolved chain fails instead of recursing.
   The kernel's walk has three modes (how far to follow pointers, arrays and
   structs) and a few quirks (which entries it re-checks after a push); both
   are kept so that btfkit accepts exactly what the kernel accepts.
5. *Type tags* must come before every other modifier in a chain.

Not modelled: the kernel's search for special fields (``bpf_spin_lock``,
kptrs, graph roots) in structs, which only matters for maps and programs.

Layout: :mod:`.records` (pass 1), :mod:`.resolve` and :mod:`.members` (pass 2),
:mod:`.tags` (pass 3), each a mixin of the run's state (:mod:`.state`),
assembled in :mod:`.verifier`.
"""

from __future__ import annotations

import struct
import sys

from ...errors import BTFHeaderError
from ...format.btf import BTF
from ...format.kinds import (
    HEADER_LEN,
)
from ...format.reader import _byteorder, parse
from .common import (
    MAX_LOAD_SIZE,
)
from .verifier import _Verifier

__all__ = ["MAX_LOAD_SIZE", "validate", "validate_bytes"]


def validate(btf: BTF) -> None:
    """Check ``btf`` against the rules of the kernel's BTF verifier.

    A split BTF is checked on top of its base, which is validated first (once;
    the result is cached for as long as the base does not grow).  Raises
    :class:`~btfkit.errors.BTFValidationError` at the first broken rule.
    """
    btf.check_references()
    _Verifier(btf).run()


def validate_bytes(
    data: bytes | bytearray | memoryview, base: BTF | None = None, *, load: bool = False
) -> BTF:
    """Check raw BTF as the kernel would, including header layout; return the parsed BTF.

    With ``load=True`` the rules specific to ``BPF_BTF_LOAD`` apply too: the
    blob must be in the host's byte order and at most :data:`MAX_LOAD_SIZE`.
    Header and section-layout problems raise :class:`~btfkit.errors.BTFHeaderError`
    (as the reader does), anything the reader rejects its own error, and every
    other broken rule :class:`~btfkit.errors.BTFValidationError`; all are
    :class:`~btfkit.errors.BTFFormatError`.
    """
    view = memoryview(data).cast("B")
    order = _byteorder(view)
    size = len(view)
    if load and order != sys.byteorder:
        raise BTFHeaderError(
            f"{order}-endian BTF: the kernel loads only native byte order", offset=0
        )
    if load and size > MAX_LOAD_SIZE:
        raise BTFHeaderError(f"{size} bytes is more than BPF_BTF_LOAD takes ({MAX_LOAD_SIZE})")
    if size < 8:
        raise BTFHeaderError("too short to hold the header length", offset=0)
    fields = struct.unpack_from(("<" if order == "little" else ">") + "I", view, 4)
    hdr_len = fields[0]
    if hdr_len > size:
        raise BTFHeaderError(f"header length {hdr_len} beyond the {size}-byte blob", offset=4)
    if any(view[HEADER_LEN:hdr_len]):
        # 6.18 knows the 24-byte header only; anything after it must be zero.
        raise BTFHeaderError(
            "non-zero header fields past byte 24 (unknown to the kernel)", offset=HEADER_LEN
        )
    if hdr_len >= HEADER_LEN:
        type_off, type_len, str_off, str_len = struct.unpack_from(
            ("<" if order == "little" else ">") + "4I", view, 8
        )
        _check_sections(type_off, type_len, str_off, str_len, size - hdr_len)
    btf = parse(view, base)
    validate(btf)
    return btf


def _check_sections(type_off: int, type_len: int, str_off: int, str_len: int, body: int) -> None:
    """Sections must tile the data after the header exactly, strings last."""
    total = 0
    for off, length, what, at in sorted(
        [(type_off, type_len, "type", 8), (str_off, str_len, "string", 16)]
    ):
        if off > body:
            raise BTFHeaderError(
                f"{what} section offset {off} beyond the data ({body} bytes)", offset=at
            )
        if off > total:
            raise BTFHeaderError(f"gap of {off - total} bytes before the {what} section", offset=at)
        if off < total:
            raise BTFHeaderError(f"{what} section overlaps the previous section", offset=at)
        if length > body - total:
            raise BTFHeaderError(
                f"{what} section length {length} runs past the data", offset=at + 4
            )
        total += length
    if total != body:
        raise BTFHeaderError(f"{body - total} bytes of unknown data after the sections")
    if str_off + str_len != body:
        raise BTFHeaderError("the string section is not at the end of the data", offset=16)
