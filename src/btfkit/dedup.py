"""Type deduplication, producing the same bytes as libbpf 1.1's ``btf__dedup``.

Deduplication replaces every set of equivalent types by one canonical type and
renumbers the rest.  For split BTF the base is immutable: a split type equal to
a base type disappears and references to it point into the base.

The passes, named as in libbpf so its source can be read alongside:

``prep``
    (split only) every base type is canonical and goes into the candidate
    table first.  :class:`BaseIndex` does this once per base, so a whole tree
    of modules shares one indexed vmlinux.
``strings``
    own strings are rebuilt in first-reference order; strings the base already
    has become base offsets.  Skipped when the strings are known to be unique
    already (BTF built through the API, or deduplicated before), as libbpf does.
``prim``
    INT, FLOAT, FWD, ENUM and ENUM64.  A forward-declared enum (no values)
    merges with the first compatible full enum; a full enum also re-points an
    earlier canonical enum forward at itself.
``struct``
    STRUCT and UNION, by a side-by-side walk of the candidate's type graph and
    a canonical one (:meth:`_Dedup.is_equiv`) that records a hypothetical
    canon-to-candidate mapping; a FWD may stand for a STRUCT/UNION of its name.
    A successful walk also resolves forwards and pre-maps structs met on the way.
``resolve_fwds``
    a FWD still standing alone resolves to the only canonical STRUCT/UNION of
    its name, if exactly one exists (base types included).
``ref``
    PTR, TYPEDEF, modifiers, FUNC, FUNC_PROTO, ARRAY, DECL_TAG and TYPE_TAG,
    depth first, once everything they point to is canonical.
``compact`` and ``remap``
    canonical own types keep their relative order; every type ID is rewritten.

VAR and DATASEC are never merged.

**Candidate order.**  When several canonical types could match, the first one
libbpf's hash table yields wins, and that order is part of the output.  libbpf
keeps candidates in chains that get new entries at the head and are reversed
each time the table grows (at ``(size + 1) * 4 / 3 > capacity``, capacities 4,
8, 16, ...).  Every comparison filters the chain by an exact equivalence
(whole-record equality, or "same name, size, member names and offsets" for
structs, or "same name" for enums), and the hash is a function of exactly the
fields compared, so the candidates that survive the filter are the entries
with the same *equivalence key*, in chain order.  btfkit therefore files
candidates under that key instead of libbpf's 64-bit hash: colliding hashes
only ever add entries that the filter drops, and a grow reverses every chain,
so the relative order of one key's entries is the same either way.  Each entry
remembers the parity of grows at its insertion; see :class:`_Table`.  For the
same reason ``force_collisions`` (everything in one chain) cannot change the
result; it is accepted for API compatibility.

**Versions.**  The reference is libbpf 1.1.2 (Debian 12): TYPEDEF is
deduplicated in the ref pass, enums hash by name only, the identical-type
fallback is 1.1's nested arrays-and-structs check, and ``resolve_fwds`` exists.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

from .btf import BTF
from .errors import DedupError
from .kinds import Kind
from .strings import StringTable

__all__ = ["BaseIndex", "dedup"]

_MAX_ID = 0x7FFFFFFF
_UNPROCESSED = 0xFFFFFFFF
_IN_PROGRESS = 0xFFFFFFFE

_INT, _PTR, _ARRAY, _STRUCT, _UNION = 1, 2, 3, 4, 5
_ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST = 6, 7, 8, 9, 10
_RESTRICT, _FUNC, _FUNC_PROTO, _VAR, _DATASEC = 11, 12, 13, 14, 15
_FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = 16, 17, 18, 19

#: Kinds handled by the ref pass whose only reference is the third word.
_REF1 = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG, _DECL_TAG})
#: Kinds is_equiv follows through their third word (DECL_TAG is not among them).
_EQUIV_REF = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG})
_ANY_ENUM = (_ENUM, _ENUM64)
#: Record words per element for kinds with elements (the rest have fixed sizes).
_ELEM_WORDS = {_STRUCT: 3, _UNION: 3, _ENUM: 2, _ENUM64: 3, _FUNC_PROTO: 2, _DATASEC: 3}
_FIXED_WORDS = {_INT: 4, _ARRAY: 6, _VAR: 4, _DECL_TAG: 4}
#: Nesting limit for the by-value identical-struct check (real kernels nest ~10 deep).
_MAX_NESTING = 1000


class _Table:
    """libbpf's candidate table, reduced to what decides candidate order.

    ``entries[key]`` lists ``id << 1 | parity`` in insertion order, where
    ``parity`` is the number of table grows so far, mod 2.  An entry is put at
    the head of its chain and a grow reverses all chains, so with the current
    parity ``p`` the chain reads: entries of parity ``p`` newest first, then
    entries of the other parity oldest first.  A table can sit on top of a
    frozen ``below`` table (the base's), whose entries all came first.
    """

    __slots__ = ("below", "cap", "entries", "parity", "size")

    def __init__(self, below: _Table | None = None):
        self.below = below
        self.entries: dict[object, list[int]] = {}
        if below is None:
            self.size = self.cap = self.parity = 0
        else:
            self.size, self.cap, self.parity = below.size, below.cap, below.parity

    def add(self, key: object, type_id: int) -> None:
        """File ``type_id`` under ``key`` (libbpf's ``hashmap__append``)."""
        if self.cap == 0 or (self.size + 1) * 4 // 3 > self.cap:
            self.cap = self.cap * 2 if self.cap else 4
            self.parity ^= 1
        self.size += 1
        lst = self.entries.get(key)
        if lst is None:
            self.entries[key] = [type_id << 1 | self.parity]
        else:
            lst.append(type_id << 1 | self.parity)

    def _all(self, key: object) -> list[int] | None:
        own = self.entries.get(key)
        below = self.below.entries.get(key) if self.below is not None else None
        if below is None:
            return own
        return below if own is None else below + own

    def first(self, key: object) -> int:
        """The first candidate under ``key``, 0 if none."""
        ents = self._all(key)
        if not ents:
            return 0
        if len(ents) == 1:
            return ents[0] >> 1
        p = self.parity
        for e in reversed(ents):
            if e & 1 == p:
                return e >> 1
        return ents[0] >> 1

    def candidates(self, key: object) -> list[int]:
        """All candidates under ``key``, in libbpf's iteration order."""
        ents = self._all(key)
        if not ents:
            return []
        if len(ents) == 1:
            return [ents[0] >> 1]
        p = self.parity
        same = [e >> 1 for e in reversed(ents) if e & 1 == p]
        other = [e >> 1 for e in ents if e & 1 != p]
        return same + other


class BaseIndex:
    """A base BTF prepared for deduplicating any number of split BTFs on it.

    Holds the base's records as one word array (ID 0 is a zeroed ``void``
    record), each ID's kind and first word, the candidate table after libbpf's
    ``prep`` pass, the base's string index and its STRUCT/UNION names.
    Deduplication borrows these arrays (appending the split's part and
    truncating afterwards), so one index serves one dedup at a time.
    """

    def __init__(self, base: BTF):
        self.base = base
        self.start_id = base.type_count
        self.start_str_off = base.strings.end
        self.kind_mask = base.info_format.kind_mask
        self.vlen_mask = base.info_format.vlen_mask
        words = array("I", [0, 0, 0])
        offs = [0]
        for level in base.chain:
            shift = len(words)
            words.extend(level.words)
            offs.extend(o + shift for o in level.offsets)
        km = self.kind_mask
        self.words = words
        self.offs = offs
        self.kinds = [(words[o + 1] >> 24) & km for o in offs]
        self.kinds[0] = 0
        self.table = _Table()
        self._busy = False
        self._prep()
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
            if k == _STRUCT or k == _UNION:
                n = words[offs[tid]]
                names[n] = 0 if n in names else tid
        self.names = names

    def _prep(self) -> None:
        words, offs, kinds, add = self.words, self.offs, self.kinds, self.table.add
        vmask = self.vlen_mask
        raw = words.tobytes()
        for tid in range(1, self.start_id):
            k = kinds[tid]
            if k == _VAR or k == _DATASEC:
                continue
            w = offs[tid]
            add(_key(raw, words, w, k, vmask, tid), tid)


def _record_words(k: int, info: int, vmask: int) -> int:
    per = _ELEM_WORDS.get(k)
    if per is not None:
        return 3 + (info & vmask) * per
    return _FIXED_WORDS.get(k, 3)


def _key(raw: bytes, words: array[int], w: int, k: int, vmask: int, tid: int) -> object:
    """The candidate-table key of the record at word ``w`` (see the module docstring)."""
    if k == _ENUM or k == _ENUM64:
        return words[w]
    if k == _STRUCT or k == _UNION:
        n = 3 + (words[w + 1] & vmask) * 3
        rec = words[w : w + n]
        rec[4::3] = array("I", bytes(4 * ((n - 3) // 3)))
        return rec.tobytes()
    if k > _ENUM64 or k == 0 or k == _VAR or k == _DATASEC:
        raise DedupError(f"type [{tid}]: cannot deduplicate kind {k}")
    n = _record_words(k, words[w + 1], vmask)
    return raw[4 * w : 4 * (w + n)]


class _Dedup:
    """The state of one deduplication (libbpf's ``struct btf_dedup``)."""

    def __init__(self, btf: BTF, index: BaseIndex):
        self.btf = btf
        self.index = index
        self.start_id = index.start_id
        self.vmask = btf.info_format.vlen_mask
        kmask = btf.info_format.kind_mask
        words, offs, kinds = index.words, index.offs, index.kinds
        self.base_words = len(words)
        shift = len(words)
        words.extend(btf.words)
        offs.extend(o + shift for o in btf.offsets)
        kinds.extend((words[o + 1] >> 24) & kmask for o in offs[self.start_id :])
        self.words, self.offs, self.kinds = words, offs, kinds
        self.nr = len(btf.offsets)
        # map: base IDs (and VAR/DATASEC) are canonical; the rest unprocessed.
        mp = list(range(self.start_id))
        mp.extend(
            tid if k == _VAR or k == _DATASEC else _UNPROCESSED
            for tid, k in enumerate(kinds[self.start_id :], self.start_id)
        )
        self.map = mp
        self.table = _Table(index.table if len(index.table.entries) else None)
        self.hypot: dict[int, int] = {}
        self.adjust_canon = False

    def release(self) -> None:
        """Give the borrowed base arrays back in their original state."""
        del self.words[self.base_words :]
        del self.offs[self.start_id :]
        del self.kinds[self.start_id :]

    # --- helpers ------------------------------------------------------------------
    def resolve(self, tid: int) -> int:
        mp = self.map
        while True:
            m = mp[tid]
            if m > _MAX_ID or m == tid:
                return tid
            tid = m

    def own_ids(self) -> range:
        return range(self.start_id, self.start_id + self.nr)

    # --- strings --------------------------------------------------------------------
    def dedup_strings(self) -> StringTable:
        btf = self.btf
        tab = btf.strings
        start = tab.start
        data = bytes(tab.data)
        base_strs = self.index.strs if btf.base is not None else None
        # Own strings by local offset; offsets into the middle of a string are looked up lazily.
        by_off: dict[int, bytes] = {}
        pos = 0
        for piece in data.split(b"\0")[:-1]:
            by_off[pos + start] = piece
            pos += len(piece) + 1
        new: dict[bytes, int] = {}
        parts: list[bytes] = []
        size = 0
        if btf.base is None:
            new[b""] = 0
            parts.append(b"")
            size = 1
        words, offs, kinds, vmask = self.words, self.offs, self.kinds, self.vmask
        for tid in self.own_ids():
            w = offs[tid]
            k = kinds[tid]
            per = _ELEM_WORDS.get(k)
            if per is None or k == _DATASEC:
                positions: Iterable[int] = (w,)
            else:  # the type's name, then the first word (the name) of each element
                positions = (w, *range(w + 3, w + 3 + (words[w + 1] & vmask) * per, per))
            for p in positions:
                off = words[p]
                if off == 0 or off < start:
                    continue
                s = by_off.get(off)
                if s is None:
                    local = off - start
                    s = data[local : data.index(b"\0", local)]
                if base_strs is not None:
                    b = base_strs.get(s)
                    if b is not None:
                        words[p] = b
                        continue
                n = new.get(s)
                if n is None:
                    n = new[s] = size
                    parts.append(s)
                    size += len(s) + 1
                words[p] = start + n
        out = StringTable(base=tab.base)
        out.data[:] = b"".join(p + b"\0" for p in parts)
        return out

    # --- primitives ---------------------------------------------------------------------
    def dedup_prims(self) -> None:
        words, offs, kinds, mp, table = self.words, self.offs, self.kinds, self.map, self.table
        first = table.first
        for tid in self.own_ids():
            k = kinds[tid]
            w = offs[tid]
            if k == _INT or k == _FWD or k == _FLOAT:
                n = 4 if k == _INT else 3
                key: object = words[w : w + n].tobytes()
                new = first(key) or tid
            elif k == _ENUM or k == _ENUM64:
                key = words[w]
                new = tid
                for cand in table.candidates(key):
                    if self._equal_enum(w, offs[cand], k):
                        new = cand
                        break
                    if self._compat_enum(w, offs[cand], k, kinds[cand]):
                        if words[w + 1] & self.vmask == 0:
                            new = cand
                            break
                        mp[cand] = tid
            else:
                continue
            mp[tid] = new
            if new == tid:
                table.add(key, tid)

    def _equal_enum(self, w1: int, w2: int, k1: int) -> bool:
        """libbpf's ``btf_equal_enum``: the same header, then the same enumerators."""
        words = self.words
        info = words[w1 + 1]
        if info != words[w2 + 1]:
            return False
        n = 3 + (info & self.vmask) * (2 if k1 == _ENUM else 3)
        return words[w1 : w1 + n] == words[w2 : w2 + n]

    def _compat_enum(self, w1: int, w2: int, k1: int, k2: int) -> bool:
        """libbpf 1.1's ``btf_compat_enum``: a forward matches any enum of its name."""
        words, vmask = self.words, self.vmask
        if words[w1 + 1] & vmask and words[w2 + 1] & vmask:
            return self._equal_enum(w1, w2, k1)
        return words[w1] == words[w2] and k2 in _ANY_ENUM

    # --- structs ----------------------------------------------------------------------
    def dedup_structs(self) -> None:
        words, offs, kinds, mp, table = self.words, self.offs, self.kinds, self.map, self.table
        vmask = self.vmask
        for tid in self.own_ids():
            k = kinds[tid]
            if k != _STRUCT and k != _UNION or mp[tid] <= _MAX_ID:
                continue
            w = offs[tid]
            n = 3 + (words[w + 1] & vmask) * 3
            rec = words[w : w + n]
            rec[4::3] = array("I", bytes(4 * ((n - 3) // 3)))
            key = rec.tobytes()
            new = tid
            for cand in table.candidates(key):
                self.hypot = {}
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
                table.add(key, tid)

    def is_equiv(self, cand_id: int, canon_id: int) -> bool:
        """Whether the graphs at ``cand_id`` and ``canon_id`` are equivalent (libbpf's DFS order)."""
        words, offs, kinds, hypot, resolve = self.words, self.offs, self.kinds, self.hypot, self.resolve
        vmask, start_id = self.vmask, self.start_id
        stack = [(cand_id, canon_id)]
        pop, push = stack.pop, stack.append
        while stack:
            cand, canon = pop()
            if resolve(cand) == resolve(canon):
                continue
            if kinds[canon] == _FWD:
                r = resolve(canon)
                if kinds[r] != _FWD:
                    canon = r
            h = hypot.get(canon)
            if h is not None:
                if h == cand or self._identical_arrays(h, cand) or self._identical_structs(h, cand, 0):
                    continue
                return False
            hypot[canon] = cand
            cw, kw = offs[cand], offs[canon]
            if words[cw] != words[kw]:
                return False
            ck, kk = kinds[cand], kinds[canon]
            if ck != kk:
                if ck != _FWD and kk != _FWD:
                    return False
                if ck == _FWD:
                    real, fwd = kk, (_UNION if words[cw + 1] >> 31 else _STRUCT)
                else:
                    real, fwd = ck, (_UNION if words[kw + 1] >> 31 else _STRUCT)
                    if fwd == real and canon < start_id:
                        self.adjust_canon = True
                if fwd != real:
                    return False
                continue
            ci, ki = words[cw + 1], words[kw + 1]
            if ck == _STRUCT or ck == _UNION:
                if ci != ki or words[cw + 2] != words[kw + 2]:
                    return False
                n = (ci & vmask) * 3
                if words[cw + 3 : cw + 3 + n : 3] != words[kw + 3 : kw + 3 + n : 3]:
                    return False
                if words[cw + 5 : cw + 5 + n : 3] != words[kw + 5 : kw + 5 + n : 3]:
                    return False
                ct = words[cw + 4 : cw + 4 + n : 3]
                kt = words[kw + 4 : kw + 4 + n : 3]
                for i in range(len(ct) - 1, -1, -1):
                    push((ct[i], kt[i]))
            elif ck in _EQUIV_REF:
                if ci != ki:
                    return False
                push((words[cw + 2], words[kw + 2]))
            elif ck == _FUNC_PROTO:
                if ci != ki:
                    return False
                n = (ci & vmask) * 2
                if words[cw + 3 : cw + 3 + n : 2] != words[kw + 3 : kw + 3 + n : 2]:
                    return False
                ct = words[cw + 4 : cw + 4 + n : 2]
                kt = words[kw + 4 : kw + 4 + n : 2]
                for i in range(len(ct) - 1, -1, -1):
                    push((ct[i], kt[i]))
                push((words[cw + 2], words[kw + 2]))
            elif ck == _ARRAY:
                if ci != ki or words[cw + 2] != words[kw + 2] or words[cw + 5] != words[kw + 5]:
                    return False
                push((words[cw + 3], words[kw + 3]))
                push((words[cw + 4], words[kw + 4]))
            elif ck == _INT:
                if words[cw + 1 : cw + 4] != words[kw + 1 : kw + 4]:
                    return False
            elif ck == _ENUM or ck == _ENUM64:
                if not self._compat_enum(cw, kw, ck, kk):
                    return False
            elif ck == _FWD or ck == _FLOAT:
                if ci != ki or words[cw + 2] != words[kw + 2]:
                    return False
            else:
                raise DedupError(f"type [{cand}]: kind {ck} cannot take part in a type graph comparison")
        return True

    def _identical_arrays(self, id1: int, id2: int) -> bool:
        kinds = self.kinds
        if kinds[id1] != _ARRAY or kinds[id2] != _ARRAY:
            return False
        w1, w2 = self.offs[id1], self.offs[id2]
        return self.words[w1 : w1 + 6] == self.words[w2 : w2 + 6]

    def _identical_structs(self, id1: int, id2: int, depth: int) -> bool:
        kinds = self.kinds
        k = kinds[id1]
        if (k != _STRUCT and k != _UNION) or kinds[id2] != k:
            return False
        if depth > _MAX_NESTING:
            raise DedupError(f"type [{id1}]: structs nested by value too deeply (a cycle?)")
        words = self.words
        w1, w2 = self.offs[id1], self.offs[id2]
        info = words[w1 + 1]
        if info != words[w2 + 1] or words[w1] != words[w2] or words[w1 + 2] != words[w2 + 2]:
            return False
        n = (info & self.vmask) * 3
        if words[w1 + 3 : w1 + 3 + n : 3] != words[w2 + 3 : w2 + 3 + n : 3]:
            return False
        if words[w1 + 5 : w1 + 5 + n : 3] != words[w2 + 5 : w2 + 5 + n : 3]:
            return False
        for m1, m2 in zip(words[w1 + 4 : w1 + 4 + n : 3], words[w2 + 4 : w2 + 4 + n : 3], strict=True):
            if m1 != m2 and not self._identical_arrays(m1, m2) and not self._identical_structs(m1, m2, depth + 1):
                return False
        return True

    def merge_hypot_map(self) -> None:
        kinds, mp, resolve, adjust = self.kinds, self.map, self.resolve, self.adjust_canon
        for canon, targ in self.hypot.items():
            t = resolve(targ)
            c = resolve(canon)
            tk, ck = kinds[t], kinds[c]
            if tk != _FWD and ck == _FWD:
                mp[c] = t
            if adjust:
                continue
            if tk == _FWD and ck != _FWD:
                mp[t] = c
            if (tk == _STRUCT or tk == _UNION) and ck != _FWD and mp[c] <= _MAX_ID and mp[t] > _MAX_ID:
                mp[t] = c

    # --- stand-alone forwards --------------------------------------------------------------
    def resolve_fwds(self) -> None:
        words, offs, kinds, mp = self.words, self.offs, self.kinds, self.map
        base_names = self.index.names
        own: dict[int, int] = {}
        for tid in self.own_ids():
            k = kinds[tid]
            if (k == _STRUCT or k == _UNION) and mp[tid] == tid:
                n = words[offs[tid]]
                own[n] = 0 if n in own or n in base_names else tid
        for tid in self.own_ids():
            if kinds[tid] != _FWD or mp[tid] != tid:
                continue
            w = offs[tid]
            n = words[w]
            cand = own.get(n)
            if cand is None:
                cand = base_names.get(n, 0)
            if not cand:
                continue
            if kinds[cand] != (_UNION if words[w + 1] >> 31 else _STRUCT):
                continue
            mp[tid] = cand

    # --- reference types ---------------------------------------------------------------------
    def _children(self, tid: int) -> range:
        """Word positions of the type IDs a ref-pass type depends on, in libbpf's order."""
        k = self.kinds[tid]
        w = self.offs[tid]
        if k in _REF1:
            return range(w + 2, w + 3)
        if k == _ARRAY:
            return range(w + 3, w + 5)
        if k == _FUNC_PROTO:
            return range(w + 2, w + 3)  # the return type; params are added by the caller
        raise DedupError(f"type [{tid}]: cannot deduplicate kind {k}")

    def _positions(self, tid: int) -> list[int]:
        k = self.kinds[tid]
        w = self.offs[tid]
        if k == _FUNC_PROTO:
            return [w + 2, *range(w + 4, w + 4 + (self.words[w + 1] & self.vmask) * 2, 2)]
        return list(self._children(tid))

    def dedup_refs(self) -> None:
        words, offs, kinds, mp, table = self.words, self.offs, self.kinds, self.map, self.table
        resolve, first, vmask = self.resolve, table.first, self.vmask
        for root in self.own_ids():
            if mp[root] != _UNPROCESSED:
                if mp[root] == _IN_PROGRESS:
                    raise DedupError(f"type [{root}]: reference loop")
                continue
            mp[root] = _IN_PROGRESS
            stack: list[tuple[int, list[int], int]] = [(root, self._positions(root), 0)]
            while stack:
                tid, pos, i = stack[-1]
                while i < len(pos):
                    child = words[pos[i]]
                    m = mp[child]
                    if m == _UNPROCESSED:
                        break
                    if m == _IN_PROGRESS:
                        raise DedupError(f"type [{child}]: reference loop")
                    words[pos[i]] = resolve(child)
                    i += 1
                if i < len(pos):
                    stack[-1] = (tid, pos, i)
                    child = words[pos[i]]
                    mp[child] = _IN_PROGRESS
                    stack.append((child, self._positions(child), 0))
                    continue
                stack.pop()
                w = offs[tid]
                k = kinds[tid]
                n = _record_words(k, words[w + 1], vmask)
                key = words[w : w + n].tobytes()
                new = first(key) or tid
                mp[tid] = new
                if new == tid:
                    table.add(key, tid)
                if stack:
                    ptid, ppos, pi = stack[-1]
                    words[ppos[pi]] = new
                    stack[-1] = (ptid, ppos, pi + 1)

    # --- compaction and remapping ---------------------------------------------------------------
    def compact_and_remap(self) -> tuple[array[int], array[int]]:
        words, offs, kinds, mp, resolve = self.words, self.offs, self.kinds, self.map, self.resolve
        vmask = self.vmask
        start = self.start_id
        new_id = list(range(start))
        new_id.extend([_UNPROCESSED] * self.nr)
        keep: list[int] = []
        nxt = start
        for tid in self.own_ids():
            if mp[tid] == tid:
                new_id[tid] = nxt
                nxt += 1
                keep.append(tid)
        out = array("I")
        out_offs = array("I")
        btf = self.btf
        for tid in keep:
            w = offs[tid]
            k = kinds[tid]
            rec = words[w : w + _record_words(k, words[w + 1], vmask)]
            for p in btf.ref_positions(rec, 0):
                t = new_id[resolve(rec[p])]
                if t > _MAX_ID:
                    raise DedupError(f"type [{tid}]: refers to type {rec[p]}, which has no canonical type")
                rec[p] = t
            out_offs.append(len(out))
            out.extend(rec)
        return out, out_offs


def dedup(btf: BTF, *, force_collisions: bool = False, index: BaseIndex | None = None) -> None:
    """Deduplicate ``btf`` in place, as libbpf 1.1's ``btf__dedup`` does.

    A split BTF is deduplicated against its base, which is never changed; pass
    an ``index`` (a :class:`BaseIndex` of ``btf.base``) to reuse one prepared
    base for many split BTFs.  ``force_collisions`` is accepted for parity with
    libbpf's option; it cannot change the result (see the module docstring).
    On error (:class:`~btfkit.errors.DedupError`) ``btf`` is left unchanged.
    """
    del force_collisions
    if btf.base is None:
        if index is not None:
            raise DedupError("a base index was given for a BTF without a base")
        index = BaseIndex(BTF())
    elif index is None:
        index = BaseIndex(btf.base)
    elif index.base is not btf.base:
        raise DedupError("the base index was built for a different base")
    if index._busy:
        raise DedupError("the base index is in use by another deduplication")
    index._busy = True
    d = _Dedup(btf, index)
    try:
        strings = btf.strings if btf.strs_deduped else d.dedup_strings()
        d.dedup_prims()
        d.dedup_structs()
        d.resolve_fwds()
        d.dedup_refs()
        words, offsets = d.compact_and_remap()
    finally:
        d.release()
        index._busy = False
    btf.words = words
    btf.offsets = offsets
    btf.strings = strings
    btf.strs_deduped = True
    btf._names = None

