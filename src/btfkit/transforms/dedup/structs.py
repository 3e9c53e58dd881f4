"""The ``struct`` pass: STRUCT and UNION, by libbpf's type-graph equivalence.

A struct's candidates are the canonical structs with the same name, size,
member names and offsets.  :meth:`_Structs.is_equiv` walks the candidate's type
graph and a canonical one side by side, recording a hypothetical
canon-to-candidate mapping; each pair is compared by :meth:`_Structs._compare`
(the one home of the per-kind equivalence rules).  A FWD may stand for a
STRUCT/UNION of its name.  A successful walk also resolves forwards and
pre-maps structs met on the way (:meth:`_Structs.merge_hypot_map`)."""

# Hot paths compare kinds with chained == (cheaper than building a tuple).
# ruff: noqa: PLR1714, SIM109
from __future__ import annotations

from array import array

from ...errors import DedupError
from ...format.kinds import (
    ARRAY_INDEX_TYPE,
    ARRAY_NELEMS,
    ARRAY_TYPE,
    ELEMS,
    EXTRA,
    INFO,
    KINDS,
    MEMBER_TYPE,
    MEMBER_WORDS,
    NAME_OFF,
    PARAM_TYPE,
    PARAM_WORDS,
    SIZE,
    TYPE,
)
from .common import (
    _ARRAY,
    _ENUM,
    _ENUM64,
    _EQUIV_REF,
    _FLOAT,
    _FUNC_PROTO,
    _FWD,
    _IN_GRAPHS,
    _INT,
    _INT_END,
    _MAX_ID,
    _MAX_NESTING,
    _MEMBER_NAMES,
    _MEMBER_OFFSETS,
    _MEMBER_TYPES,
    _PARAM_NAMES,
    _STRUCT,
    _STRUCTS,
    _UNION,
)
from .state import _State
from .table import _struct_key


class _Structs(_State):
    def dedup_structs(self) -> None:
        words, offs, mp, table = self.words, self.offs, self.map, self.table
        vmask = self.vmask
        for tid in self.own_of(_STRUCTS):
            if mp[tid] <= _MAX_ID:
                continue
            key, types = _struct_key(words, offs[tid], vmask)
            new = tid
            cands = table.candidates(key)
            if len(cands) > 1 and types:
                cands = self._prefilter(cands, types)
            for cand in cands:
                self.hypot = {}
                self.acting = []
                self.adjust_canon = False
                if not self.is_equiv(tid, cand):
                    continue
                self.merge_hypot_map()
                if self.adjust_canon:
                    continue
                new = cand
                break
            mp[tid] = new
            if new == tid:
                table.add(tid, key)

    def _compat_enum(self, w1: int, w2: int, k2: int) -> bool:
        """libbpf 1.1's ``btf_compat_enum``: a forward matches any enum of its name."""
        words, vmask = self.words, self.vmask
        if words[w1 + INFO] & vmask and words[w2 + INFO] & vmask:
            info = words[w1 + INFO]
            if info != words[w2 + INFO]:
                return False
            n = ELEMS + (info & vmask) * KINDS[k2].elem_words
            return words[w1 : w1 + n] == words[w2 : w2 + n]
        return words[w1 + NAME_OFF] == words[w2 + NAME_OFF] and (k2 in (_ENUM, _ENUM64))


    def _sig(self, tid: int) -> bytes | None:
        """What is_equiv compares of ``tid`` on its own, or None where that is not a plain comparison.

        For two types of kinds other than FWD and enums, is_equiv's check of the
        pair (before following references) fails exactly when these differ.
        """
        cache = self.index.sigs if tid < self.start_id else self.sigs
        sig = cache.get(tid, b"")
        if sig != b"":
            return sig
        words = self.words
        w = self.offs[tid]
        k = self.kinds[tid]
        if k in (_STRUCT, _UNION):
            rec = words[w : w + ELEMS + (words[w + INFO] & self.vmask) * MEMBER_WORDS]
            del rec[_MEMBER_TYPES::MEMBER_WORDS]
            sig = rec.tobytes()
        elif k in _EQUIV_REF:
            sig = words[w : w + TYPE].tobytes()  # name and info
        elif k == _INT:
            sig = words[w : w + _INT_END].tobytes()
        elif k == _FLOAT:
            sig = words[w : w + SIZE + 1].tobytes()
        elif k == _ARRAY:
            sig = words[w : w + EXTRA].tobytes() + words[w + ARRAY_NELEMS : w + ARRAY_NELEMS + 1].tobytes()
        elif k == _FUNC_PROTO:
            end = w + ELEMS + (words[w + INFO] & self.vmask) * PARAM_WORDS
            sig = words[w : w + TYPE].tobytes() + words[w + _PARAM_NAMES : end : PARAM_WORDS].tobytes()
        else:
            sig = None
        cache[tid] = sig
        return sig

    def _member_types(self, tid: int) -> tuple[int, ...]:
        cache = self.index.member_types if tid < self.start_id else self.member_types
        mt = cache.get(tid)
        if mt is None:
            w = self.offs[tid]
            end = w + ELEMS + (self.words[w + INFO] & self.vmask) * MEMBER_WORDS
            mt = cache[tid] = tuple(self.words[w + _MEMBER_TYPES : end : MEMBER_WORDS])
        return mt

    def _prefilter(self, cands: list[int], types: array[int]) -> list[int]:
        """Drop candidates that is_equiv would reject at the first member pair it compares.

        The walk skips member pairs that already resolve to the same type and
        compares the first other pair on its own (only the two structs are in
        the hypothetical map by then); a mismatch there ends the walk with no
        side effects.  Candidates of one key often share their first member
        types (``union { struct common c; struct {...}; }``), so the pairs of
        that shared prefix are checked once, and the pair after it per
        candidate, by :meth:`_sig` where that is exact.
        """
        start = self.start_id
        get_base = self.index.member_types.get
        own_mt = self._member_types
        mts = [(get_base(c) if c < start else None) or own_mt(c) for c in cands]
        prefix = _common_prefix(mts)
        resolve, kinds = self.resolve, self.kinds
        p = 0
        for a, b in zip(types, prefix, strict=False):
            if resolve(a) != resolve(b):
                break
            p += 1
        if p < len(prefix):
            # The same first pair for every candidate.
            b = prefix[p]
            rb = resolve(b)
            if kinds[b] == _FWD and kinds[rb] != _FWD:
                b = rb
            if b in cands or self._compare(types[p], b, [], []):
                return cands
            return []
        if p == len(types):
            return cands
        a = types[p]
        ra = resolve(a)
        want = self._sig(a)
        if want is None:
            return cands
        # Per candidate: keep it unless its pair p is non-trivial and differs by _sig
        # (a FWD's sig is None, so forwards are kept and need no resolving here).
        mp, sig, base_sig = self.map, self._sig, self.index.sigs
        out = []
        for c, mt in zip(cands, mts, strict=True):
            b = mt[p]
            m = mp[b]
            if b == c or (b if m == b or m > _MAX_ID else resolve(b)) == ra:
                out.append(c)
                continue
            f = base_sig[b] if b in base_sig else sig(b)
            if f is None or f == want:
                out.append(c)
        return out

    def _compare(self, cand: int, canon: int, cands: list[int], canons: list[int]) -> bool:
        """Compare one pair of is_equiv's walk (libbpf's per-kind checks): False if they
        differ, else True with the pairs to visit next pushed on ``cands``/``canons``,
        the first to visit on top (members in order, an array's index type before its
        element type, a prototype's return type before its parameters)."""
        words, offs, kinds = self.words, self.offs, self.kinds
        cw, kw = offs[cand], offs[canon]
        ck, kk = kinds[cand], kinds[canon]
        if words[cw + NAME_OFF] != words[kw + NAME_OFF]:
            return False
        if ck != kk:
            if _FWD not in (ck, kk):
                return False
            # A FWD stands for a STRUCT or a UNION of its name (the kind flag says which).
            if ck == _FWD:
                real, fwd = kk, (_UNION if words[cw + INFO] >> 31 else _STRUCT)
            else:
                real, fwd = ck, (_UNION if words[kw + INFO] >> 31 else _STRUCT)
                if fwd == real and canon < self.start_id:
                    self.adjust_canon = True
            return fwd == real
        if kk not in _IN_GRAPHS:
            raise DedupError(f"type [{cand}]: kind {ck} cannot take part in a type graph comparison")
        ci = words[cw + INFO]
        if ci != words[kw + INFO]:
            # Every comparison needs equal info but the enum-forward one.
            return (kk == _ENUM or kk == _ENUM64) and self._compat_enum(cw, kw, kk)
        if kk in _EQUIV_REF:
            cands.append(words[cw + TYPE])
            canons.append(words[kw + TYPE])
            return True
        if kk == _STRUCT or kk == _UNION:
            # The records must match but for the member types: compare copies
            # that share the canon's member types.
            n = ELEMS + (ci & self.vmask) * MEMBER_WORDS
            rec, other = words[cw : cw + n], words[kw : kw + n]
            rec[_MEMBER_TYPES::MEMBER_WORDS] = other[_MEMBER_TYPES::MEMBER_WORDS]
            if rec != other:
                return False
            # Members last to first: the stack pops them in order.
            last = n - MEMBER_WORDS + MEMBER_TYPE
            cands.extend(words[cw + last : cw + _MEMBER_NAMES : -MEMBER_WORDS])
            canons.extend(words[kw + last : kw + _MEMBER_NAMES : -MEMBER_WORDS])
            return True
        if kk == _FUNC_PROTO:
            n = ELEMS + (ci & self.vmask) * PARAM_WORDS
            if words[cw + _PARAM_NAMES : cw + n : PARAM_WORDS] != words[kw + _PARAM_NAMES : kw + n : PARAM_WORDS]:
                return False
            # Parameters last to first, then the return type on top (one stride).
            last = n - PARAM_WORDS + PARAM_TYPE
            cands.extend(words[cw + last : cw + TYPE - 1 : -PARAM_WORDS])
            canons.extend(words[kw + last : kw + TYPE - 1 : -PARAM_WORDS])
            return True
        if kk == _ARRAY:
            if words[cw + SIZE] != words[kw + SIZE] or words[cw + ARRAY_NELEMS] != words[kw + ARRAY_NELEMS]:
                return False
            cands.append(words[cw + ARRAY_TYPE])  # the element type waits,
            canons.append(words[kw + ARRAY_TYPE])
            cands.append(words[cw + ARRAY_INDEX_TYPE])  # the index type goes first
            canons.append(words[kw + ARRAY_INDEX_TYPE])
            return True
        if kk == _INT:
            return words[cw + SIZE : cw + _INT_END] == words[kw + SIZE : kw + _INT_END]
        if kk == _ENUM or kk == _ENUM64:
            return self._compat_enum(cw, kw, kk)
        return words[cw + SIZE] == words[kw + SIZE]  # FWD and FLOAT

    def is_equiv(self, cand_id: int, canon_id: int) -> bool:
        """libbpf's ``btf_dedup_is_equiv``: a side-by-side walk of two type graphs.

        Iterative, visiting pairs in the order libbpf's recursion does (members
        in order, an array's index before its element, a prototype's return
        type before its parameters); the first mismatch anywhere ends the walk.
        """
        kinds, hypot, resolve, compare = self.kinds, self.hypot, self.resolve, self._compare
        acting, acts, mp = self.acting.append, self._merge_kinds, self.map
        # Pairs to visit, as two parallel stacks (no tuple per pair).
        cands, canons = [cand_id], [canon_id]
        cpop, kpop = cands.pop, canons.pop
        while cands:
            cand = cpop()
            canon = kpop()
            while True:
                # Two cheap exits first: ``cand`` already mapped straight to
                # ``canon`` (so both resolve alike), or the pair met earlier in
                # this walk (a canon redirected from a FWD never enters hypot).
                m = mp[cand]
                if m == canon:
                    break
                h = hypot.get(canon)
                if h == cand:
                    break
                rc = mp[canon]
                rc = canon if rc == canon or rc > _MAX_ID else resolve(canon)
                if (cand if m == cand or m > _MAX_ID else resolve(cand)) == rc:
                    break
                kk = kinds[canon]
                if kk == _FWD and kinds[rc] != _FWD:
                    canon = rc
                    kk = kinds[rc]
                    h = hypot.get(canon)
                if h is not None:
                    if h == cand or self._identical_arrays(h, cand) or self._identical_structs(h, cand, 0):
                        break
                    return False
                hypot[canon] = cand
                ck = kinds[cand]
                if acts[ck] or acts[kk]:
                    acting(canon)
                if not compare(cand, canon, cands, canons):
                    return False
                break
        return True

    def _identical_arrays(self, id1: int, id2: int) -> bool:
        kinds = self.kinds
        if kinds[id1] != _ARRAY or kinds[id2] != _ARRAY:
            return False
        w1, w2 = self.offs[id1], self.offs[id2]
        n = KINDS[_ARRAY].record_words(0)
        return self.words[w1 : w1 + n] == self.words[w2 : w2 + n]

    def _identical_structs(self, id1: int, id2: int, depth: int) -> bool:
        """libbpf 1.1's check for a struct a compiler emitted twice in one CU (nested by value)."""
        kinds = self.kinds
        k = kinds[id1]
        if (k not in (_STRUCT, _UNION)) or kinds[id2] != k:
            return False
        if depth > _MAX_NESTING:
            raise DedupError(f"type [{id1}]: structs nested by value too deeply (a cycle?)")
        words = self.words
        w1, w2 = self.offs[id1], self.offs[id2]
        info = words[w1 + INFO]
        n = (info & self.vmask) * MEMBER_WORDS
        m = MEMBER_WORDS
        if (
            words[w1 : w1 + ELEMS] != words[w2 : w2 + ELEMS]
            or words[w1 + _MEMBER_NAMES : w1 + ELEMS + n : m] != words[w2 + _MEMBER_NAMES : w2 + ELEMS + n : m]
            or words[w1 + _MEMBER_OFFSETS : w1 + ELEMS + n : m] != words[w2 + _MEMBER_OFFSETS : w2 + ELEMS + n : m]
        ):
            return False
        types1 = words[w1 + _MEMBER_TYPES : w1 + ELEMS + n : m]
        types2 = words[w2 + _MEMBER_TYPES : w2 + ELEMS + n : m]
        for m1, m2 in zip(types1, types2, strict=True):
            if m1 != m2 and not self._identical_arrays(m1, m2) and not self._identical_structs(m1, m2, depth + 1):
                return False
        return True

    def merge_hypot_map(self) -> None:
        """Record what a successful walk found: resolved forwards, and structs mapped ahead of time."""
        kinds, mp, resolve, adjust, set_map = self.kinds, self.map, self.resolve, self.adjust_canon, self.set_map
        # Only pairs with a FWD, STRUCT or UNION side can change anything (other
        # kinds never resolve to those): is_equiv listed those.
        hypot = self.hypot
        for canon in self.acting:
            targ = hypot[canon]
            m = mp[targ]
            t = targ if m == targ or m > _MAX_ID else resolve(targ)
            m = mp[canon]
            c = canon if m == canon or m > _MAX_ID else resolve(canon)
            tk, ck = kinds[t], kinds[c]
            if tk != _FWD and ck == _FWD:
                set_map(c, t)
            if adjust:
                continue
            if tk == _FWD and ck != _FWD:
                set_map(t, c)
            if (tk in (_STRUCT, _UNION)) and ck != _FWD and mp[c] <= _MAX_ID and mp[t] > _MAX_ID:
                mp[t] = c



def _common_prefix(seqs: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The longest common prefix of ``seqs`` (it is the common prefix of the least and greatest)."""
    lo, hi = min(seqs), max(seqs)
    for i, (a, b) in enumerate(zip(lo, hi, strict=False)):
        if a != b:
            return lo[:i]
    return lo
