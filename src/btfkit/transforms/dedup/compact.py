"""The ``compact`` and ``remap`` passes: canonical own types keep their relative
order and every type ID is rewritten; then the check that what is written can be
written (no struct contains itself by value)."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from itertools import accumulate, chain, repeat

from ...errors import DedupError
from ...format.kinds import (
    ARRAY_TYPE,
    ELEMS,
    INFO,
    MEMBER_WORDS,
    TYPE,
    InfoFormat,
)
from .common import (
    _ARRAY,
    _CONST,
    _MEMBER_TYPES,
    _RESTRICT,
    _STRUCTS,
    _TYPE_TAG,
    _TYPEDEF,
    _VOLATILE,
)
from .state import _State


class _Compaction(_State):
    def compact_and_remap(self) -> tuple[array[int], array[int]]:
        """libbpf's compaction and remapping: canonical own types in their order, IDs rewritten.

        Records are copied in contiguous runs; reference fields are gathered
        kind by kind and only those whose value changes are written.
        """
        words, offs, mp, kinds = self.words, self.offs, self.map, self.kinds
        start, nr = self.start_id, self.nr
        own = range(start, start + nr)
        keep = [t for t in own if mp[t] == t]
        offs.append(len(words))  # a sentinel end for the last record
        try:
            starts = [offs[t] for t in keep]
            ends = [offs[t + 1] for t in keep]
        finally:
            offs.pop()
        out = array("I")
        cuts = [i for i, (a, b) in enumerate(zip(starts[1:], ends, strict=False), 1) if a != b]
        for first_i, stop_i in zip([0, *cuts], [*cuts, len(keep)], strict=True):
            if first_i < stop_i:
                out.extend(words[starts[first_i] : ends[stop_i - 1]])
        out_offs = array("I", accumulate([e - s for s, e in zip(starts, ends, strict=True)], initial=0))
        del out_offs[-1:]
        if len(keep) == nr and not self.touched:
            return out, out_offs  # nothing merged: every reference stays as it is
        # Reference fields of the kept records, by kind (the order does not matter here).
        vmask = self.vmask
        keep_kinds = [kinds[t] for t in keep]
        pos: list[int] = []
        for k, (fixed, first, per, elem) in enumerate(self._layout):
            if not fixed and not elem:
                continue
            group = [w for w, kk in zip(out_offs, keep_kinds, strict=True) if kk == k]
            if not group:
                continue
            for f in fixed:
                pos.extend([f + w for w in group])
            if elem:
                sizes = [per * (out[w + INFO] & vmask) for w in group]
                for e in elem:
                    firsts = [first + e + w for w in group]
                    stops = [a + n for a, n in zip(firsts, sizes, strict=True)]
                    pos.extend(chain.from_iterable(map(range, firsts, stops, repeat(per))))
        values = [out[p] for p in pos]
        trans: dict[int, int] = {}
        resolve = self.resolve
        for old in set(values):
            r = resolve(old)
            new = r
            if r >= start:
                i = bisect_left(keep, r)
                if i == len(keep) or keep[i] != r:
                    raise DedupError(f"reference to type {old}, which has no canonical type")
                new = start + i
            if new != old:
                trans[old] = new
        if trans:
            for p, old in zip(pos, values, strict=True):
                if old in trans:
                    out[p] = trans[old]
        return out, out_offs



_BY_VALUE = frozenset({_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG, _ARRAY})  # lead on by value


def _contains_itself(words: array[int], offsets: array[int], start: int, fmt: InfoFormat) -> int | None:
    """The ID of a struct or union among the records that contains itself by value (through
    members, arrays, typedefs and qualifiers), or None.

    The records are IDs ``start`` and on; lower IDs (a base) cannot contain them.
    Each member is followed to the struct it is by value; then structs are peeled
    off in topological order: what is left lies on or below a cycle.
    """
    n, kmask, vmask = len(offsets), fmt.kind_mask, fmt.vlen_mask
    kinds = [(words[w + INFO] >> 24) & kmask for w in offsets]
    # By type ID: the struct (its ID) a type is by value; -1 none; -2 not known yet (a chain).
    value_of = [-1] * start
    value_of += [i if k in _STRUCTS else -2 if k in _BY_VALUE else -1 for i, k in enumerate(kinds, start)]
    value_of.append(-1)  # IDs past the end read as nothing (they were checked before)
    last = len(value_of) - 1

    def struct_of(tid: int) -> int:
        path: list[int] = []
        while value_of[tid] == -2 and len(path) <= n:
            path.append(tid)
            w = offsets[tid - start]
            nxt = words[w + ARRAY_TYPE] if kinds[tid - start] == _ARRAY else words[w + TYPE]
            tid = nxt if nxt < last else last
        found = value_of[tid] if value_of[tid] != -2 else -1
        for p in path:
            value_of[p] = found
        return found

    inside: dict[int, set[int]] = {}  # struct -> the structs its members are by value
    indegree = dict.fromkeys([i for i, k in enumerate(kinds, start) if k in _STRUCTS], 0)
    for i in indegree:
        w = offsets[i - start]
        types = words[w + _MEMBER_TYPES : w + ELEMS + MEMBER_WORDS * (words[w + INFO] & vmask) : MEMBER_WORDS]
        held = {value_of[m] for m in types}
        if -2 in held:
            held = {struct_of(m) for m in types}
        held.discard(-1)
        inside[i] = held
        for j in held:
            indegree[j] += 1
    free = [i for i in inside if not indegree[i]]
    while free:
        for j in inside.pop(free.pop()):
            indegree[j] -= 1
            if not indegree[j]:
                free.append(j)
    if not inside:
        return None
    # Each struct left is held by one left: going from holder to holder comes round.
    holder = {j: i for i, held in inside.items() for j in held if j in inside}
    i, met = min(inside), set()
    while i not in met:
        met.add(i)
        i = holder[i]
    return i
