"""The ``resolve_fwds`` pass: a FWD still standing alone resolves to the only
canonical STRUCT/UNION of its name, if exactly one exists (base types included)."""

from __future__ import annotations

from ...format.kinds import (
    INFO,
    NAME_OFF,
)
from .common import (
    _FWD,
    _FWD_OR_STRUCTS,
    _STRUCT,
    _UNION,
)
from .state import _State


class _Forwards(_State):
    def resolve_fwds(self) -> None:
        words, offs, kinds, mp = self.words, self.offs, self.kinds, self.map
        base_names = self.index.names
        own: dict[int, int] = {}
        fwds = []
        for tid in [t for t in self.own_of(_FWD_OR_STRUCTS) if mp[t] == t]:
            k = kinds[tid]
            if k in (_STRUCT, _UNION):
                n = words[offs[tid] + NAME_OFF]
                own[n] = 0 if n in own or n in base_names else tid
            elif k == _FWD:
                fwds.append(tid)
        for tid in fwds:
            w = offs[tid]
            n = words[w + NAME_OFF]
            cand = own.get(n)
            if cand is None:
                cand = base_names.get(n, 0)
            if cand and kinds[cand] == (_UNION if words[w + INFO] >> 31 else _STRUCT):
                mp[tid] = cand
