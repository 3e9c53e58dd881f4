"""The ``ref`` pass: PTR, TYPEDEF, modifiers, FUNC, FUNC_PROTO, ARRAY, DECL_TAG and
TYPE_TAG, depth first (with an explicit stack), once everything they point to
is canonical.  A type's candidate key is its whole record, references resolved."""

from __future__ import annotations

from array import array

from ...errors import DedupError
from ...format.kinds import (
    ARRAY_NELEMS,
    ARRAY_TYPE,
    ELEMS,
    EXTRA,
    INFO,
    PARAM_WORDS,
    TYPE,
)
from .common import (
    _DECL_TAG,
    _FUNC_PROTO,
    _IN_PROGRESS,
    _MAX_ID,
    _REF1,
    _REFS,
    _UNPROCESSED,
)
from .state import _State


class _Refs(_State):
    def dedup_refs(self) -> None:
        """libbpf's ``btf_dedup_ref_types``, depth first with an explicit stack."""
        words, kinds, mp, table = self.words, self.kinds, self.map, self.table
        resolve, first, add = self.resolve, table.first, table.add
        positions, record = self._ref_positions, self._own_record
        offs, entries, below, vmask = self.offs, table.entries, table.below, self.vmask
        mget = mp.__getitem__

        def finish(tid: int, k: int) -> int:
            """Deduplicate ``tid`` if everything it refers to is canonical: its new ID, else 0."""
            w = offs[tid]
            if k in _REF1:
                child = words[w + TYPE]
                m = mp[child]
                if m > _MAX_ID:
                    return 0
                if m != child:
                    words[w + TYPE] = m if mp[m] == m else resolve(m)
                key = words[w : w + (EXTRA + 1 if k == _DECL_TAG else EXTRA)].tobytes()  # DECL_TAG: and its component
            else:
                # FUNC_PROTO (return and parameter types) or ARRAY (element and index types)
                if k == _FUNC_PROTO:  # the return type, then the parameters' (one stride)
                    step = PARAM_WORDS
                    lo, end = w + TYPE, w + ELEMS + (words[w + INFO] & vmask) * step
                    hi = end
                else:  # ARRAY: the element and index types, then nelems
                    lo, hi, step, end = w + ARRAY_TYPE, w + ARRAY_NELEMS, 1, w + ARRAY_NELEMS + 1
                kids = words[lo:hi:step]
                ms = list(map(mget, kids))
                if max(ms) > _MAX_ID:
                    return 0
                if ms != kids.tolist():
                    if list(map(mget, ms)) != ms:  # some are mapped to mapped types
                        ms = list(map(resolve, ms))
                    words[lo:hi:step] = array("I", ms)
                key = words[w:end].tobytes()
            if below is None:  # first(key), inline for the usual one candidate or none
                ents = entries.get(key)
                new = 0 if ents is None else ents[0] >> 1 if len(ents) == 1 else first(key)
            else:
                new = first(key)
            if new:
                mp[tid] = new
                return new
            mp[tid] = tid
            add(tid, key)
            return tid

        for root in self.own_ids():
            if mp[root] != _UNPROCESSED:
                continue
            k = kinds[root]
            if k not in _REFS:
                raise DedupError(f"type [{root}]: cannot deduplicate kind {k}")
            if finish(root, k):
                continue
            # Something it refers to is not deduplicated yet: walk down to it.
            mp[root] = _IN_PROGRESS
            stack: list[tuple[int, list[int], int]] = [(root, positions(root), 0)]
            while stack:
                tid, pos, i = stack[-1]
                n = len(pos)
                while i < n:
                    child = words[pos[i]]
                    m = mp[child]
                    if m == _UNPROCESSED:
                        kc = kinds[child]
                        if kc not in _REFS:
                            raise DedupError(f"type [{child}]: cannot deduplicate kind {kc}")
                        new = finish(child, kc)
                        if not new:
                            break
                        words[pos[i]] = new
                    elif m == _IN_PROGRESS:
                        raise DedupError(f"type [{child}]: reference loop")
                    elif m != child:
                        words[pos[i]] = resolve(child)
                    i += 1
                if i < n:
                    stack[-1] = (tid, pos, i)
                    child = words[pos[i]]
                    mp[child] = _IN_PROGRESS
                    stack.append((child, positions(child), 0))
                    continue
                stack.pop()
                key = record(tid).tobytes()
                new = first(key)
                if new:
                    mp[tid] = new
                else:
                    mp[tid] = new = tid
                    add(tid, key)
                if stack:
                    ptid, ppos, pi = stack[-1]
                    words[ppos[pi]] = new
                    stack[-1] = (ptid, ppos, pi + 1)

    def _own_record(self, tid: int) -> array[int]:
        offs = self.offs
        end = offs[tid + 1] if tid + 1 < len(offs) else len(self.words)
        return self.words[offs[tid] : end]

    def _ref_positions(self, tid: int) -> list[int]:
        """Word positions of the type IDs in own type ``tid``, in libbpf's field order."""
        fixed, first, per, elem = self._layout[self.kinds[tid]]
        w = self.offs[tid]
        out = [w + p for p in fixed]
        if elem:
            vlen = self.words[w + INFO] & self.vmask
            for e in elem:
                out.extend(range(w + first + e, w + first + vlen * per, per))
            if len(elem) > 1:
                out.sort()
        return out
