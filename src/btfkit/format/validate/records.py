"""Pass 1, each record on its own, in ID order: info bits, kind, name syntax,
kind_flag and vlen, sizes, member offsets, DATASEC entries.  The per-kind facts
come from :data:`~btfkit.format.kinds.KINDS` (``names``, ``elem_names``,
``kflag_ok``, ``vlen_max``, ``size_values``); only what a table cannot say (INT
encodings, member and entry layout) has code here."""

from __future__ import annotations

from ...format.kinds import (
    ARRAY_INDEX_TYPE,
    ARRAY_TYPE,
    DECL_TAG_COMPONENT,
    ELEMS,
    INFO,
    INT_ENCODING,
    KINDS,
    MAX_NAME_OFFSET,
    MAX_TYPE_ID,
    MEMBER_NAME,
    MEMBER_OFFSET,
    MEMBER_TYPE,
    MEMBER_WORDS,
    NAME_OFF,
    SIZE,
    TYPE,
    VAR_LINKAGE,
    VARSEC_OFFSET,
    VARSEC_SIZE,
    VARSEC_TYPE,
    VARSEC_WORDS,
    Kind,
    Names,
)
from .common import (
    _INFO_MASK,
    _INT_MASK,
    _U32,
)
from .state import _State


class _Records(_State):
    def _meta_pass(self) -> None:
        words, start, str_end = self.words, self.start, self.str_end
        max_off = min(str_end - 1, MAX_NAME_OFFSET)
        kinds = bytearray(self.count)
        meta = self._meta
        name_ok = self.name_ok
        for i, w in enumerate(self.offs):
            tid = start + i
            name_off, info, size = words[w + NAME_OFF], words[w + INFO], words[w + SIZE]
            if info & ~_INFO_MASK:
                self.fail(tid, f"unused bits set in info {info:#010x}", w + INFO)
            k = (info >> 24) & 0x1F
            spec = KINDS.get(k)
            if spec is None:
                self.fail(tid, f"unknown kind {k}", w + INFO)
            kinds[tid] = k
            if name_off > max_off:
                self.fail(tid, f"name offset {name_off} out of range", w)
            vlen = info & 0xFFFF
            if vlen > spec.vlen_max:
                what = "linkage" if k == Kind.FUNC else "vlen"
                self.fail(tid, f"{spec.label} with {what} {vlen} (at most {spec.vlen_max})", w + INFO)
            if info >> 31 and not spec.kflag_ok:
                self.fail(tid, f"{spec.label} with kind_flag set", w + INFO)
            if not name_ok(spec.names, name_off):
                self.fail(tid, f"{spec.label} with invalid name {self._raw(name_off)!r}", w)
            if spec.size_values is not None and size not in spec.size_values:
                allowed = ", ".join(map(str, sorted(spec.size_values)))
                self.fail(tid, f"{spec.label} with size {size} (must be {allowed})", w + SIZE)
            if spec.type_ref and size > MAX_TYPE_ID:
                self.fail(tid, f"type ID {size} out of range", w + TYPE)
            check = meta.get(k)
            if check is not None:
                check(tid, w, info, vlen, size)
        self.kinds = kinds

    def _meta_int(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        p = w + INT_ENCODING
        data = self.words[p]
        if data & ~_INT_MASK:
            self.fail(tid, f"INT data {data:#010x} has unused bits set", p)
        bits = (data & 0xFF) + ((data >> 16) & 0xFF)
        if bits > 128:
            self.fail(tid, f"INT bits + bit offset = {bits}, more than 128", p)
        if (bits + 7) // 8 > size:
            self.fail(tid, f"INT of {bits} bits (with offset) does not fit its {size} bytes", p)
        if (data >> 24) not in (0, 1, 2, 4):
            self.fail(
                tid, f"INT encoding {data >> 24:#x}: at most one of SIGNED, CHAR, BOOL", p
            )

    def _meta_array(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        for p, what in ((w + ARRAY_TYPE, "element"), (w + ARRAY_INDEX_TYPE, "index")):
            ref = self.words[p]
            if ref == 0 or ref > MAX_TYPE_ID:
                self.fail(tid, f"ARRAY {what} type {ref} invalid", p)

    def _meta_members(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        words, max_off = self.words, min(self.str_end - 1, MAX_NAME_OFFSET)
        is_union = (info >> 24) & 0x1F == Kind.UNION
        kflag = info >> 31
        last = 0
        for p in range(w + ELEMS, w + ELEMS + MEMBER_WORDS * vlen, MEMBER_WORDS):
            name_off, mtype, off = words[p + MEMBER_NAME], words[p + MEMBER_TYPE], words[p + MEMBER_OFFSET]
            if name_off > max_off:
                self.fail(tid, f"member name offset {name_off} out of range", p + MEMBER_NAME)
            if name_off and not self.name_ok(Names.IDENT, name_off):
                self.fail(tid, f"member with invalid name {self._raw(name_off)!r}", p + MEMBER_NAME)
            if mtype == 0 or mtype > MAX_TYPE_ID:
                self.fail(tid, f"member of type {mtype} (void or out of range)", p + MEMBER_TYPE)
            if kflag:
                off &= 0xFFFFFF
            if is_union and off:
                self.fail(tid, f"union member at bit offset {off} (must be 0)", p + MEMBER_OFFSET)
            if off < last:
                self.fail(
                    tid, f"member bit offset {off} before the previous member's {last}", p + MEMBER_OFFSET
                )
            if (off + 7) // 8 > size:
                self.fail(tid, f"member bit offset {off} beyond the {size}-byte struct", p + MEMBER_OFFSET)
            last = off

    def _meta_enum(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        words, max_off = self.words, min(self.str_end - 1, MAX_NAME_OFFSET)
        step = KINDS[(info >> 24) & 0x1F].elem_words
        for p in range(w + ELEMS, w + ELEMS + step * vlen, step):  # the name is an element's first word
            name_off = words[p]
            if name_off > max_off:
                self.fail(tid, f"enumerator name offset {name_off} out of range", p)
            if not self.name_ok(Names.IDENT, name_off):
                self.fail(tid, f"enumerator with invalid name {self._raw(name_off)!r}", p)

    def _meta_var(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        if size == 0:
            self.fail(tid, "VAR of type void", w + TYPE)
        linkage = self.words[w + VAR_LINKAGE]
        if linkage not in (0, 1):
            self.fail(
                tid, f"VAR linkage {linkage}: the kernel takes only static (0) or global (1)", w + VAR_LINKAGE
            )

    def _meta_datasec(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        if size == 0:
            self.fail(tid, "DATASEC of size 0", w + SIZE)
        words = self.words
        end = total = 0
        for p in range(w + ELEMS, w + ELEMS + VARSEC_WORDS * vlen, VARSEC_WORDS):
            vtype, off, vsize = words[p + VARSEC_TYPE], words[p + VARSEC_OFFSET], words[p + VARSEC_SIZE]
            if vtype == 0 or vtype > MAX_TYPE_ID:
                self.fail(tid, f"DATASEC entry of type {vtype} (void or out of range)", p + VARSEC_TYPE)
            if off < end:
                self.fail(
                    tid, f"DATASEC entry at {off} overlaps or precedes the previous one", p + VARSEC_OFFSET
                )
            if off >= size:
                self.fail(tid, f"DATASEC entry at {off} beyond the section's {size} bytes", p + VARSEC_OFFSET)
            if vsize == 0 or vsize > size:
                self.fail(tid, f"DATASEC entry of size {vsize}", p + VARSEC_SIZE)
            end = off + vsize
            if end > size:
                self.fail(
                    tid, f"DATASEC entry {off}+{vsize} runs past the section's {size} bytes", p + VARSEC_SIZE
                )
            total += vsize
        if total > size:
            self.fail(tid, f"DATASEC entries total {total} bytes, more than its size {size}", w + SIZE)

    def _meta_decl_tag(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        idx = self.words[w + DECL_TAG_COMPONENT]
        if idx >= 0x80000000 and idx != _U32:
            self.fail(tid, f"DECL_TAG component index {idx - (1 << 32)} < -1", w + DECL_TAG_COMPONENT)
