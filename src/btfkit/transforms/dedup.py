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

**Where btfkit differs on purpose.**  Errors leave the BTF as it was (libbpf
leaves it half rewritten).  Input that would make libbpf recurse without end
(a struct containing itself by value, met by the identical-struct check) or
loop through reference types is a :class:`~btfkit.errors.DedupError`.
``.BTF.ext`` is not rewritten alongside (libbpf's ``btf_ext`` option).  The
walks are iterative, so deep graphs cannot exhaust a stack.  Base chains
(split on split) and the 24-bit-vlen format are handled, which libbpf 1.1
cannot parse.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate, chain, compress, count, repeat

from ..errors import BTFError, BTFFormatError, DedupError
from ..format.btf import BTF
from ..format.kinds import Kind
from ..format.strings import StringTable
from ..gcpause import paused_gc

__all__ = ["BaseIndex", "dedup"]

_MAX_ID = 0x7FFFFFFF
_UNPROCESSED = 0xFFFFFFFF
_IN_PROGRESS = 0xFFFFFFFE

# Kind numbers as plain ints: comparing with IntEnum members costs more in the hot loops.
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT = (
    int(k) for k in (Kind.INT, Kind.PTR, Kind.ARRAY, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD,
                     Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT)
)  # fmt: skip
_FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = (
    int(k) for k in (Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR, Kind.DATASEC, Kind.FLOAT, Kind.DECL_TAG,
                     Kind.TYPE_TAG, Kind.ENUM64)
)  # fmt: skip

#: Kinds the ref pass handles; their candidate key is the whole record, references resolved.
_REFS = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG, _DECL_TAG,
                   _ARRAY, _FUNC_PROTO})  # fmt: skip
#: Kinds the prim pass handles, and the struct pass.
_PRIMS = frozenset({_INT, _FWD, _FLOAT, _ENUM, _ENUM64})
_STRUCTS = frozenset({_STRUCT, _UNION})
_FWD_OR_STRUCTS = frozenset({_FWD, _STRUCT, _UNION})
#: Ref-pass kinds with one reference, in the third word.
_REF1 = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG, _DECL_TAG})
#: Kinds is_equiv follows through their third word (DECL_TAG is not among them).
_EQUIV_REF = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG})
#: Kinds is_equiv can compare (others are invalid input there; void never gets that far).
_IN_GRAPHS = frozenset({_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST,
                        _RESTRICT, _FUNC, _FUNC_PROTO, _FLOAT, _TYPE_TAG, _ENUM64})  # fmt: skip
#: Guard for the by-value identical-struct check (real kernels nest ~10 deep).
_MAX_NESTING = 200


class _Table:
    """libbpf's candidate table, reduced to what decides candidate order.

    ``entries[key]`` lists ``id << 1 | parity`` in insertion order, where
    ``parity`` counts the table's grows so far, mod 2.  libbpf puts a new
    entry at the head of its chain and a grow reverses every chain, so with
    the current parity ``p`` a chain reads: the entries of parity ``p``
    newest first, then those of the other parity oldest first.  A table can
    sit on a frozen table (the base's) whose entries all came first.

    One type may be filed under several keys at once (an enum under its name
    and its whole record); that is still one libbpf insertion.
    """

    __slots__ = ("below", "cap", "entries", "parity", "size")

    def __init__(self, below: _Table | None = None):
        self.below = below.entries if below is not None else None
        self.entries: dict[object, list[int]] = {}
        if below is None:
            self.size = self.cap = self.parity = 0
        else:
            self.size, self.cap, self.parity = below.size, below.cap, below.parity

    def add(self, type_id: int, *keys: object) -> None:
        """File ``type_id`` under ``keys`` (one ``hashmap__append``)."""
        if self.cap == 0 or (self.size + 1) * 4 // 3 > self.cap:
            self.cap = self.cap * 2 if self.cap else 4
            self.parity ^= 1
        self.size += 1
        e = type_id << 1 | self.parity
        entries = self.entries
        for key in keys:
            lst = entries.get(key)
            if lst is None:
                entries[key] = [e]
            else:
                lst.append(e)

    def _all(self, key: object) -> list[int] | None:
        own = self.entries.get(key)
        below = self.below.get(key) if self.below is not None else None
        if below is None:
            return own
        return below if own is None else below + own

    def has(self, key: object) -> bool:
        return key in self.entries or (self.below is not None and key in self.below)

    def first(self, key: object) -> int:
        """The first candidate under ``key``, 0 if none."""
        ents = self.entries.get(key)
        if self.below is not None:
            below = self.below.get(key)
            if below is not None:
                ents = below + ents if ents else below
        if not ents:
            return 0
        if len(ents) > 1:
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
        return same + [e >> 1 for e in ents if e & 1 != p]


def _shapes(btf: BTF) -> list[tuple[int, int]]:
    """(fixed words, words per element) of each kind number, from the kinds table."""
    out = []
    for k in range(btf.info_format.kind_mask + 1):
        try:
            s = btf.spec(k)
        except BTFFormatError:  # a kind nothing describes
            out.append((0, 0))
            continue
        out.append((3 + s.extra_words, s.elem_words if s.has_vlen else 0))
    return out


#: String field values per kind number, as check_references gathers them.
StrValues = dict[int, list[Iterable[int]]]

_RefLayout = tuple[tuple[int, ...], int, int, tuple[int, ...]]


def _ref_layout(btf: BTF) -> list[_RefLayout]:
    """Per kind: fixed type-ID word positions, first element word, element size, element type-ID positions."""
    out: list[_RefLayout] = []
    for k in range(btf.info_format.kind_mask + 1):
        try:
            s = btf.spec(k)
        except BTFFormatError:
            out.append(((), 0, 0, ()))
            continue
        fixed = ((2,) if s.type_ref or s.iter_ref else ()) + tuple(3 + r for r in s.extra_refs)
        out.append((fixed, 3 + s.extra_words, s.elem_words, s.elem_refs))
    return out


def _common_prefix(seqs: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The longest common prefix of ``seqs`` (it is the common prefix of the least and greatest)."""
    lo, hi = min(seqs), max(seqs)
    for i, (a, b) in enumerate(zip(lo, hi, strict=False)):
        if a != b:
            return lo[:i]
    return lo


def _struct_key(words: array[int], w: int, vmask: int) -> tuple[bytes, array[int]]:
    """A STRUCT/UNION's key (its record with member types zeroed) and its member types."""
    rec = words[w : w + 3 + (words[w + 1] & vmask) * 3]
    types = rec[4::3]
    rec[4::3] = array("I", bytes(4 * len(types)))
    return rec.tobytes(), types


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
        self.kinds = [(words[o + 1] >> 24) & km for o in offs]
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
                n = words[offs[tid]]
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
                add(tid, raw[4 * w : 4 * (w + fixed + (words[w + 1] & vmask) * per)])
            elif k in (_STRUCT, _UNION):
                add(tid, _struct_key(words, w, vmask)[0])
            elif k in (_ENUM, _ENUM64):
                add(tid, *_enum_keys(words, w, vmask, shapes[k][1]))
            elif k not in (_VAR, _DATASEC):
                raise DedupError(f"base type [{tid}]: cannot deduplicate kind {k}")


def _enum_keys(words: array[int], w: int, vmask: int, per: int) -> tuple[object, ...]:
    """An enum's keys: its name (all enums of a name), its record, and ~name if it is a forward."""
    name = words[w]
    vlen = words[w + 1] & vmask
    rec = words[w : w + 3 + vlen * per].tobytes()
    return (name, rec) if vlen else (name, rec, ~name)


class _Dedup:
    """The state of one deduplication (libbpf's ``struct btf_dedup``)."""

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

    # --- strings --------------------------------------------------------------------
    def dedup_strings(self, values: StrValues | None = None) -> StringTable:
        """libbpf's ``btf_dedup_strings``: own strings rebuilt in first-reference order.

        A string the base has becomes the base's offset; the others are laid out
        anew, each once, without a leading NUL for split BTF.  One pass over the
        references, in order, lays out each string at its first reference and
        rewrites the offset; an offset past the table raises as
        :meth:`BTF.check_references` does.  ``values`` (the string columns per
        kind, as the reference check gathered them) lets it skip fields with offset 0.
        """
        btf = self.btf
        tab = btf.strings
        start = tab.start
        data = bytes(tab.data)
        # Offset 0 is the empty string (a base BTF's table starts with one) or the
        # base's: it never moves and lays nothing out.
        positions = self._string_positions(values or {}, start > 0 or data[:1] == b"\0")
        words = self.words
        if start:  # offsets below the own section (the base's) stay as they are
            positions = [p for p in positions if words[p] >= start]
        # Number each distinct text (from 1) and file each string's number at its
        # (local) offset, 0 elsewhere.  The table is as wide as the table of strings
        # is long, so its items are as narrow as the numbers allow: memory traffic,
        # not instructions, is what its lookups cost.
        pieces = data.split(b"\0")
        pieces.pop()
        numbers = dict(zip(dict.fromkeys(pieces), count(1)))
        at = array("H" if len(numbers) < 0x10000 else "I")
        at.frombytes(bytes(at.itemsize * (len(data) + 1)))
        off = 0
        for piece in pieces:
            at[off] = numbers[piece]
            off += len(piece) + 1
        del pieces
        texts = [b"", *numbers]
        new_off = [-1] * len(texts)  # per number, -1 until laid out
        parts: list[bytes] = []
        size = 0
        if btf.base is None:
            parts.append(b"")
            size = 1
        base_strs = self.index.strs if btf.base is not None else {}
        try:
            for p in positions:
                local = words[p] - start
                n = at[local]
                o = new_off[n]
                if o < 0:
                    if not n:  # an offset into the middle of a string (rare): number its text
                        text = data[local : data.index(b"\0", local)]
                        n = numbers.setdefault(text, len(texts))
                        if n == len(texts):
                            texts.append(text)
                            new_off.append(-1)
                        o = new_off[n]
                    if o < 0:  # the first reference to this text
                        text = texts[n]
                        o = base_strs.get(text, -1)
                        if o < 0:
                            if text:
                                o = start + size
                                parts.append(text)
                                size += len(text) + 1
                            else:
                                o = 0
                        new_off[n] = o
                words[p] = o
        except (IndexError, ValueError):  # an offset past the table (ValueError: at its end)
            btf.check_references()  # names the first bad field
            raise
        out = StringTable(base=tab.base)
        out.data[:] = b"".join(p + b"\0" for p in parts)
        return out

    def _string_positions(self, values: StrValues, skip_empty: bool) -> list[int]:
        """Word positions of the own string fields, in libbpf's visiting order.

        libbpf visits types in ID order and, in each, the name and then the
        element names; records lie in ID order in ``words``, so that order is
        just ascending position.  The positions are gathered kind by kind with
        C-level iteration and sorted.  With ``skip_empty``, fields holding offset
        0 (a third of them: pointers, prototypes and unnamed parameters) are
        left out where ``values`` has the kind's string columns.
        """
        words, vmask, shift = self.words, self.vmask, self.base_words
        groups = self.btf.records_by_kind()  # word positions in the BTF's own array
        if not skip_empty:
            values = {}
        positions = [] if values else self.offs[self.start_id :]
        for kind, ((first, per), group) in enumerate(zip(self._str_layout(), groups, strict=True)):
            if not group:
                continue
            strs = values.get(kind)
            if values:
                positions.extend([shift + w for w in (compress(group, strs[0]) if strs else group)])
            if not per:
                continue
            at, info = shift + first, shift + 1
            starts = [at + w for w in group]
            stops = [s + per * (words[info + w] & vmask) for s, w in zip(starts, group, strict=True)]
            elems = chain.from_iterable(map(range, starts, stops, repeat(per)))
            positions.extend(compress(elems, strs[1]) if strs else elems)
        positions.sort()
        return positions

    def _str_layout(self) -> list[tuple[int, int]]:
        """Per kind: first word of the element string fields and element stride (0: name only)."""
        out = []
        for k in range(self.btf.info_format.kind_mask + 1):
            try:
                s = self.btf.spec(k)
            except BTFFormatError:
                out.append((0, 0))
                continue
            if s.elem_strs:
                # Every kind with named elements has the name as the element's first word.
                out.append((3 + s.extra_words + s.elem_strs[0], s.elem_words))
            else:
                out.append((0, 0))
        return out

    # --- primitives ---------------------------------------------------------------------
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
            cinfo = words[w + 1]
            if cinfo & self.vmask == 0:
                self.set_map(cand, tid)
            elif words[w : w + len(rec) // 4].tobytes() == rec:  # type: ignore[arg-type]
                return cand
        return tid

    def _compat_enum(self, w1: int, w2: int, k2: int) -> bool:
        """libbpf 1.1's ``btf_compat_enum``: a forward matches any enum of its name."""
        words, vmask = self.words, self.vmask
        if words[w1 + 1] & vmask and words[w2 + 1] & vmask:
            info = words[w1 + 1]
            if info != words[w2 + 1]:
                return False
            n = 3 + (info & vmask) * (2 if k2 == _ENUM else 3)
            return words[w1 : w1 + n] == words[w2 : w2 + n]
        return words[w1] == words[w2] and (k2 in (_ENUM, _ENUM64))

    # --- structs ----------------------------------------------------------------------
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
            rec = words[w : w + 3 + (words[w + 1] & self.vmask) * 3]
            del rec[4::3]
            sig = rec.tobytes()
        elif k in _EQUIV_REF:
            sig = words[w : w + 2].tobytes()
        elif k == _INT:
            sig = words[w : w + 4].tobytes()
        elif k == _FLOAT:
            sig = words[w : w + 3].tobytes()
        elif k == _ARRAY:
            sig = words[w : w + 3].tobytes() + words[w + 5 : w + 6].tobytes()
        elif k == _FUNC_PROTO:
            sig = words[w : w + 2].tobytes() + words[w + 3 : w + 3 + (words[w + 1] & self.vmask) * 2 : 2].tobytes()
        else:
            sig = None
        cache[tid] = sig
        return sig

    def _member_types(self, tid: int) -> tuple[int, ...]:
        cache = self.index.member_types if tid < self.start_id else self.member_types
        mt = cache.get(tid)
        if mt is None:
            w = self.offs[tid]
            mt = cache[tid] = tuple(self.words[w + 4 : w + 4 + (self.words[w + 1] & self.vmask) * 3 : 3])
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
            if b in cands or self._expand(types[p], b) is not None:
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

    def _expand(self, cand: int, canon: int) -> list[tuple[int, int]] | None:
        """Compare one pair of is_equiv's walk: None if they differ, else the pairs to visit next."""
        words, offs, kinds = self.words, self.offs, self.kinds
        cw, kw = offs[cand], offs[canon]
        if words[cw] != words[kw]:
            return None
        ck, kk = kinds[cand], kinds[canon]
        if ck != kk:
            if _FWD not in (ck, kk):
                return None
            if ck == _FWD:
                real, fwd = kk, (_UNION if words[cw + 1] >> 31 else _STRUCT)
            else:
                real, fwd = ck, (_UNION if words[kw + 1] >> 31 else _STRUCT)
                if fwd == real and canon < self.start_id:
                    self.adjust_canon = True
            return [] if fwd == real else None
        if ck not in _IN_GRAPHS:
            raise DedupError(f"type [{cand}]: kind {ck} cannot take part in a type graph comparison")
        ci = words[cw + 1]
        if ci != words[kw + 1]:
            # Every comparison below needs equal info but the enum-forward one.
            if ck in (_ENUM, _ENUM64):
                return [] if self._compat_enum(cw, kw, kk) else None
            return None
        if ck in (_STRUCT, _UNION):
            n = (ci & self.vmask) * 3
            if (
                words[cw + 2] != words[kw + 2]
                or words[cw + 3 : cw + 3 + n : 3] != words[kw + 3 : kw + 3 + n : 3]
                or words[cw + 5 : cw + 5 + n : 3] != words[kw + 5 : kw + 5 + n : 3]
            ):
                return None
            return list(zip(words[cw + 4 : cw + 4 + n : 3], words[kw + 4 : kw + 4 + n : 3], strict=True))
        if ck in _EQUIV_REF:
            return [(words[cw + 2], words[kw + 2])]
        if ck == _FUNC_PROTO:
            n = (ci & self.vmask) * 2
            if words[cw + 3 : cw + 3 + n : 2] != words[kw + 3 : kw + 3 + n : 2]:
                return None
            out = [(words[cw + 2], words[kw + 2])]
            out.extend(zip(words[cw + 4 : cw + 4 + n : 2], words[kw + 4 : kw + 4 + n : 2], strict=True))
            return out
        if ck == _ARRAY:
            if words[cw + 2] != words[kw + 2] or words[cw + 5] != words[kw + 5]:
                return None
            return [(words[cw + 4], words[kw + 4]), (words[cw + 3], words[kw + 3])]
        if ck == _INT:
            return [] if words[cw + 2 : cw + 4] == words[kw + 2 : kw + 4] else None
        if ck in (_ENUM, _ENUM64):
            return [] if self._compat_enum(cw, kw, kk) else None
        # FWD and FLOAT
        return [] if words[cw + 2] == words[kw + 2] else None

    def is_equiv(self, cand_id: int, canon_id: int) -> bool:
        """libbpf's ``btf_dedup_is_equiv``: a side-by-side walk of two type graphs.

        Iterative, visiting pairs in the order libbpf's recursion does (members
        in order, an array's index before its element, a prototype's return
        type before its parameters); the first mismatch anywhere ends the walk.
        """
        kinds, hypot, resolve, expand = self.kinds, self.hypot, self.resolve, self._expand
        acting, acts = self.acting.append, self._merge_kinds
        words, offs, mp, vmask = self.words, self.offs, self.map, self.vmask
        # Pairs to visit, as two parallel stacks (no tuple per pair).
        cands, canons = [cand_id], [canon_id]
        cpop, kpop, cext, kext = cands.pop, canons.pop, cands.extend, canons.extend
        while cands:
            cand = cpop()
            canon = kpop()
            # A reference type's one child is compared right away (it would be
            # pushed and popped next anyway); anything else ends this inner loop.
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
                if ck == kk:
                    # The common cases, inline (the same checks as _expand).
                    cw, kw = offs[cand], offs[canon]
                    if kk in _EQUIV_REF:
                        if words[cw] != words[kw] or words[cw + 1] != words[kw + 1]:
                            return False
                        cand, canon = words[cw + 2], words[kw + 2]
                        continue
                    if kk in (_STRUCT, _UNION):
                        ci = words[cw + 1]
                        if ci != words[kw + 1]:
                            return False
                        # The records must match but for the member types: compare
                        # copies that share the canon's member types.
                        n = 3 + (ci & vmask) * 3
                        rec, other = words[cw : cw + n], words[kw : kw + n]
                        rec[4::3] = other[4::3]
                        if rec != other:
                            return False
                        # Members last to first: the stack pops them in order.
                        cext(words[cw + n - 2 : cw + 3 : -3])
                        kext(words[kw + n - 2 : kw + 3 : -3])
                        break
                    if kk == _FUNC_PROTO:
                        ci = words[cw + 1]
                        n = 3 + (ci & vmask) * 2
                        if (
                            words[cw] != words[kw]
                            or ci != words[kw + 1]
                            or words[cw + 3 : cw + n : 2] != words[kw + 3 : kw + n : 2]
                        ):
                            return False
                        # Parameters wait on the stack; the return type goes first.
                        cext(words[cw + n - 1 : cw + 3 : -2])
                        kext(words[kw + n - 1 : kw + 3 : -2])
                        cand, canon = words[cw + 2], words[kw + 2]
                        continue
                    if kk == _ARRAY:
                        if words[cw : cw + 3] != words[kw : kw + 3] or words[cw + 5] != words[kw + 5]:
                            return False
                        # The element type waits; the index type goes first.
                        cands.append(words[cw + 3])
                        canons.append(words[kw + 3])
                        cand, canon = words[cw + 4], words[kw + 4]
                        continue
                nxt = expand(cand, canon)
                if nxt is None:
                    return False
                for c, k in reversed(nxt):
                    cands.append(c)
                    canons.append(k)
                break
        return True

    def _identical_arrays(self, id1: int, id2: int) -> bool:
        kinds = self.kinds
        if kinds[id1] != _ARRAY or kinds[id2] != _ARRAY:
            return False
        w1, w2 = self.offs[id1], self.offs[id2]
        return self.words[w1 : w1 + 6] == self.words[w2 : w2 + 6]

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
        info = words[w1 + 1]
        n = (info & self.vmask) * 3
        if (
            words[w1 : w1 + 3] != words[w2 : w2 + 3]
            or words[w1 + 3 : w1 + 3 + n : 3] != words[w2 + 3 : w2 + 3 + n : 3]
            or words[w1 + 5 : w1 + 5 + n : 3] != words[w2 + 5 : w2 + 5 + n : 3]
        ):
            return False
        for m1, m2 in zip(words[w1 + 4 : w1 + 4 + n : 3], words[w2 + 4 : w2 + 4 + n : 3], strict=True):
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

    # --- stand-alone forwards --------------------------------------------------------------
    def resolve_fwds(self) -> None:
        words, offs, kinds, mp = self.words, self.offs, self.kinds, self.map
        base_names = self.index.names
        own: dict[int, int] = {}
        fwds = []
        for tid in [t for t in self.own_of(_FWD_OR_STRUCTS) if mp[t] == t]:
            k = kinds[tid]
            if k in (_STRUCT, _UNION):
                n = words[offs[tid]]
                own[n] = 0 if n in own or n in base_names else tid
            elif k == _FWD:
                fwds.append(tid)
        for tid in fwds:
            w = offs[tid]
            n = words[w]
            cand = own.get(n)
            if cand is None:
                cand = base_names.get(n, 0)
            if cand and kinds[cand] == (_UNION if words[w + 1] >> 31 else _STRUCT):
                mp[tid] = cand

    # --- reference types ---------------------------------------------------------------------
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
                child = words[w + 2]
                m = mp[child]
                if m > _MAX_ID:
                    return 0
                if m != child:
                    words[w + 2] = m if mp[m] == m else resolve(m)
                key = words[w : w + (4 if k == _DECL_TAG else 3)].tobytes()
            else:
                # FUNC_PROTO (return and parameter types) or ARRAY (element and index types)
                if k == _FUNC_PROTO:
                    lo, hi, step = w + 2, w + 3 + (words[w + 1] & vmask) * 2, 2
                    end = hi
                else:
                    lo, hi, step, end = w + 3, w + 5, 1, w + 6
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
            vlen = self.words[w + 1] & self.vmask
            for e in elem:
                out.extend(range(w + first + e, w + first + vlen * per, per))
            if len(elem) > 1:
                out.sort()
        return out

    # --- compaction and remapping ---------------------------------------------------------------
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
                sizes = [per * (out[w + 1] & vmask) for w in group]
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


def dedup(btf: BTF, *, force_collisions: bool = False, index: BaseIndex | None = None) -> None:
    """Deduplicate ``btf`` in place, as libbpf 1.1's ``btf__dedup`` does.

    A split BTF is deduplicated against its base, which never changes; pass an
    ``index`` (a :class:`BaseIndex` of ``btf.base``) to reuse one prepared
    base for many split BTFs.  ``force_collisions`` is accepted for parity
    with libbpf's option; it cannot change the result (see the module
    docstring).  On error (:class:`~btfkit.errors.DedupError`) ``btf`` is left
    unchanged.
    """
    del force_collisions
    # libbpf refuses dangling names and IDs when it opens BTF.  The check gathers
    # every string field anyway: the string pass reuses those columns, and checks
    # the offsets itself as it meets them.
    str_values: StrValues = {}

    def seen(kind: int, _refs: list[Iterable[int]], strs: list[Iterable[int]]) -> None:
        str_values[kind] = strs

    try:
        btf.check_references(seen=seen, strings=btf.strs_deduped)
    except BTFError:
        btf.check_references()  # the first bad field, strings included, as always
        raise
    if index is None:
        index = BaseIndex(btf.base if btf.base is not None else BTF())
    elif index.base is not btf.base:
        raise DedupError("the base index was built for a different base")
    if index.busy:
        raise DedupError("the base index is in use by another deduplication")
    index.busy = True
    d = _Dedup(btf, index)
    try:
        with paused_gc():
            strings = btf.strings if btf.strs_deduped else d.dedup_strings(str_values)
            d.dedup_prims()
            d.dedup_structs()
            d.resolve_fwds()
            d.dedup_refs()
            words, offsets = d.compact_and_remap()
    finally:
        d.release()
        index.busy = False
    btf.replace_types(words, offsets, strings, checked=True)  # every offset and ID was met on the way
    btf.strs_deduped = True
