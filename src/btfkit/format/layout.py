"""Size and alignment of a type: the one home of the layout rules.

Two sets of answers come from the same walk over the records:

* libbpf's (``btf__resolve_size``, ``btf__align_of`` and ``btf_dump``'s test
  for a packed struct), which decide how the C dump lays out a struct.
  ``btf__align_of`` caps a scalar's alignment at the pointer size, so a 16-byte
  INT (``__int128``) or FLOAT (``long double``) aligns to 8 there;
* C's (``sizeof`` and ``_Alignof`` as gcc computes them for x86-64 on the
  header the C dump writes): scalars align to their natural size (16 for
  ``__int128``), a struct the C dump marks ``__attribute__((packed))`` aligns
  to 1, any other struct or union to its most aligned member.

:class:`Layout` reads records from flat per-ID columns (the C dumper keeps
such columns and is a :class:`Layout` itself); :meth:`Layout.of` builds them for
any BTF (which keeps them for one generation of its records).
"""

# Hot paths (the C dump asks for every member) compare kinds with chained == and keep
# maxima with ``if``: cheaper than building tuples or calling max.
# ruff: noqa: PLR1714, SIM109, PLR1730
from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from ..errors import BTFFormatError
from .kinds import (
    ARRAY_NELEMS,
    ARRAY_TYPE,
    ELEMS,
    INFO,
    MEMBER_NAME,
    MEMBER_OFFSET,
    MEMBER_TYPE,
    MEMBER_WORDS,
    SIZE,
    TYPE,
    Kind,
    column,
)

if TYPE_CHECKING:
    from .btf import BTF

_PTR = Kind.PTR.value
_ARRAY = Kind.ARRAY.value
_STRUCT = Kind.STRUCT.value
_UNION = Kind.UNION.value

_SCALARS = frozenset({Kind.INT.value, Kind.ENUM.value, Kind.ENUM64.value, Kind.FLOAT.value})
#: Kinds whose record holds their byte size.
SIZED = _SCALARS | {_STRUCT, _UNION, Kind.DATASEC.value}
#: Kinds that have the size of the type they refer to (libbpf's ``btf__resolve_size``).
SIZE_THROUGH = frozenset({Kind.TYPEDEF.value, Kind.VOLATILE.value, Kind.CONST.value, Kind.RESTRICT.value,
                          Kind.VAR.value, Kind.DECL_TAG.value, Kind.TYPE_TAG.value})  # fmt: skip
#: Kinds that have the alignment of the type they refer to (libbpf's ``btf__align_of``).
ALIGN_THROUGH = frozenset({Kind.TYPEDEF.value, Kind.VOLATILE.value, Kind.CONST.value,
                           Kind.RESTRICT.value, Kind.TYPE_TAG.value})  # fmt: skip
_MAX_SIZE_CHAIN = 32  # libbpf's MAX_RESOLVE_DEPTH
_MAX_CHAIN = 4096  # a chain of modifiers longer than this can only be a cycle
_C_MAX_ALIGN = 16  # x86-64: the largest scalar alignment (__int128, long double)


class Layout:
    """Sizes and alignments of the types of one BTF chain.

    Records are read in place from flat columns: ``kind[tid]`` is the kind,
    ``words[woff[tid]]`` the record's first word.  Answers are cached per ID in
    ``bits``, ``align_cache`` and ``packed`` (-1/-1/0 until known); whoever builds
    the columns fills those too (the C dumper shares them with a base dump).
    """

    kind: bytearray
    words: array[int]
    woff: list[int]
    ptr_sz: int
    vmask: int
    bits: array[int]  # what a member of each type spans, in bits
    align_cache: array[int]  # libbpf's alignment, 0 when none
    packed: bytearray  # whether the C dump writes the struct __attribute__((packed))

    @classmethod
    def of(cls, btf: BTF) -> Layout:
        """The rules over ``btf``'s records and its bases' (standalone BTF is read in place)."""
        self = cls.__new__(cls)
        parts = btf.chain
        n = btf.type_count
        woff = [0]  # void's record is never read: its kind (0) says enough
        if len(parts) == 1:
            self.words = btf.words
            woff.extend(btf.offsets)
        else:
            words = array("I")
            for part in parts:
                shift = len(words)
                words.extend(part.words)
                woff.extend([o + shift for o in part.offsets])
            self.words = words
        self.woff = woff
        fmt = btf.info_format
        mask = fmt.kind_mask
        infos = column(self.words, woff[1:], 1) if n > 1 else ()
        self.kind = bytearray([0, *[(info >> 24) & mask for info in infos]])
        self.vmask = fmt.vlen_mask
        self.ptr_sz = btf.pointer_size or 8
        self.bits = array("q", [-1]) * n
        self.align_cache = array("i", [-1]) * n
        self.packed = bytearray(n)
        return self

    def resolve_size(self, tid: int) -> int:
        """Byte size of ``tid`` as libbpf's ``btf__resolve_size`` gives it, -1 when it has none
        (void, functions, forward declarations, a chain longer than libbpf follows, an overflow)."""
        kind, words, woff = self.kind, self.words, self.woff
        nelems, size, cur = 1, -1, tid
        for _ in range(_MAX_SIZE_CHAIN):
            if cur == 0:
                break
            k = kind[cur]
            if k in SIZED:
                size = words[woff[cur] + SIZE]
                break
            if k == _PTR:
                size = self.ptr_sz
                break
            if k in SIZE_THROUGH:
                cur = words[woff[cur] + TYPE]
            elif k == _ARRAY:
                w = woff[cur]
                count = words[w + ARRAY_NELEMS]
                if nelems and count > 0xFFFFFFFF // nelems:
                    break
                nelems *= count
                cur = words[w + ARRAY_TYPE]
            else:
                break
        if size < 0 or (nelems and size > 0xFFFFFFFF // nelems):
            return -1
        return nelems * size

    def member_bits(self, tid: int) -> int:
        """Bits a member of type ``tid`` spans: its byte size times 8, 0 when it has none."""
        size = self.resolve_size(tid)
        result = size * 8 if size > 0 else 0
        self.bits[tid] = result
        return result

    def align_of(self, tid: int) -> int:
        """libbpf's alignment of ``tid`` (1 for packed structs, scalars capped at the
        pointer size), 0 when it has none."""
        cached = self.align_cache[tid]
        if cached >= 0:
            return cached
        words, woff = self.words, self.woff
        cur, k = self._skip_to_aligned(tid)
        if k in _SCALARS:
            result = min(self.ptr_sz, words[woff[cur] + SIZE])
        elif k == _PTR:
            result = self.ptr_sz
        elif k == _STRUCT or k == _UNION:
            result = self.composite_align(cur)
        else:
            result = 0
        self.align_cache[tid] = result
        return result

    def _skip_to_aligned(self, tid: int) -> tuple[int, int]:
        """The first type past typedefs, modifiers and arrays from ``tid``, and its kind."""
        kind, words, woff = self.kind, self.words, self.woff
        cur = tid
        for _ in range(_MAX_CHAIN):
            k = kind[cur] if cur else 0
            if k in ALIGN_THROUGH:
                cur = words[woff[cur] + TYPE]
            elif k == _ARRAY:
                cur = words[woff[cur] + ARRAY_TYPE]
            else:
                return cur, k
        raise BTFFormatError("modifier chain is cyclic", type_id=tid)

    def composite_align(self, tid: int) -> int:
        """A struct's or union's alignment (libbpf's); notes on the way whether it looks packed.

        libbpf asks two questions of the members (``btf__align_of`` and
        ``btf_is_struct_packed``); one walk answers both.
        """
        words = self.words
        w = self.woff[tid]
        info = words[w + INFO]
        kflag = info >> 31
        end = w + ELEMS + MEMBER_WORDS * (info & self.vmask)
        cache = self.align_cache
        best = 1
        align = -1  # settled early by a member without alignment (0) or a misplaced one (1)
        packed = False
        # Members in threes (MEMBER_NAME, MEMBER_TYPE, MEMBER_OFFSET): one slice, zipped with itself.
        it = iter(words[w + ELEMS : end])
        for _, m, off in zip(it, it, it, strict=False):
            a = cache[m]
            if a <= 0:
                if a < 0:
                    a = self.align_of(m)
                if not a:
                    if align < 0:
                        align = 0
                    continue
            if off % (8 * a) and (not kflag or not off >> 24):
                packed = True
                if align < 0:
                    align = 1
                break
            if a > best:
                best = a
        size = words[w + SIZE]
        if not packed:
            packed = size % best != 0
        if align < 0:
            align = 1 if size % best else best
        self.packed[tid] = packed
        return align

    def c_align(self, tid: int) -> int:
        """``_Alignof`` of ``tid`` as gcc gives it for x86-64 on the C dump's header, 0 when it has none.

        Unlike :meth:`align_of` (libbpf's ``btf__align_of``), a 16-byte scalar
        aligns to 16.  A struct the C dump writes ``__attribute__((packed))``
        aligns to 1; any other struct or union to its most aligned member
        (unnamed bitfields, which the dump writes as padding, do not count).
        """
        cur, k = self._skip_to_aligned(tid)
        words, w = self.words, self.woff[cur]
        if k in _SCALARS:
            size = words[w + SIZE]
            return min(size & -size, _C_MAX_ALIGN)  # the largest power of two dividing the size
        if k == _PTR:
            return self.ptr_sz
        if k != _STRUCT and k != _UNION:
            return 0
        if self.align_of(cur) and self.packed[cur]:
            return 1
        best = 1
        kflag = words[w + INFO] >> 31
        for e in range(w + ELEMS, w + ELEMS + MEMBER_WORDS * (words[w + INFO] & self.vmask), MEMBER_WORDS):
            if words[e + MEMBER_NAME] or not (kflag and words[e + MEMBER_OFFSET] >> 24):
                best = max(best, self.c_align(words[e + MEMBER_TYPE]))
        return best
