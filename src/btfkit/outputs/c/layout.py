"""Sizes, alignment and packing of types, as the C dump needs them.

The rules themselves (libbpf's ``btf__resolve_size``, ``btf__align_of`` and
``btf_is_struct_packed``) have their one home in :mod:`btfkit.format.layout`;
here they run over the records of a :class:`TypeIndex`, with their results
cached per type (and carried over from a base dump): what a member spans (in
bits), what a type aligns to, and whether a struct must be written
``__attribute__((packed))``.
"""

from __future__ import annotations

from array import array

from ...format.layout import Layout as LayoutRules
from .index import TypeIndex


class Layout(TypeIndex, LayoutRules):
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
