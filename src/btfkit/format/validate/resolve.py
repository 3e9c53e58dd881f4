"""Pass 2, resolving references: for every type that refers to others, a
depth-first walk proving the references end (a loop is allowed only through a
pointer) in types that have a size.  The walk uses an explicit stack capped at
32 entries like the kernel's, and keeps the kernel's three modes (how far to
follow pointers, arrays and structs) and its quirks.  Struct members have their
own module (:mod:`.members`)."""

from __future__ import annotations

from ...format.kinds import (
    ARRAY_INDEX_TYPE,
    ARRAY_NELEMS,
    ARRAY_TYPE,
    DECL_TAG_COMPONENT,
    ELEMS,
    INFO,
    INT_ENCODING,
    PARAM_NAME,
    PARAM_TYPE,
    PARAM_WORDS,
    TYPE,
    VARSEC_SIZE,
    VARSEC_TYPE,
    VARSEC_WORDS,
    Kind,
    Names,
    Role,
)
from .common import (
    _DECL_TAG_TARGETS,
    _MAX_RESOLVE_DEPTH,
    _MOD,
    _NEEDS,
    _NOT_VISITED,
    _POINTEE_WITHOUT_SIZE,
    _POINTER_SIZE,
    _PTR,
    _RESOLVED,
    _ROLE,
    _SIZED,
    _SIZELESS,
    _SOA,
    _SOURCE_ONLY,
    _TBD,
    _U32,
    _VISITED,
)
from .state import _State


class _Resolution(_State):
    def _resolve_pass(self) -> None:
        kinds, visit = self.kinds, self.visit
        for tid in range(self.start, self.count):
            k = kinds[tid]
            if _NEEDS[k] and visit[tid] != _RESOLVED:
                self._resolve(tid)
            if k == Kind.FUNC_PROTO:
                self._check_proto(tid)

    def _resolve(self, root: int) -> None:
        """Walk from ``root`` until it and everything it needs are resolved."""
        if self.kinds[root] == Kind.FUNC:
            # A FUNC walk never goes further than its prototype: skip the stack machinery.
            self.rids[root] = self._check_func(root)
            self.visit[root] = _RESOLVED
            return
        self.mode = _TBD
        self._root = root
        self._push(root)
        stack, kinds, resolvers = self.stack, self.kinds, self._resolvers
        while stack:
            top = stack[-1]
            resolvers[_ROLE[kinds[top[0]]]](top)
        self._check_resolved(root)

    def _sink(self, k: int) -> bool:
        """Whether the walk stops at a type of kind ``k`` in the current mode."""
        if self.mode == _TBD:
            return not _NEEDS[k]
        if self.mode == _PTR:
            return not _MOD[k] and k != Kind.PTR
        return not _MOD[k] and _ROLE[k] not in (Role.ARRAY, Role.STRUCT)

    def _done(self, tid: int) -> bool:
        return self.visit[tid] == _RESOLVED

    def _push(self, tid: int) -> None:
        if len(self.stack) == _MAX_RESOLVE_DEPTH:
            self.fail(
                self._root, f"references nested deeper than {_MAX_RESOLVE_DEPTH} (at type [{tid}])"
            )
        if tid < self.start or self.visit[tid] != _NOT_VISITED:
            self.fail(self._root, f"reference loop through type [{tid}]")
        self.visit[tid] = _VISITED
        self.stack.append([tid, 0])
        if self.mode == _TBD:
            role = _ROLE[self.kinds[tid]]
            if role == Role.PTR:
                self.mode = _PTR
            elif role in (Role.STRUCT, Role.ARRAY):
                self.mode = _SOA

    def _pop(self, rid: int, size: int) -> None:
        tid = self.stack.pop()[0]
        self.rids[tid] = rid
        self.rsizes[tid] = size
        self.visit[tid] = _RESOLVED

    def _id_size(self, tid: int) -> tuple[int, int] | None:
        """The sized type behind ``tid`` and its size, or None (kernel's btf_type_id_size)."""
        k = self.kind(tid)
        if k < 0 or _SIZELESS[k]:
            return None
        role = _ROLE[k]
        if role in (Role.MODIFIER, Role.VAR):
            tid = self.rids[tid]
            k = self.kinds[tid]
            if _SIZELESS[k]:
                return None
            role = _ROLE[k]
        if _SIZED[k]:
            return tid, self.size_word(tid)
        if role == Role.ARRAY:
            return tid, self.rsizes[tid]
        if role == Role.PTR:
            return tid, _POINTER_SIZE
        return None

    def _target(self, tid: int) -> tuple[int, int]:
        """The type word of ``tid`` and its kind; a VAR, DECL_TAG or DATASEC there is an error."""
        w = self.offs[tid - self.start]  # only own types are ever walked
        nxt = self.words[w + TYPE]
        k = self.kind(nxt)
        if k < 0 or _SOURCE_ONLY[k]:
            why = "does not exist" if k < 0 else f"is a {Kind(k).name}, which cannot be referred to"
            self.fail(tid, f"refers to type {nxt}, which {why}", w + TYPE)
        return nxt, k

    def _push_pending(self, nxt: int, k: int) -> bool:
        """Push ``nxt`` (of kind ``k``) when it still needs resolving; then the caller waits for it."""
        if not self._sink(k) and not self._done(nxt):
            self._push(nxt)
            return True
        return False

    def _pointer_behind(self, nxt: int, k: int) -> bool:
        """Push the pointer a resolved modifier stopped at, if that pointer is still open."""
        if _MOD[k]:
            rid = self.rids[nxt]
            rk = self.kinds[rid]
            if rk == Kind.PTR and not self._sink(rk) and not self._done(rid):
                self._push(rid)
                return True
        return False

    def _resolve_modifier(self, v: list[int]) -> None:
        tid = v[0]
        nxt, k = self._target(tid)
        if self._push_pending(nxt, k):
            return
        self._pop(self._sized_or_pointee(tid, nxt), 0)

    def _resolve_ptr(self, v: list[int]) -> None:
        tid = v[0]
        nxt, k = self._target(tid)
        if self._push_pending(nxt, k) or self._pointer_behind(nxt, k):
            return
        self._pop(self._sized_or_pointee(tid, nxt), 0)

    def _sized_or_pointee(self, tid: int, nxt: int) -> int:
        """What a modifier or pointer resolves to: a sized type, void, a FWD or a FUNC_PROTO."""
        found = self._id_size(nxt)
        if found is not None:
            return found[0]
        if self._done(nxt):
            nxt = self.rids[nxt]
        if self.kinds[nxt] not in _POINTEE_WITHOUT_SIZE:
            self.fail(tid, f"refers to type {nxt}, which has no size")
        return nxt

    def _resolve_var(self, v: list[int]) -> None:
        tid = v[0]
        nxt, k = self._target(tid)
        if self._push_pending(nxt, k) or self._pointer_behind(nxt, k):
            return
        found = self._id_size(nxt)
        if found is None:
            self.fail(tid, f"VAR of type {nxt}, which has no size")
        self._pop(found[0], 0)

    def _resolve_array(self, v: list[int]) -> None:
        tid = v[0]
        words, w = self.rec(tid)
        elem, index, nelems = words[w + ARRAY_TYPE], words[w + ARRAY_INDEX_TYPE], words[w + ARRAY_NELEMS]
        if not self._array_part_ready(tid, index, "index", w + ARRAY_INDEX_TYPE):
            return
        found = self._id_size(index)
        if found is None or self.kinds[found[0]] != Kind.INT or not self._int_regular(found[0]):
            self.fail(tid, f"ARRAY index type {index} is not a whole-byte INT", w + ARRAY_INDEX_TYPE)
        if not self._array_part_ready(tid, elem, "element", w + ARRAY_TYPE):
            return
        found = self._id_size(elem)
        if found is None:
            self.fail(tid, f"ARRAY element type {elem} has no size", w + ARRAY_TYPE)
        eid, esize = found
        if self.kinds[eid] == Kind.INT and not self._int_regular(eid):
            self.fail(tid, f"ARRAY of INT [{eid}], which is a bitfield-like INT", w + ARRAY_TYPE)
        if nelems and esize > _U32 // nelems:
            self.fail(tid, f"ARRAY of {nelems} x {esize} bytes overflows 32 bits", w + ARRAY_NELEMS)
        self._pop(eid, esize * nelems)

    def _array_part_ready(self, tid: int, part: int, what: str, word: int) -> bool:
        """Whether an ARRAY's index or element type ``part`` is resolved; if it needs
        resolving first, it is pushed (False).  A type without size fails."""
        k = self.kind(part)
        if k < 0 or _SIZELESS[k] or _SOURCE_ONLY[k]:
            self.fail(tid, f"ARRAY {what} type {part} has no size", word)
        if not self._sink(k) and not self._done(part):
            self._push(part)
            return False
        return True

    def _int_regular(self, tid: int) -> bool:
        """An INT that is not a bitfield: 1, 2, 4, 8 or 16 whole bytes, no bit offset."""
        words, w = self.rec(tid)
        data = words[w + INT_ENCODING]
        bits = data & 0xFF
        return not bits & 7 and not (data >> 16) & 0xFF and bits // 8 in (1, 2, 4, 8, 16)

    def _resolve_func(self, v: list[int]) -> None:
        self._pop(self._check_func(v[0]), 0)

    def _check_func(self, tid: int) -> int:
        """A FUNC's prototype, checked: it is a FUNC_PROTO whose typed parameters have names."""
        words, w = self.rec(tid)
        proto = words[w + TYPE]
        if self.kind(proto) != Kind.FUNC_PROTO:
            self.fail(tid, f"FUNC of type {proto}, which is not a FUNC_PROTO", w + TYPE)
        pwords, pw = self.rec(proto)
        end = pw + ELEMS + PARAM_WORDS * (pwords[pw + INFO] & 0xFFFF)
        for p in range(pw + ELEMS, end, PARAM_WORDS):
            if not pwords[p + PARAM_NAME] and pwords[p + PARAM_TYPE]:
                self.fail(tid, f"FUNC whose prototype [{proto}] has an unnamed parameter", w + TYPE)
        return proto

    def _resolve_decl_tag(self, v: list[int]) -> None:
        tid = v[0]
        words, w = self.rec(tid)
        nxt = words[w + TYPE]
        k = self.kind(nxt)
        if k not in _DECL_TAG_TARGETS:
            self.fail(
                tid, f"DECL_TAG on type {nxt}, not a FUNC, STRUCT, UNION, VAR or TYPEDEF", w + TYPE
            )
        if self._push_pending(nxt, k):
            return
        idx = words[w + DECL_TAG_COMPONENT]
        if idx != _U32:
            if k in (Kind.VAR, Kind.TYPEDEF):
                self.fail(tid, f"DECL_TAG with component index {idx} on a {Kind(k).name}", w + DECL_TAG_COMPONENT)
            holder = nxt if k != Kind.FUNC else self.size_word(nxt)
            hwords, hw = self.rec(holder)
            if idx >= hwords[hw + INFO] & 0xFFFF:
                self.fail(tid, f"DECL_TAG component index {idx} out of range", w + DECL_TAG_COMPONENT)
        self._pop(nxt, 0)

    def _resolve_datasec(self, v: list[int]) -> None:
        self.mode = _TBD
        tid, first = v
        words, w = self.rec(tid)
        vlen = words[w + INFO] & 0xFFFF
        # Like the kernel, an entry whose VAR had to be resolved first is not size-checked.
        for i in range(first, vlen):
            p = w + ELEMS + VARSEC_WORDS * i
            var = words[p + VARSEC_TYPE]
            k = self.kind(var)
            if k != Kind.VAR:
                self.fail(tid, f"DATASEC entry of type {var}, which is not a VAR", p + VARSEC_TYPE)
            if not self._sink(k) and not self._done(var):
                v[1] = i + 1
                self._push(var)
                return
            found = self._id_size(self.size_word(var))
            if found is None:
                self.fail(tid, f"DATASEC entry [{var}] has a type without size", p + VARSEC_TYPE)
            if words[p + VARSEC_SIZE] < found[1]:
                self.fail(
                    tid, f"DATASEC entry [{var}] smaller than its type's {found[1]} bytes", p + VARSEC_SIZE
                )
        self._pop(0, 0)

    def _check_resolved(self, tid: int) -> None:
        """The kernel's final sanity check of a resolved root."""
        k, rid = self.kinds[tid], self.rids[tid]
        role = _ROLE[k]
        if role in (Role.STRUCT, Role.DATASEC):
            ok = rid == 0 and self.rsizes[tid] == 0
        elif role in (Role.DECL_TAG, Role.FUNC):
            ok = rid != 0 and self.rsizes[tid] == 0
        elif role in (Role.MODIFIER, Role.PTR, Role.VAR):
            rk = self.kinds[rid]
            ok = not _MOD[rk] and rk not in (Kind.VAR, Kind.DATASEC)
        else:  # ARRAY
            words, w = self.rec(tid)
            found = self._id_size(words[w + ARRAY_TYPE])
            ok = (
                found is not None
                and not _MOD[self.kinds[found[0]]]
                and (words[w + ARRAY_NELEMS] * found[1]) & _U32 == self.rsizes[tid]
            )
        if not ok:
            self.fail(tid, "resolves to an inconsistent state")

    def _check_proto(self, tid: int) -> None:
        words, w = self.rec(tid)
        ret = words[w + TYPE]
        if ret:
            k = self.kind(ret)
            if k < 0 or _SOURCE_ONLY[k]:
                self.fail(tid, f"FUNC_PROTO returning type {ret}, which cannot be returned", w + TYPE)
            if _NEEDS[k] and not self._done(ret):
                self._resolve(ret)
            if self._id_size(ret) is None:
                self.fail(tid, f"FUNC_PROTO returning type {ret}, which has no size", w + TYPE)
        n = words[w + INFO] & 0xFFFF
        last = w + ELEMS + PARAM_WORDS * (n - 1)
        if n and not words[last + PARAM_TYPE]:  # the last parameter is void: "..."
            if words[last + PARAM_NAME]:
                self.fail(tid, "FUNC_PROTO with a named '...' parameter", last + PARAM_NAME)
            n -= 1
        for p in range(w + ELEMS, w + ELEMS + PARAM_WORDS * n, PARAM_WORDS):
            name_off, ptype = words[p + PARAM_NAME], words[p + PARAM_TYPE]
            k = self.kind(ptype)
            if k < 0 or _SOURCE_ONLY[k]:
                self.fail(tid, f"parameter of type {ptype}, which cannot be a parameter", p + PARAM_TYPE)
            if name_off and not self.name_ok(Names.IDENT, name_off):
                self.fail(tid, f"parameter with invalid name {self._raw(name_off)!r}", p + PARAM_NAME)
            if _NEEDS[k] and not self._done(ptype):
                self._resolve(ptype)
            if self._id_size(ptype) is None:
                what = "void (only the last may be)" if ptype == 0 else "without size"
                self.fail(tid, f"parameter of type {ptype}, {what}", p + PARAM_TYPE)
