"""Pass 2 for STRUCT and UNION: every member resolved and checked to fit its
struct (bitfields, alignment, INT members, sizes), as the kernel's
``btf_struct_resolve`` and the per-kind ``check_member`` operations do."""

from __future__ import annotations

from ...format.kinds import (
    ELEMS,
    INFO,
    INT_ENCODING,
    MEMBER_OFFSET,
    MEMBER_TYPE,
    MEMBER_WORDS,
    SIZE,
    Kind,
)
from .common import (
    _MOD,
    _POINTER_SIZE,
    _SIZED,
    _SIZELESS,
    _SOURCE_ONLY,
    _U32,
)
from .resolve import _Resolution


class _Members(_Resolution):
    def _resolve_struct(self, v: list[int]) -> None:
        tid, first = v
        words, w = self.rec(tid)
        info, size = words[w + INFO], words[w + SIZE]
        vlen = info & 0xFFFF
        owner = (tid, size, bool(info >> 31))
        if first:  # the member pushed last time is resolved now: check it
            p = w + ELEMS + MEMBER_WORDS * (first - 1)
            self._check_member(owner, words[p + MEMBER_TYPE], words[p + MEMBER_OFFSET], p)
        for i in range(first, vlen):
            p = w + ELEMS + MEMBER_WORDS * i
            mtype = words[p + MEMBER_TYPE]
            k = self.kind(mtype)
            if k < 0 or _SIZELESS[k] or _SOURCE_ONLY[k]:
                what = "does not exist" if k < 0 else "has no size" if k == 0 else f"is a {Kind(k).name}"
                self.fail(tid, f"member of type {mtype}, which {what}", p + MEMBER_TYPE)
            if not self._sink(k) and not self._done(mtype):
                v[1] = i + 1
                self._push(mtype)
                return
            self._check_member(owner, mtype, words[p + MEMBER_OFFSET], p)
        self._pop(0, 0)

    def _check_member(self, owner: tuple[int, int, bool], mtype: int, off: int, p: int) -> None:
        """Does a member of type ``mtype`` at ``off`` (raw offset word) fit its struct?

        ``owner`` is the struct's ID, size and kind_flag; ``p`` the member's first word.
        """
        sid, size, kflag = owner
        k = self.kinds[mtype]
        if _MOD[k]:
            found = self._id_size(mtype)
            if found is None:
                self.fail(sid, f"member of type {mtype}, which has no size", p + MEMBER_TYPE)
            mtype = found[0]
            k = self.kinds[mtype]
        if kflag and k not in (Kind.INT, Kind.ENUM, Kind.ENUM64):
            if off >> 24:
                self.fail(sid, f"bitfield member of a {Kind(k).name}", p + MEMBER_OFFSET)
            kflag = False  # the offset word is then a plain bit offset
        if k == Kind.INT:
            self._check_int_member((sid, size, kflag), mtype, off, p)
            return
        if k in (Kind.ENUM, Kind.ENUM64) and kflag:
            boff, nbits = off & 0xFFFFFF, off >> 24
            if not nbits:
                if boff & 7:
                    self.fail(sid, f"member at bit offset {boff} is not byte aligned", p + MEMBER_OFFSET)
                nbits = 32  # the kernel assumes an int-sized enum here
            elif nbits > 32:
                self.fail(sid, f"enum bitfield of {nbits} bits", p + MEMBER_OFFSET)
            if size < (boff + nbits + 7) // 8:
                self.fail(sid, "member runs past the struct's size", p + MEMBER_OFFSET)
            return
        if k == Kind.FLOAT:
            fsize = self.size_word(mtype)
            if off % (8 * min(_POINTER_SIZE, fsize)):
                self.fail(sid, f"FLOAT member at bit offset {off} is not aligned", p + MEMBER_OFFSET)
            if off // 8 + fsize > size:
                self.fail(sid, "member runs past the struct's size", p + MEMBER_OFFSET)
            return
        if off & 7:
            self.fail(sid, f"member at bit offset {off} is not byte aligned", p + MEMBER_OFFSET)
        if k == Kind.PTR:
            msize = _POINTER_SIZE
        elif k == Kind.ARRAY:
            msize = self.rsizes[mtype]
        elif _SIZED[k] and k != Kind.DATASEC:
            msize = self.size_word(mtype)
        else:
            self.fail(sid, f"member of type {mtype} ({Kind(k).name}) cannot be a member", p + MEMBER_TYPE)
        if (size - off // 8) & _U32 < msize:  # unsigned, as the kernel computes it
            self.fail(sid, "member runs past the struct's size", p + MEMBER_OFFSET)

    def _check_int_member(self, owner: tuple[int, int, bool], mtype: int, off: int, p: int) -> None:
        sid, size, kflag = owner
        words, w = self.rec(mtype)
        data = words[w + INT_ENCODING]
        ibits, ioff = data & 0xFF, (data >> 16) & 0xFF
        if kflag:
            if not self._int_regular(mtype):
                self.fail(
                    sid, f"bitfield member of INT [{mtype}], which is itself a bitfield", p + MEMBER_TYPE
                )
            nbits, boff = off >> 24, off & 0xFFFFFF
            if not nbits:
                if boff & 7:
                    self.fail(sid, f"member at bit offset {boff} is not byte aligned", p + MEMBER_OFFSET)
                nbits = ibits
            elif nbits > ibits:
                self.fail(sid, f"bitfield of {nbits} bits is wider than its {ibits}-bit INT", p + MEMBER_OFFSET)
        else:
            if _U32 - off < ioff:
                self.fail(sid, "member bit offset overflows", p + MEMBER_OFFSET)
            boff, nbits = off + ioff, ibits
        copy_bits = nbits + (boff & 7)
        if copy_bits > 128:
            self.fail(sid, f"bitfield spans {copy_bits} bits, more than 128", p + MEMBER_OFFSET)
        start = boff // 8
        if size < start or size - start < (copy_bits + 7) // 8:
            self.fail(sid, "member runs past the struct's size", p + MEMBER_OFFSET)
