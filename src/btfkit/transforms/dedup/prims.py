"""The ``prim`` pass: INT, FLOAT, FWD, ENUM and ENUM64.

A type equal to a canonical one (by its whole record) maps to it.  A
forward-declared enum (no values) merges with the first compatible full enum;
a full enum also re-points an earlier canonical enum forward at itself."""

from __future__ import annotations

from ...format.kinds import (
    INFO,
)
from .common import (
    _ENUM,
    _ENUM64,
    _FLOAT,
    _FWD,
    _INT,
    _PRIMS,
)
from .state import _State
from .table import _enum_keys, _shapes


class _Prims(_State):
    def dedup_prims(self) -> None:
        words, offs, kinds, mp, table = self.words, self.offs, self.kinds, self.map, self.table
        first, add, vmask = table.first, table.add, self.vmask
        shapes = _shapes(self.btf)
        for tid in self.own_of(_PRIMS):
            k = kinds[tid]
            if k in (_INT, _FWD, _FLOAT):
                w = offs[tid]
                key = words[w : w + shapes[k][0]].tobytes()
                new = first(key)
                if new:
                    mp[tid] = new
                else:
                    mp[tid] = tid
                    add(tid, key)
            elif k in (_ENUM, _ENUM64):
                keys = _enum_keys(words, offs[tid], vmask, shapes[k][1])
                new = self._dedup_enum(tid, keys)
                mp[tid] = new
                if new == tid:
                    add(tid, *keys)

    def _dedup_enum(self, tid: int, keys: tuple[object, ...]) -> int:
        """libbpf's enum case of ``btf_dedup_prim_type``.

        A forward takes the first enum of its name.  A full enum takes the
        first equal one, pointing every enum forward met before it at itself.
        """
        table = self.table
        name = keys[0]
        if len(keys) == 3:
            return table.first(name) or tid
        if not table.has(~name):  # type: ignore[operator]
            return table.first(keys[1]) or tid
        words, offs = self.words, self.offs
        rec = keys[1]
        for cand in table.candidates(name):
            w = offs[cand]
            cinfo = words[w + INFO]
            if cinfo & self.vmask == 0:
                self.set_map(cand, tid)
            elif words[w : w + len(rec) // 4].tobytes() == rec:  # type: ignore[arg-type]
                return cand
        return tid
