"""A base BTF indexed once for many deduplications (libbpf's ``prep`` pass)."""

from __future__ import annotations

from array import array

from ...errors import DedupError
from ...format.btf import BTF
from ...format.kinds import (
    INFO,
    NAME_OFF,
)
from .common import (
    _DATASEC,
    _ENUM,
    _ENUM64,
    _FLOAT,
    _FWD,
    _INT,
    _REFS,
    _STRUCT,
    _UNION,
    _VAR,
)
from .table import _enum_keys, _shapes, _struct_key, _Table


class BaseIndex:
    """A base BTF prepared once for deduplicating any number of split BTFs on it.

    It holds the base's records as one word array (ID 0 is a zeroed ``void``
    record), each ID's kind and first word, the candidate table as libbpf's
    ``prep`` pass leaves it, the base's string index and its STRUCT/UNION
    names.  A dedup borrows these arrays (appending the split's part and
    restoring them afterwards), so one index serves one dedup at a time.
    """

    def __init__(self, base: BTF):
        base.check_references()
        self.base = base
        self.start_id = base.type_count
        words = array("I", [0, 0, 0])
        offs = [0]
        for level in base.chain:
            shift = len(words)
            words.extend(level.words)
            offs.extend(o + shift for o in level.offsets)
        km = base.info_format.kind_mask
        self.words = words
        self.offs = offs
        self.kinds = [(words[o + INFO] >> 24) & km for o in offs]
        self.kinds[0] = 0
        self.map = list(range(self.start_id))
        self.table = _Table()
        self.busy = False
        # Caches of _Dedup._sig and of a struct's first member's sig, for base types.
        self.sigs: dict[int, bytes | None] = {}
        self.member_types: dict[int, tuple[int, ...]] = {}
        self._prep(base)
        # btf__find_str on the base: whole strings only, the first copy wins, base levels first.
        strs: dict[bytes, int] = {}
        for level in base.chain:
            tab = level.strings
            pos = tab.start
            for piece in bytes(tab.data).split(b"\0")[:-1]:
                strs.setdefault(piece, pos)
                pos += len(piece) + 1
        self.strs = strs
        # Canonical STRUCT/UNION per name (0 when ambiguous), for resolve_fwds.
        names: dict[int, int] = {}
        for tid, k in enumerate(self.kinds):
            if k in (_STRUCT, _UNION):
                n = words[offs[tid] + NAME_OFF]
                names[n] = 0 if n in names else tid
        self.names = names

    def _prep(self, base: BTF) -> None:
        words, offs, kinds, add = self.words, self.offs, self.kinds, self.table.add
        vmask = base.info_format.vlen_mask
        shapes = _shapes(base)
        raw = words.tobytes()
        for tid in range(1, self.start_id):
            k = kinds[tid]
            w = offs[tid]
            if k in _REFS or k in (_INT, _FWD, _FLOAT):
                fixed, per = shapes[k]
                add(tid, raw[4 * w : 4 * (w + fixed + (words[w + INFO] & vmask) * per)])
            elif k in (_STRUCT, _UNION):
                add(tid, _struct_key(words, w, vmask)[0])
            elif k in (_ENUM, _ENUM64):
                add(tid, *_enum_keys(words, w, vmask, shapes[k][1]))
            elif k not in (_VAR, _DATASEC):
                raise DedupError(f"base type [{tid}]: cannot deduplicate kind {k}")
