"""Sizes, alignment and packing of types, as the C dump needs them.

libbpf's ``btf__resolve_size``, ``btf__align_of`` and ``btf_is_struct_packed``,
over the records of a :class:`TypeIndex`, with their results cached per type:
what a member spans (in bits), what a type aligns to, and whether a struct must
be written ``__attribute__((packed))``.
"""

# Hot paths compare kinds with chained == against module constants (faster than
# building a tuple for each membership test) and keep maxima with ``if`` (faster
# than calling ``max``).
# ruff: noqa: PLR1714, SIM109, PLR1730
from __future__ import annotations

from array import array

from ...errors import BTFFormatError
from .common import (
    _ALIGN_THROUGH,
    _ARRAY,
    _ENUM,
    _ENUM64,
    _FLOAT,
    _INT,
    _MAX_CHAIN,
    _PTR,
    _SIZE_THROUGH,
    _SIZED,
    _STRUCT,
    _UNION,
)
from .index import TypeIndex


class Layout(TypeIndex):
    """Layout facts of the indexed types, cached per type ID."""

    align_cache: array[int]  # alignment, -1 until worked out
    bits: array[int]  # what a member of each type spans, in bits; -1 until worked out
    packed: bytearray  # set for structs that need __attribute__((packed))

    def _init_layout(self, base: Layout | None, pointers: list[int], sized: list[int]) -> None:
        """Caches for every ID (carried over from ``base``), with what needs no walk filled in."""
        n = self.n
        if base is None:
            self.align_cache = array("i", [-1]) * n
            self.bits = array("q", [-1]) * n
            self.packed = bytearray(n)
        else:
            extra = n - base.n
            self.align_cache = base.align_cache + array("i", [-1]) * extra
            self.bits = base.bits + array("q", [-1]) * extra
            self.packed = base.packed + bytes(extra)
        # Sizes (and pointers' alignment) need no walk: filled in up front.
        align_cache, bits, ptr_sz = self.align_cache, self.bits, self.ptr_sz
        for tid in pointers:
            align_cache[tid] = ptr_sz
            bits[tid] = ptr_sz * 8
        words, woff = self.words, self.woff
        for tid in sized:
            bits[tid] = words[woff[tid] + 2] * 8

    def _member_bits(self, tid: int) -> int:
        """Bits a member of type ``tid`` spans: its byte size times 8, 0 when it has none."""
        kind, words, woff = self.kind, self.words, self.woff
        orig, nelems, size, cur = tid, 1, -1, tid
        for _ in range(32):
            if cur == 0:
                break
            k = kind[cur]
            if k in _SIZED:
                size = words[woff[cur] + 2]
                break
            if k == _PTR:
                size = self.ptr_sz
                break
            if k in _SIZE_THROUGH:
                cur = words[woff[cur] + 2]
            elif k == _ARRAY:
                w = woff[cur]
                count = words[w + 5]
                if nelems and count > 0xFFFFFFFF // nelems:
                    break
                nelems *= count
                cur = words[w + 3]
            else:
                break
        overflow = size < 0 or (nelems and size > 0xFFFFFFFF // nelems)
        result = 0 if overflow else nelems * size * 8
        self.bits[orig] = result
        return result

    def _align_of(self, tid: int) -> int:
        """Alignment of ``tid`` (1 for packed structs), 0 when it has none."""
        cached = self.align_cache[tid]
        if cached >= 0:
            return cached
        kind, words, woff = self.kind, self.words, self.woff
        cur = tid
        for _ in range(_MAX_CHAIN):
            k = kind[cur] if cur else 0
            if k in _ALIGN_THROUGH:
                cur = words[woff[cur] + 2]
            elif k == _ARRAY:
                cur = self.words[self.woff[cur] + 3]
            else:
                break
        else:
            raise BTFFormatError("modifier chain is cyclic", type_id=tid)
        if k == _INT or k == _ENUM or k == _ENUM64 or k == _FLOAT:
            result = min(self.ptr_sz, words[woff[cur] + 2])
        elif k == _PTR:
            result = self.ptr_sz
        elif k == _STRUCT or k == _UNION:
            result = self._composite_align(cur)
        else:
            result = 0
        self.align_cache[tid] = result
        return result

    def _composite_align(self, tid: int) -> int:
        """A struct's or union's alignment; notes on the way whether it looks packed.

        libbpf asks two questions of the members (``btf__align_of`` and
        ``btf_is_struct_packed``); one walk answers both.
        """
        words = self.words
        w = self.woff[tid]
        info = words[w + 1]
        kflag = info >> 31
        end = w + 3 + 3 * (info & self.vmask)
        cache = self.align_cache
        best = 1
        align = -1  # settled early by a member without alignment (0) or a misplaced one (1)
        packed = False
        it = iter(words[w + 3 : end])  # members in threes: one slice, zipped with itself
        for _, m, off in zip(it, it, it, strict=False):
            a = cache[m]
            if a <= 0:
                if a < 0:
                    a = self._align_of(m)
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
        size = self.words[self.woff[tid] + 2]
        if not packed:
            packed = size % best != 0
        if align < 0:
            align = 1 if size % best else best
        self.packed[tid] = packed
        return align
