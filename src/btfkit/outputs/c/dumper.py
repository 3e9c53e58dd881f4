"""One C dump's walk: which types are written, in which order (libbpf's ``struct btf_dump``).

Types are visited in ID order (or the order :meth:`Dumper.dump` is given).  Each
visit is two steps, named as in libbpf:

*Ordering* (``_order_type``) is a depth-first walk that queues every type that
needs a stand-alone definition (named structs, unions, enums, typedefs,
forward declarations, and anonymous enums nobody refers to) after the types it
depends on.  The walk tells *strong* links from *weak* ones.  ``struct B
{ struct A a; }`` needs ``A`` fully defined first (strong); ``struct B {
struct A *a; }`` can do with a forward declaration of ``A`` (weak).  A path is
weak once it has gone through a pointer *and* reaches a named type; anonymous
types are written inline, so whatever they embed stays strong even behind a
pointer.  A named struct found again while it is still being ordered is a
cycle, harmless through a pointer and an error otherwise.

*Emitting* (``_emit_type``) writes each queued type.  Before a struct's body it
visits the members' types so that a type only reachable through a pointer
gets its forward declaration (``struct A;``) just in time; a struct that
refers to itself needs none.  Typedefs are written before they are needed even
when their target is not complete yet.

The dump state (ordered, emitted, forward-declared, per type) lives here; the
text of each definition comes from :class:`~.render.Renderer`.
"""

# Hot paths compare kinds with chained == against module constants (faster than
# building a tuple for each membership test).
# ruff: noqa: PLR1714, SIM109
from __future__ import annotations

from collections.abc import Iterable
from itertools import compress

from ...errors import BTFFormatError
from ...format.btf import BTF
from .common import (
    _ARRAY,
    _ENUM,
    _ENUM64,
    _FUNC_PROTO,
    _FWD,
    _INT,
    _MAX_CHAIN,
    _MISSING_ALIASES,
    _MODS,
    _NOTHING_TO_ORDER,
    _PTR,
    _STRUCT,
    _TYPEDEF,
    _UNION,
)
from .render import Renderer

# Ordering and emitting states (libbpf's NOT_ORDERED/ORDERING/ORDERED and
# NOT_EMITTED/EMITTING/EMITTED).
_ORDERING = 1
_ORDERED = 2
_EMITTING = 1
_EMITTED = 2

_ORDERABLE = bytes(k not in _NOTHING_TO_ORDER for k in range(256))  # a translate table


class Dumper(Renderer):
    """The state of one C dump over every type of a BTF; its text gathers in ``out``."""

    def __init__(self, btf: BTF, base: Dumper | None = None, referenced: set[int] | None = None):
        """Index every type of ``btf`` (and its bases) by ID.

        With ``base`` (a dumper over ``btf.base`` that may already have dumped
        types), its facts and dump state are carried over and only ``btf``'s own
        types are indexed; the caller checks with :meth:`carries_over` first.
        ``referenced``, if known, is what :func:`~.index._referenced` finds in
        ``btf``'s own types.
        """
        passing, pointers, sized = self._index_records(btf, base, referenced)
        self._init_layout(base, pointers, sized)
        self._init_render(base)
        n = self.n
        if base is None:
            # Dump state: nothing ordered or emitted yet, except void.
            self.order_state = bytearray(n)
            self.emit_state = bytearray(n)
            self.fwd_emitted = bytearray(n)
            self.order_state[0] = _ORDERED
            self.emit_state[0] = _EMITTED
            self.pass_end = list(range(n))
        else:
            extra = n - base.n
            self.order_state = base.order_state + bytes(extra)
            self.emit_state = base.emit_state + bytes(extra)
            self.fwd_emitted = base.fwd_emitted + bytes(extra)
            self.pass_end = base.pass_end + list(range(base.n, n))
        # Where a chain of pointers, modifiers and arrays ends: -1 until worked out.
        pass_end = self.pass_end
        for tid in passing:
            pass_end[tid] = -1
        #: False: a walk moves the dump state on without writing any text.
        self.formatting = True
        self.passed = 0  # roots below this ID have had their turn (when turns are skipped)
        self.queue: list[int] = []
        self.out: list[str] = []

    def dump(self, ids: Iterable[int]) -> None:
        """``dump_type`` each of ``ids`` in turn, with the cheap cases decided inline."""
        state, kind, queue = self.order_state, self.kind, self.queue
        words, woff, vmask = self.words, self.woff, self.vmask
        order, emit = self._order_type, self._emit_type
        skipping = False
        if isinstance(ids, range) and ids.step == 1:
            skipping = True
            # In ID order, roots with nothing to order are not even visited: where
            # one would have been marked ordered, _order_type compares with `passed`.
            ids = compress(ids, bytes(kind[ids.start : ids.stop]).translate(_ORDERABLE))
        tid = 0
        try:
            for tid in ids:
                if state[tid] == _ORDERED:
                    continue  # nothing new can be queued
                k = kind[tid]
                # The commonest roots, FUNC_PROTO and PTR, are walked here; most have
                # nothing left to order.
                if k == _FUNC_PROTO:
                    w = woff[tid]
                    for p in words[w + 2 : w + 4 + 2 * (words[w + 1] & vmask) : 2]:
                        if state[p] != _ORDERED:
                            break
                    else:
                        state[tid] = _ORDERED  # visits through pointers need not look again
                        continue
                elif k == _PTR:
                    target = words[woff[tid] + 2]
                    if state[target] == _ORDERED:
                        state[tid] = _ORDERED
                        continue
                elif k in _NOTHING_TO_ORDER:
                    state[tid] = _ORDERED
                    continue
                if skipping:
                    self.passed = tid
                if k == _FUNC_PROTO:
                    for p in words[w + 2 : w + 4 + 2 * (words[w + 1] & vmask) : 2]:
                        if state[p] != _ORDERED:
                            order(p, False)
                elif k == _PTR:
                    order(target, True)
                    state[tid] = _ORDERED
                else:
                    order(tid, False)
                if queue:
                    for q in queue:
                        emit(q, 0)
                    queue.clear()
        except RecursionError:
            raise BTFFormatError("type graph too deep or cyclic to write as C", type_id=tid) from None

    def _order_type(self, tid: int, through_ptr: bool) -> int:
        """Queue what ``tid`` needs defined; 1 for a strong link, 0 for a weak one."""
        state = self.order_state
        st = state[tid]
        if st == _ORDERED:
            return 1
        kind, words, woff = self.kind, self.words, self.woff
        k = kind[tid]
        if k in _MODS or k == _ARRAY:
            # Modifiers and arrays only lead on to another type (arrays embed it).
            # Once that type is ordered, a visit here can only answer "strong" (as
            # in libbpf, which walks the chain again): the start is marked ordered.
            start = tid
            hops = 0
            while k in _MODS or k == _ARRAY:
                if k == _ARRAY:
                    tid = words[woff[tid] + 3]
                    through_ptr = False
                else:
                    tid = words[woff[tid] + 2]
                if state[tid] == _ORDERED:
                    state[start] = _ORDERED
                    return 1
                k = kind[tid]
                hops += 1
                if hops > _MAX_CHAIN:
                    raise BTFFormatError("modifier chain is cyclic", type_id=tid)
            strong = self._order_type(tid, through_ptr)
            if state[tid] == _ORDERED:
                state[start] = _ORDERED
            return strong
        w = woff[tid]
        if st == _ORDERING:
            if (k == _STRUCT or k == _UNION) and through_ptr and words[w]:
                return 0
            raise BTFFormatError("unsatisfiable type cycle", type_id=tid)
        if k == _PTR:
            target = words[w + 2]
            strong = 1 if state[target] == _ORDERED else self._order_type(target, True)
            state[tid] = _ORDERED
            return strong
        if k == _STRUCT or k == _UNION:
            named = words[w]
            if through_ptr and named:
                return 0
            state[tid] = _ORDERING
            for m in words[w + 4 : w + 4 + 3 * (words[w + 1] & self.vmask) : 3]:
                if state[m] != _ORDERED:
                    self._order_type(m, False)
            if named:
                self.queue.append(tid)
            state[tid] = _ORDERED
            return 1
        if k == _TYPEDEF:
            target = words[w + 2]
            strong = 1 if state[target] == _ORDERED else self._order_type(target, through_ptr)
            if through_ptr and not strong:
                return 0
            self.queue.append(tid)
            state[tid] = _ORDERED
            return 1
        if k == _FUNC_PROTO:
            strong = 0
            types = words[w + 2 : w + 4 + 2 * (words[w + 1] & self.vmask) : 2]  # return and parameter types
            for p in types:
                if state[p] == _ORDERED or self._order_type(p, through_ptr):
                    strong = 1
            for p in types:
                if state[p] != _ORDERED:
                    break
            else:
                state[tid] = _ORDERED  # a visit again would answer "strong" and do nothing
            return strong
        if k == _ENUM or k == _ENUM64 or k == _FWD:
            if words[w] or tid not in self.referenced:
                self.queue.append(tid)
            state[tid] = _ORDERED
            return 1
        # INT, FLOAT, FUNC, VAR, DATASEC, DECL_TAG: nothing to define.  A root
        # of these kinds whose turn was skipped (see :meth:`dump`) counts as ordered.
        state[tid] = _ORDERED
        return 1 if tid < self.passed else 0

    def _emit_type(self, tid: int, cont_id: int) -> None:
        """Write ``tid`` if it is a definition (top level when ``cont_id`` is 0), else its forward declarations.

        Pointers, modifiers and arrays only pass the visit on to their target:
        callers pass where such a chain ends (see ``pass_end``), never its start.
        """
        estate = self.emit_state
        es = estate[tid]
        if es == _EMITTED:
            return
        k = self.kind[tid]
        out = self.out
        fmt = self.formatting  # false: only the states move on (see ``formatting``)
        if es == _EMITTING:
            if self.fwd_emitted[tid]:
                return
            if k == _STRUCT or k == _UNION:
                # A struct naming itself needs no forward declaration; an anonymous
                # struct in a loop cannot have one.
                if tid == cont_id or not self.words[self.woff[tid]]:
                    return
                self._forward_declare(tid)
            elif k == _TYPEDEF:
                self._forward_declare(tid)
            return
        words = self.words
        w = self.woff[tid]
        if k == _STRUCT or k == _UNION:
            estate[tid] = _EMITTING
            named = words[w]
            if not cont_id or not named:
                inner = tid if named else cont_id
                pass_end = self.pass_end
                for m in words[w + 4 : w + 4 + 3 * (words[w + 1] & self.vmask) : 3]:
                    end = pass_end[m]
                    if end < 0:
                        end = self._pass_end(m)
                    if estate[end] != _EMITTED:
                        self._emit_type(end, inner)
            elif not self.fwd_emitted[tid] and tid != cont_id:
                self._forward_declare(tid)
            if not cont_id:
                if fmt:
                    out.append(self._struct_def(tid, 0) + ";\n\n")
                estate[tid] = _EMITTED
            else:
                estate[tid] = 0
        elif k == _TYPEDEF:
            estate[tid] = _EMITTING
            end = self.pass_end[words[w + 2]]
            self._emit_type(end if end >= 0 else self._pass_end(words[w + 2]), tid)
            if fmt and not self.fwd_emitted[tid] and not self._blacklisted(tid):
                out.append(self._typedef_def(tid, 0) + ";\n\n")
            estate[tid] = _EMITTED
        elif k == _FUNC_PROTO:
            pass_end = self.pass_end
            done = True
            for p in words[w + 2 : w + 4 + 2 * (words[w + 1] & self.vmask) : 2]:  # return and parameter types
                end = pass_end[p]
                if end < 0:
                    end = self._pass_end(p)
                if estate[end] != _EMITTED:
                    self._emit_type(end, cont_id)
                    if estate[end] != _EMITTED:
                        done = False
            if done:
                estate[tid] = _EMITTED  # a visit again would do nothing
        elif k == _ENUM or k == _ENUM64:
            if fmt and not cont_id:
                out.append(self._enum_def(tid, 0) + ";\n\n")
            estate[tid] = _EMITTED
        elif k == _FWD:
            if fmt:
                out.append(self._fwd_def(tid) + ";\n\n")
            estate[tid] = _EMITTED
        elif k == _INT:
            alias = _MISSING_ALIASES.get(self.naming.type_name(tid)) if fmt else None
            if alias is not None:
                out.append(f"typedef {alias} {self.naming.type_name(tid)};\n\n")
            estate[tid] = _EMITTED

    def _forward_declare(self, tid: int) -> None:
        """Write what lets ``tid`` be used before its definition: ``struct NAME;`` or the typedef."""
        if self.formatting:
            if self.kind[tid] == _TYPEDEF:
                if not self._blacklisted(tid):
                    self.out.append(self._typedef_def(tid, 0) + ";\n\n")
            else:
                self.out.append(self.naming.tag(tid) + ";\n\n")
        self.fwd_emitted[tid] = 1

    def _pass_end(self, tid: int) -> int:
        """The type a chain of pointers, modifiers and arrays from ``tid`` ends at."""
        kind, words, woff = self.kind, self.words, self.woff
        cur = tid
        for _ in range(_MAX_CHAIN):
            k = kind[cur]
            if k == _PTR or k in _MODS:
                cur = words[woff[cur] + 2]
            elif k == _ARRAY:
                cur = words[woff[cur] + 3]
            else:
                self.pass_end[tid] = cur
                return cur
        raise BTFFormatError("pointer or modifier chain is cyclic", type_id=tid)

