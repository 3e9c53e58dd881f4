"""The state of one deduplication, shared by the passes (each a mixin of :class:`_State`)."""

from __future__ import annotations

from itertools import chain, repeat

from ...format.btf import BTF
from .base import BaseIndex
from .common import (
    _DATASEC,
    _FWD,
    _MAX_ID,
    _STRUCT,
    _UNION,
    _UNPROCESSED,
    _VAR,
)
from .table import _ref_layout, _Table


class _State:
    """The state of one deduplication (libbpf's ``struct btf_dedup``), which every pass reads."""

    def __init__(self, btf: BTF, index: BaseIndex):
        self.btf = btf
        self.index = index
        self.start_id = index.start_id
        self.vmask = btf.info_format.vlen_mask
        kmask = btf.info_format.kind_mask
        words, offs, kinds, mp = index.words, index.offs, index.kinds, index.map
        self.base_words = shift = len(words)
        words.extend(btf.words)
        offs.extend([shift + o for o in btf.offsets])
        self.nr = nr = len(btf.offsets)
        # Each own type's kind, filed from the BTF's kind groups.
        groups = btf.ids_by_kind()
        kinds.extend(repeat(0, nr))
        for k, group in enumerate(groups):
            for tid in group:
                kinds[tid] = k
        # VAR and DATASEC are canonical from the start; the rest is unprocessed.
        mp.extend(repeat(_UNPROCESSED, nr))
        for tid in chain(groups[_VAR], groups[_DATASEC]):
            mp[tid] = tid
        self.words, self.offs, self.kinds, self.map = words, offs, kinds, mp
        # Base entries of map that this dedup changes (base FWDs and enum forwards).
        self.touched: list[int] = []
        self.table = _Table(index.table if index.table.size else None)
        self.hypot: dict[int, int] = {}
        #: The canons of ``hypot`` whose pair has a FWD, STRUCT or UNION side, in order.
        self.acting: list[int] = []
        self.adjust_canon = False
        self._layout = _ref_layout(btf)
        self._merge_kinds = [k in (_FWD, _STRUCT, _UNION) for k in range(kmask + 1)]
        self.sigs: dict[int, bytes | None] = {}
        self.member_types: dict[int, tuple[int, ...]] = {}

    def release(self) -> None:
        """Give the borrowed base arrays back in their original state."""
        start = self.start_id
        mp = self.map
        for tid in self.touched:
            mp[tid] = tid
        del mp[start:]
        del self.words[self.base_words :]
        del self.offs[start:]
        del self.kinds[start:]

    def set_map(self, tid: int, to: int) -> None:
        if tid < self.start_id:
            self.touched.append(tid)
        self.map[tid] = to

    def resolve(self, tid: int) -> int:
        """libbpf's ``resolve_type_id``: follow ``map`` to the canonical type."""
        mp = self.map
        while True:
            m = mp[tid]
            if m > _MAX_ID or m == tid:
                return tid
            tid = m

    def own_ids(self) -> range:
        return range(self.start_id, self.start_id + self.nr)

    def own_of(self, kinds: frozenset[int]) -> list[int]:
        """The own type IDs of ``kinds``, in ID order (from the BTF's kind groups)."""
        groups = self.btf.ids_by_kind()
        return sorted(chain.from_iterable(groups[k] for k in kinds if k < len(groups)))
