"""C header output: ``vmlinux.h`` exactly as ``bpftool btf dump file FILE format c`` writes it.

The reference is Debian 12's bpftool 7.1 built on libbpf 1.1 (``btf_dump.c``):
:func:`dump_c` returns the same bytes, for standalone BTF and for split BTF
(where, like bpftool, every type from ID 1 on is dumped, the base's included).
Beyond bpftool 7.1 it can sort the output by name (``sort=True``, the order newer
bpftool uses by default), emit only some types and what they need
(``roots=[...]``), and merge several modules over one base into one header
(:func:`merge_modules`).

How the C text comes about
--------------------------
Types are visited in ID order.  Each visit is two steps, named as in libbpf:

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

Declarations (``_decl`` and ``_emit_type_chain``) turn a chain of BTF types back into C
syntax: the chain is pushed on a stack down to its base type, then written
from the base type outwards, which puts ``const`` after ``*``, parenthesizes
pointers to arrays and functions, and writes anonymous structs, unions and
enums inline.  A declaration without inline definitions never changes once its
names are settled, so it is cached per type as the text around the declared
name; that cache is what keeps a full ``vmlinux.h`` fast in Python.

Names can clash once C's separate struct namespaces are flattened into one
header: the second ``struct foo`` to be written becomes ``foo___2``, and so on.
Struct, union and enum tags share one counter table; typedefs and enumerators
share another.  Forward declarations and empty enums never get a suffix.
Enumerators are counted each time their enum is written.

Struct layout is reproduced rather than trusted: gaps become anonymous
bitfields (``long: 64;``, ``int: 0;`` to force alignment), and a struct whose
members are not naturally aligned, or whose size is not a multiple of its
alignment, gets ``__attribute__((packed))``.  (libbpf 1.1 writes neither
``aligned`` attributes nor enum size attributes; later versions add
``__attribute__((aligned(N)))`` and ``mode(byte)``/``mode(word)``.)

A module's header starts with all of vmlinux.  The dump of a base, and the
dump state after it, are kept per base BTF object, so every further module
over the same base only costs its own types (unless one of them refers to an
anonymous base enum that the base left unreferenced, which changes the base's
part; then everything is dumped afresh).
"""

# Hot paths compare kinds with chained == against module constants (faster than
# building a tuple for each membership test) and keep maxima with ``if`` (faster
# than calling ``max``).
# ruff: noqa: PLR1714, SIM109, PLR1730
from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, compress

from ..errors import BTFError, BTFFormatError, NotFoundError
from ..format.btf import BTF
from ..format.kinds import KINDS, Kind, column, field_values, signed32, signed64
from ..format.strings import StringTable
from ..gcpause import paused_gc

TYPE_CHECKING = False  # typing and weakref are imported when needed: start-up time counts
if TYPE_CHECKING:
    import weakref
    from typing import TextIO

__all__ = ["EPILOGUE", "PREAMBLE", "dump_c", "iter_c", "merge_modules", "write_c"]

#: What bpftool 7.1 prints before the types.
PREAMBLE = (
    "#ifndef __VMLINUX_H__\n"
    "#define __VMLINUX_H__\n"
    "\n"
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
    "#endif\n"
    "\n"
)
#: What bpftool 7.1 prints after the types.
EPILOGUE = (
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute pop\n"
    "#endif\n"
    "\n"
    "#endif /* __VMLINUX_H__ */\n"
)

_INT = Kind.INT.value
_PTR = Kind.PTR.value
_ARRAY = Kind.ARRAY.value
_STRUCT = Kind.STRUCT.value
_UNION = Kind.UNION.value
_ENUM = Kind.ENUM.value
_FWD = Kind.FWD.value
_TYPEDEF = Kind.TYPEDEF.value
_VOLATILE = Kind.VOLATILE.value
_CONST = Kind.CONST.value
_RESTRICT = Kind.RESTRICT.value
_FUNC = Kind.FUNC.value
_FUNC_PROTO = Kind.FUNC_PROTO.value
_VAR = Kind.VAR.value
_DATASEC = Kind.DATASEC.value
_FLOAT = Kind.FLOAT.value
_DECL_TAG = Kind.DECL_TAG.value
_TYPE_TAG = Kind.TYPE_TAG.value
_ENUM64 = Kind.ENUM64.value

_COMPOSITE = frozenset({_STRUCT, _UNION})
_ENUMS = frozenset({_ENUM, _ENUM64})
_MODS = frozenset({_VOLATILE, _CONST, _RESTRICT, _TYPE_TAG})
_PASSING = _MODS | {_PTR, _ARRAY}  # kinds an emitting visit passes through
# Kinds a declaration chain passes through (the others end it).
_CHAIN_NEXT = frozenset({_PTR, _VOLATILE, _CONST, _RESTRICT, _FUNC_PROTO, _TYPE_TAG})
_SIZED = frozenset({_INT, _STRUCT, _UNION, _ENUM, _ENUM64, _DATASEC, _FLOAT})
_SIZE_THROUGH = frozenset({_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _VAR, _DECL_TAG, _TYPE_TAG})
_ALIGN_THROUGH = frozenset({_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG})

# Ordering and emitting states (libbpf's NOT_ORDERED/ORDERING/ORDERED and
# NOT_EMITTED/EMITTING/EMITTED).
_ORDERING = 1
_ORDERED = 2
_EMITTING = 1
_EMITTED = 2

_MAX_CHAIN = 4096  # a declaration chain longer than this can only be a cycle
_PFX = ["\t" * i for i in range(14)]  # libbpf caps indentation at 13 tabs
_MAX_NAME_BYTES = 255  # libbpf builds "name___N" in a 256-byte buffer
_SENTINEL = "\0"  # stands for the declared name in cached declarations

# GCC's ARM SIMD typedefs name internal types; libbpf declares them as aliases.
_MISSING_ALIASES = {
    "__Poly8_t": "unsigned char",
    "__Poly16_t": "unsigned short",
    "__Poly64_t": "unsigned long long",
    "__Poly128_t": "unsigned __int128",
}
# Names the dump compares as written (the others it only writes).
_COMPARED = frozenset({*_MISSING_ALIASES, "__gnuc_va_list"})


class _Dumper:
    """The state of one C dump (libbpf's ``struct btf_dump``) over every type of a BTF."""

    def __init__(self, btf: BTF, base: _Dumper | None = None, referenced: set[int] | None = None):
        """Index every type of ``btf`` (and its bases) by ID.

        With ``base`` (a dumper over ``btf.base`` that may already have dumped
        types), its facts and dump state are carried over and only ``btf``'s own
        types are indexed; the caller checks with :meth:`carries_over` first.
        ``referenced``, if known, is what :func:`_referenced` finds in ``btf``'s
        own types.
        """
        self.btf = btf
        parts = [btf] if base is not None else btf.chain
        if base is None:
            self.words = array("I")
            self.woff = [0]
            self.kind = bytearray(1)
            self.candidates: set[int] = set()  # anonymous enums and forward declarations
            self.referenced: set[int] = set()  # ... that some type refers to
        else:
            self.words = base.words + btf.words
            self.woff = base.woff.copy()
            self.kind = base.kind.copy()
            self.candidates = base.candidates.copy()
            self.referenced = base.referenced.copy()
        # Records are read in place: ``words[woff[tid]]`` is the name offset,
        # ``+ 1`` the info word, ``+ 2`` the size or type.  Only the kind is
        # gathered for every ID up front (most records are never looked at).
        words = self.words
        fmt = btf.info_format
        self.vmask = fmt.vlen_mask
        kind = self.kind
        passing: list[int] = []  # pointers, modifiers and arrays
        pointers: list[int] = []
        sized: list[int] = []  # kinds whose record holds their size
        for part in parts:
            shift = len(words) - len(part.words) if base is not None else len(words)
            if base is None:
                words.extend(part.words)
            offsets = [o + shift for o in part.offsets] if shift else part.offsets
            self.woff.extend(offsets)
            groups = part.ids_by_kind()
            # The largest group (FUNC, in vmlinux) is filled in at C speed; the others
            # by plain loops (cheaper than map over bytearray.__setitem__).
            common = max(range(len(groups)), key=lambda k: len(groups[k]))
            kind.extend(bytes((common,)) * len(offsets))
            for k, ids in enumerate(groups):
                if ids:
                    if k != common:
                        for tid in ids:
                            kind[tid] = k
                    if k in _PASSING:
                        passing += ids
                    if k == _PTR:
                        pointers += ids
                    elif k in _SIZED:
                        sized += ids
            self.candidates |= _anonymous_enums(part)
            if referenced is not None and part is btf:
                self.referenced |= referenced
            else:
                self.referenced |= _referenced(part, self.candidates)
        if base is None:
            self.woff[0] = len(words)  # void reads as an all-zero record
            words.frombytes(bytes(12))
        n = btf.type_count
        self.n = n
        for k in set(self.kind):
            if k and k not in KINDS:
                raise BTFFormatError(f"cannot write kind {k} as C", type_id=self.kind.index(k))
        self.name: Callable[[int], str] = _namer(btf.strings, base.name if base is not None else None)
        self.ptr_sz = btf.pointer_size or 8
        self.pads = (("long", self.ptr_sz * 8), ("int", 32), ("short", 16), ("char", 8))  # padding types

        extra = n - (base.n if base is not None else 0)
        if base is None:
            # Dump state: nothing ordered or emitted yet, except void.
            self.order_state = bytearray(n)
            self.emit_state = bytearray(n)
            self.fwd_emitted = bytearray(n)
            self.order_state[0] = _ORDERED
            self.emit_state[0] = _EMITTED
            self.names: list[str | None] = [None] * n  # resolved (possibly ___N) names
            self.tags: list[str | None] = [None] * n  # "struct name" / "union name", once settled
            self.type_names: dict[str, int] = {}
            self.ident_names: dict[str, int] = {}
            # Caches of facts that do not depend on the dump state.
            self.align_cache = array("i", [-1]) * n
            self.bits = array("q", [-1]) * n  # what a member of each type spans, in bits
            self.decl_named: list[tuple[str, str] | None] = [None] * n
            self.decl_anon: list[str | None] = [None] * n
            self.pass_end = list(range(n))
            self.packed = bytearray(n)
        else:
            self.order_state = base.order_state + bytes(extra)
            self.emit_state = base.emit_state + bytes(extra)
            self.fwd_emitted = base.fwd_emitted + bytes(extra)
            self.names = base.names + [None] * extra
            self.tags = base.tags + [None] * extra
            self.type_names = dict(base.type_names)
            self.ident_names = dict(base.ident_names)
            self.align_cache = base.align_cache + array("i", [-1]) * extra
            self.bits = base.bits + array("q", [-1]) * extra
            self.decl_named = base.decl_named + [None] * extra
            self.decl_anon = base.decl_anon + [None] * extra
            self.pass_end = base.pass_end + list(range(base.n, n))
            self.packed = base.packed + bytes(extra)
        # Where a chain of pointers, modifiers and arrays ends: -1 until worked out.
        pass_end = self.pass_end
        for tid in passing:
            pass_end[tid] = -1
        # Sizes (and pointers' alignment) need no walk: filled in up front.
        align_cache, bits, ptr_sz = self.align_cache, self.bits, self.ptr_sz
        for tid in pointers:
            align_cache[tid] = ptr_sz
            bits[tid] = ptr_sz * 8
        woff = self.woff
        for tid in sized:
            bits[tid] = words[woff[tid] + 2] * 8
        self.inline_defs = 0  # counts inline (anonymous) definitions written
        self.formatting = True
        # Whether names are written as marks for another process to settle their
        # ___N suffixes, and the order in which they were met (see _dump_forked).
        self.marking = False
        self.log: list[tuple[int, str]] = []  # (type ID or -1 for an enum value, name)
        self.passed = 0  # roots below this ID have had their turn (when turns are skipped)
        self.queue: list[int] = []
        self.out: list[str] = []

    def carries_over(self, btf: BTF) -> bool:
        """Whether this dump of ``btf.base`` can continue into split ``btf`` unchanged.

        It cannot when the split's types refer to an anonymous base enum that the
        base alone left unreferenced (that enum is then no longer a top-level
        ``enum { ... };``), or when the pointer size differs.
        """
        if btf.base is not self.btf or (btf.pointer_size or 8) != self.ptr_sz:
            return False
        return not _referenced(btf, self.candidates - self.referenced)

    # --- names ---------------------------------------------------------------------
    def _resolve_name(self, tid: int, table: dict[str, int]) -> str:
        """The name ``tid`` is written with, settling a ``___N`` suffix on first use."""
        got = self.names[tid]
        if got is not None:
            return got
        off = self.words[self.woff[tid]]
        if not off:
            return ""
        name = self.name(off)
        k = self.kind[tid]
        if k != _FWD and not (k == _ENUM and (self.words[self.woff[tid] + 1] & self.vmask) == 0):
            if self.marking and name not in _COMPARED:
                # Another process settles the suffix (see _dump_forked): write a mark.
                got = self.names[tid] = f"\x01{len(self.log)}\x01"
                self.log.append((tid, name))
                return got
            dup = table.get(name, 0) + 1
            table[name] = dup
            if dup > 1:
                name = _suffixed(name, dup)
        self.names[tid] = name
        return name

    def _type_name(self, tid: int) -> str:
        return self._resolve_name(tid, self.type_names)

    def _ident_name(self, tid: int) -> str:
        return self._resolve_name(tid, self.ident_names)

    # --- layout facts (libbpf's btf__resolve_size and btf__align_of) -------------------
    def _member_bits(self, tid: int) -> int:
        """Bits a member of type ``tid`` spans: its byte size times 8, 0 when it has none."""
        kind, words, woff = self.kind, self.words, self.woff
        orig, nelems, size, cur = tid, 1, -1, tid
        for _ in range(32):
            if cur == 0:
                break
            k = kind[cur]
            if k in _SIZED:
                size = words[woff[cur] + 2]
                break
            if k == _PTR:
                size = self.ptr_sz
                break
            if k in _SIZE_THROUGH:
                cur = words[woff[cur] + 2]
            elif k == _ARRAY:
                w = woff[cur]
                count = words[w + 5]
                if nelems and count > 0xFFFFFFFF // nelems:
                    break
                nelems *= count
                cur = words[w + 3]
            else:
                break
        overflow = size < 0 or (nelems and size > 0xFFFFFFFF // nelems)
        result = 0 if overflow else nelems * size * 8
        self.bits[orig] = result
        return result

    def _align_of(self, tid: int) -> int:
        """Alignment of ``tid`` (1 for packed structs), 0 when it has none."""
        cached = self.align_cache[tid]
        if cached >= 0:
            return cached
        kind, words, woff = self.kind, self.words, self.woff
        cur = tid
        for _ in range(_MAX_CHAIN):
            k = kind[cur] if cur else 0
            if k in _ALIGN_THROUGH:
                cur = words[woff[cur] + 2]
            elif k == _ARRAY:
                cur = self.words[self.woff[cur] + 3]
            else:
                break
        else:
            raise BTFFormatError("modifier chain is cyclic", type_id=tid)
        if k == _INT or k == _ENUM or k == _ENUM64 or k == _FLOAT:
            result = min(self.ptr_sz, words[woff[cur] + 2])
        elif k == _PTR:
            result = self.ptr_sz
        elif k == _STRUCT or k == _UNION:
            result = self._composite_align(cur)
        else:
            result = 0
        self.align_cache[tid] = result
        return result

    def _composite_align(self, tid: int) -> int:
        """A struct's or union's alignment; notes on the way whether it looks packed.

        libbpf asks two questions of the members (``btf__align_of`` and
        ``btf_is_struct_packed``); one walk answers both.
        """
        words = self.words
        w = self.woff[tid]
        info = words[w + 1]
        kflag = info >> 31
        end = w + 3 + 3 * (info & self.vmask)
        cache = self.align_cache
        best = 1
        align = -1  # settled early by a member without alignment (0) or a misplaced one (1)
        packed = False
        it = iter(words[w + 3 : end])  # members in threes: one slice, zipped with itself
        for _, m, off in zip(it, it, it, strict=False):
            a = cache[m]
            if a <= 0:
                if a < 0:
                    a = self._align_of(m)
                if not a:
                    if align < 0:
                        align = 0
                    continue
            if off % (8 * a) and (not kflag or not off >> 24):
                packed = True
                if align < 0:
                    align = 1
                break
            if a > best:
                best = a
        size = self.words[self.woff[tid] + 2]
        if not packed:
            packed = size % best != 0
        if align < 0:
            align = 1 if size % best else best
        self.packed[tid] = packed
        return align

    # --- ordering -------------------------------------------------------------------
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
        # of these kinds whose turn was skipped (see _dump_range) counts as ordered.
        state[tid] = _ORDERED
        return 1 if tid < self.passed else 0

    # --- emitting ---------------------------------------------------------------------
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
        fmt = self.formatting  # false: only the states move on (see _dump_forked)
        if es == _EMITTING:
            if self.fwd_emitted[tid]:
                return
            if k == _STRUCT or k == _UNION:
                # A struct naming itself needs no forward declaration; an anonymous
                # struct in a loop cannot have one.
                if tid == cont_id or not self.words[self.woff[tid]]:
                    return
                if fmt:
                    out.append(self._struct_fwd(tid) + ";\n\n")
                self.fwd_emitted[tid] = 1
            elif k == _TYPEDEF:
                if fmt and not self._blacklisted(tid):
                    out.append(self._typedef_def(tid, 0) + ";\n\n")
                self.fwd_emitted[tid] = 1
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
                if fmt:
                    out.append(self._struct_fwd(tid) + ";\n\n")
                self.fwd_emitted[tid] = 1
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
            alias = _MISSING_ALIASES.get(self._type_name(tid)) if fmt else None
            if alias is not None:
                out.append(f"typedef {alias} {self._type_name(tid)};\n\n")
            estate[tid] = _EMITTED

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

    def _blacklisted(self, tid: int) -> bool:
        # __builtin_va_list is the compiler's own; redefining it breaks other compilers.
        off = self.words[self.woff[tid]]
        return bool(off) and self.name(off) == "__builtin_va_list"

    def _struct_fwd(self, tid: int) -> str:
        got = self.tags[tid]
        if got is None:
            head = "struct" if self.kind[tid] == _STRUCT else "union"
            got = self.tags[tid] = f"{head} {self._resolve_name(tid, self.type_names)}" if self.words[self.woff[tid]] else head
        return got

    def _fwd_def(self, tid: int) -> str:
        return f"{'union' if (self.words[self.woff[tid] + 1] >> 31) else 'struct'} {self._type_name(tid)}"

    def _typedef_def(self, tid: int, lvl: int) -> str:
        name = self._ident_name(tid)
        target = self.words[self.woff[tid] + 2]
        # Old GCC describes __gnuc_va_list as a typedef of void; write what it means.
        if target == 0 and name == "__gnuc_va_list":
            return "typedef __builtin_va_list __gnuc_va_list"
        return "typedef " + self._decl(target, name, lvl)

    def _struct_def(self, tid: int, lvl: int) -> str:
        words = self.words
        w = self.woff[tid]
        info = words[w + 1]
        vlen = info & self.vmask
        size = words[w + 2]
        is_struct = self.kind[tid] == _STRUCT
        packed = False
        if is_struct:
            if self.align_cache[tid] < 0:
                self.align_cache[tid] = self._composite_align(tid)  # also settles whether it is packed
            packed = self.packed[tid] != 0
        w += 3
        end = w + 3 * vlen
        if info >> 31:
            lines, off = self._bitfield_members(words, w, end, packed, lvl + 1)
        else:
            # The member loop is the hottest code of a dump: caches are read inline.
            name = self.name
            decl_named, bits = self.decl_named, self.bits
            lines = []
            append = lines.append
            off = 0
            it = iter(words[w:end])  # members in threes: one slice, zipped with itself
            for noff, m_type, m_off in zip(it, it, it, strict=False):
                if off < m_off:
                    self._bit_padding(lines, off, m_off, 1 if packed else self._align_of(m_type), False)
                cached = decl_named[m_type]
                if cached is not None and noff:
                    append(cached[0] + name(noff) + cached[1])
                else:
                    append(self._member_decl(m_type, noff, lvl + 1))
                m_bits = bits[m_type]
                if m_bits < 0:
                    m_bits = self._member_bits(m_type)
                off = m_off + m_bits
        if is_struct and off < size * 8:
            self._bit_padding(lines, off, size * 8, self._align_of(tid), False)
        head = self._struct_fwd(tid)
        tail = " __attribute__((packed))" if packed else ""
        if lines:
            nl_ind = "\n" + _PFX[lvl + 1 if lvl < 13 else 13]
            body = (";" + nl_ind).join(lines)
            return f"{head} {{{nl_ind}{body};\n{_PFX[min(lvl, 13)]}}}{tail}"
        if vlen or size:
            return f"{head} {{\n{_PFX[min(lvl, 13)]}}}{tail}"
        return f"{head} {{}}{tail}"

    def _member_decl(self, m_type: int, name_off: int, lvl: int) -> str:
        """A member's declaration (``name_off`` 0 for an anonymous member)."""
        if not self.words[self.woff[m_type]] and (self.kind[m_type] == _STRUCT or self.kind[m_type] == _UNION):
            # An anonymous struct or union defined in place: what _decl writes, sooner.
            self.inline_defs += 1
            text = self._struct_def(m_type, lvl)
            name = self.name(name_off) if name_off else ""
            return f"{text} {name}" if name else text
        if name_off:
            return self._decl(m_type, self.name(name_off), lvl)
        return self.decl_anon[m_type] or self._decl(m_type, "", lvl)

    def _bitfield_members(
        self, words: array[int], w: int, end: int, packed: bool, lvl: int
    ) -> tuple[list[str], int]:
        """The member lines of a struct with bitfields (kind flag set), and the bit where they end."""
        bits = self.bits
        lines: list[str] = []
        off = 0
        prev_bitfield = False
        it = iter(words[w:end])
        for noff, m_type, m_word in zip(it, it, it, strict=False):
            m_sz = m_word >> 24
            m_off = m_word & 0xFFFFFF
            if off < m_off:
                m_align = 1 if packed else self._align_of(m_type)
                self._bit_padding(lines, off, m_off, m_align, prev_bitfield and m_sz != 0)
            text = self._member_decl(m_type, noff, lvl)
            if m_sz:
                lines.append(f"{text}: {m_sz}")
                off = m_off + m_sz
                prev_bitfield = True
            else:
                lines.append(text)
                m_bits = bits[m_type]
                if m_bits < 0:
                    m_bits = self._member_bits(m_type)
                off = m_off + m_bits
                prev_bitfield = False
        return lines, off

    def _bit_padding(self, lines: list[str], cur: int, nxt: int, next_align: int, in_bitfield: bool) -> None:
        """Fill the bit gap ``cur``..``nxt`` with anonymous bitfields, as libbpf does.

        The widest of long/int/short/char that reaches an aligned offset within
        the gap is used; a ``<type>: 0;`` mark forces that alignment where the
        compiler would not reach it by itself.
        """
        pads = self.pads
        pad_type, pad_bits, new_off = "char", 8, cur
        for pad_type, pad_bits in pads:  # noqa: B007 (the last pair is used after the loop)
            new_off = -(-cur // pad_bits) * pad_bits
            if new_off <= nxt:
                break
        if cur < new_off <= nxt:
            if (
                in_bitfield
                or (new_off == nxt and (not next_align or -(-cur // (next_align * 8)) * next_align * 8 != new_off))
                or (new_off != nxt and nxt - new_off <= new_off - cur)
            ):
                lines.append(f"{pad_type}: {new_off - cur if in_bitfield else 0}")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                lines.append(f"{pad_type}: {pad_bits}")
                cur += bits
                continue
            # The remainder takes the smallest type that holds it.
            for pad_type, pad_bits in reversed(pads):
                if pad_bits >= bits:
                    lines.append(f"{pad_type}: {bits}")
                    cur += bits
                    break

    def _enum_def(self, tid: int, lvl: int) -> str:
        name = self._resolve_name(tid, self.type_names)
        words = self.words
        w = self.woff[tid]
        head = f"enum {name}" if words[w] else "enum"
        info = words[w + 1]
        vlen = info & self.vmask
        if not vlen:
            return head
        signed = info >> 31
        get = self.name
        idents = self.ident_names
        ind = "\n" + _PFX[lvl + 1 if lvl < 13 else 13]
        parts = [head, " {"]
        append = parts.append
        w += 3
        if self.kind[tid] == _ENUM64:
            it = iter(words[w : w + 3 * vlen])
            values: Iterable[tuple[int, int | str]] = (
                (noff, f"{signed64(lo | hi << 32)}LL" if signed else f"{lo | hi << 32}ULL")
                for noff, lo, hi in zip(it, it, it, strict=False)
            )
        else:
            it = iter(words[w : w + 2 * vlen])
            values = zip(it, it, strict=False) if not signed else ((noff, signed32(v)) for noff, v in zip(it, it, strict=False))
        marking = self.marking
        for noff, value in values:
            vname = get(noff)
            if marking and vname not in _COMPARED:  # settled by another process, as in _resolve_name
                append(f"{ind}\x01{len(self.log)}\x01 = {value},")
                self.log.append((-1, vname))
                continue
            dup = idents.get(vname, 0) + 1
            idents[vname] = dup
            if dup > 1:
                append(f"{ind}{vname}___{dup} = {value},")
            else:
                append(f"{ind}{vname} = {value},")
        append("\n" + _PFX[min(lvl, 13)] + "}")
        return "".join(parts)

    # --- declarations -------------------------------------------------------------------
    def _decl(self, tid: int, fname: str, lvl: int) -> str:
        """``tid`` declared as ``fname`` in C syntax (libbpf's ``btf_dump_emit_type_decl``)."""
        if fname:
            cached = self.decl_named[tid]
            if cached is not None:
                return cached[0] + fname + cached[1]
            before = self.inline_defs
            text = self._decl_uncached(tid, _SENTINEL, lvl)
            pieces = text.split(_SENTINEL)
            if len(pieces) != 2:  # malformed chain that never names the declarator
                return text.replace(_SENTINEL, fname)
            if self.inline_defs == before:
                self.decl_named[tid] = (pieces[0], pieces[1])
            return pieces[0] + fname + pieces[1]
        got = self.decl_anon[tid]
        if got is not None:
            return got
        before = self.inline_defs
        text = self._decl_uncached(tid, "", lvl)
        if self.inline_defs == before:
            self.decl_anon[tid] = text
        return text

    def _decl_uncached(self, tid: int, fname: str, lvl: int) -> str:
        kind, words, woff = self.kind, self.words, self.woff
        stack = []
        for _ in range(_MAX_CHAIN):
            stack.append(tid)
            if tid == 0:
                break
            k = kind[tid]
            if k in _CHAIN_NEXT:
                tid = words[woff[tid] + 2]
            elif k == _ARRAY:
                tid = self.words[self.woff[tid] + 3]
            else:
                break  # a base type (or a kind no declaration can hold)
        else:
            raise BTFFormatError("declaration chain is cyclic", type_id=stack[0])
        parts: list[str] = []
        self._emit_type_chain(stack, fname, lvl, parts)
        return "".join(parts)

    def _emit_mods(self, decls: list[int], parts: list[str]) -> None:
        """Write const/volatile/restrict before a base type (on its left, as C reads them)."""
        kind = self.kind
        while decls:
            k = kind[decls[-1]]
            if k == _CONST:
                parts.append("const ")
            elif k == _VOLATILE:
                parts.append("volatile ")
            elif k == _RESTRICT:
                parts.append("restrict ")
            else:
                return
            decls.pop()

    def _drop_mods(self, decls: list[int]) -> None:
        # GCC qualifies arrays and noreturn function pointers in ways C cannot spell.
        kind = self.kind
        while decls and kind[decls[-1]] in _MODS:
            decls.pop()

    def _emit_type_chain(self, decls: list[int], fname: str, lvl: int, parts: list[str]) -> None:
        """Write the stacked chain ``decls`` (base type on top) around the name ``fname``."""
        kind = self.kind
        append = parts.append
        last_was_ptr = True  # no space between "*" and a following "*" or name
        while decls:
            tid = decls.pop()
            if tid == 0:
                self._emit_mods(decls, parts)
                append("void")
                last_was_ptr = False
                continue
            k = kind[tid]
            if k == _PTR:
                append("*" if last_was_ptr else " *")
            elif k == _TYPEDEF:
                if decls and kind[decls[-1]] in _MODS:
                    self._emit_mods(decls, parts)
                append(self.names[tid] or self._ident_name(tid))
            elif k == _STRUCT or k == _UNION:
                if decls and kind[decls[-1]] in _MODS:
                    self._emit_mods(decls, parts)
                if self.words[self.woff[tid]]:
                    append(self.tags[tid] or self._struct_fwd(tid))
                else:
                    self.inline_defs += 1
                    append(self._struct_def(tid, lvl))
            elif k == _INT or k == _FLOAT:
                if decls and kind[decls[-1]] in _MODS:
                    self._emit_mods(decls, parts)
                append(self.name(self.words[self.woff[tid]]))
            elif k == _CONST:
                append(" const")
            elif k == _VOLATILE:
                append(" volatile")
            elif k == _RESTRICT:
                append(" restrict")
            elif k == _ENUM or k == _ENUM64:
                self._emit_mods(decls, parts)
                if self.words[self.woff[tid]]:
                    append("enum " + self._type_name(tid))
                else:
                    self.inline_defs += 1
                    append(self._enum_def(tid, lvl))
            elif k == _FWD:
                self._emit_mods(decls, parts)
                append(self._fwd_def(tid))
            elif k == _TYPE_TAG:
                self._emit_mods(decls, parts)
                append(f' __attribute__((btf_type_tag("{self.name(self.words[self.woff[tid]])}")))')
            elif k == _ARRAY:
                self._drop_mods(decls)
                nelems = self.words[self.woff[tid] + 5]
                if not decls:
                    _emit_name(parts, fname, last_was_ptr)
                    append(f"[{nelems}]")
                    return
                multidim = kind[decls[-1]] == _ARRAY
                if fname and not last_was_ptr:
                    append(" ")
                if not multidim:
                    append("(")
                self._emit_type_chain(decls, fname, lvl, parts)
                if not multidim:
                    append(")")
                append(f"[{nelems}]")
                return
            elif k == _FUNC_PROTO:
                self._drop_mods(decls)
                if decls:
                    append(" (")
                    self._emit_type_chain(decls, fname, lvl, parts)
                    append(")")
                else:
                    _emit_name(parts, fname, last_was_ptr)
                append("(")
                vlen = (self.words[self.woff[tid] + 1] & self.vmask)
                words = self.words
                w = self.woff[tid] + 3
                if vlen == 0 or (vlen == 1 and words[w + 1] == 0):
                    append("void)")
                    return
                for i in range(vlen):
                    if i:
                        append(", ")
                    ptype = words[w + 2 * i + 1]
                    if i == vlen - 1 and ptype == 0:
                        append("...")  # a trailing void parameter means varargs
                        break
                    pname = words[w + 2 * i]
                    append(self._decl(ptype, self.name(pname) if pname else "", lvl))
                append(")")
                return
            else:
                return  # not a kind a declaration can hold; libbpf warns and stops
            last_was_ptr = k == _PTR
        _emit_name(parts, fname, last_was_ptr)


def _anonymous_enums(btf: BTF) -> set[int]:
    """IDs of ``btf``'s own anonymous ENUM, ENUM64 and FWD types."""
    groups, ids, words = btf.records_by_kind(), btf.ids_by_kind(), btf.words
    return {
        tid
        for k in (_ENUM, _ENUM64, _FWD)
        if k < len(groups)
        for w, tid in zip(groups[k], ids[k], strict=True)
        if not words[w]
    }


def _referenced(btf: BTF, candidates: set[int]) -> set[int]:
    """Those of ``candidates`` that ``btf``'s own types refer to.

    A FUNC_PROTO's return type does not count, as in libbpf.  Only anonymous
    enums care: one nobody refers to is a top-level ``enum { ... };``.
    """
    found: set[int] = set()
    if candidates:
        words, vmask, data = btf.words, btf.info_format.vlen_mask, btf.words.tobytes()
        for kind, group in enumerate(btf.records_by_kind()):
            if group:
                refs, _strs = field_values(words, group, btf.spec(kind), vmask, data=data)
                _note_referenced(kind, refs, candidates, found)
    return found


def _note_referenced(kind: int, refs: list[Iterable[int]], candidates: set[int], found: set[int]) -> None:
    """Add to ``found`` those of ``candidates`` that ``refs`` (one kind's type-ID columns, as
    :func:`field_values` gives them) refer to, as :func:`_referenced` counts."""
    spec = KINDS.get(kind)
    if spec is None or kind == _FUNC:  # a FUNC's type is a FUNC_PROTO, never a candidate
        return
    # The type word (the first column) counts unless it is a FUNC_PROTO's return type.
    skip_first = (spec.type_ref or spec.iter_ref) and not (spec.type_ref and kind != _FUNC_PROTO)
    for i in range(1 if skip_first else 0, len(refs)):
        column = refs[i]
        if not isinstance(column, tuple):
            refs[i] = column = list(column)  # read here and, in a check, again
        found.update(candidates.intersection(column))


def _namer(
    strings: StringTable, lower: Callable[[int], str] | None = None
) -> Callable[[int], str]:
    """A fast ``strings.get``.

    Strings are sliced out of one decoded copy of the section when first asked
    for and then kept: cheaper than mapping every string up front.  Sections that are not plain ASCII
    (or do not end in NUL) are left to ``StringTable.get``.  ``lower`` reads
    the base's offsets.
    """
    data = bytes(strings.data)
    if not data.isascii() or not data.endswith(b"\0"):
        return strings.get
    if lower is None:
        lower = _namer(strings.base) if strings.base is not None else strings.get
    text = data.decode("ascii")
    start = strings.start
    seen: dict[int, str] = {}
    find, get = text.find, seen.get

    def name(off: int) -> str:
        got = get(off)
        if got is None:
            i = off - start
            got = seen[off] = lower(off) if i < 0 else text[i : find("\0", i)]
        return got

    return name


def _emit_name(parts: list[str], fname: str, last_was_ptr: bool) -> None:
    if fname:
        parts.append(fname if last_was_ptr else " " + fname)


def _suffixed(name: str, dup: int) -> str:
    new = f"{name}___{dup}"
    raw = new.encode("utf-8", "surrogateescape")
    if len(raw) > _MAX_NAME_BYTES:  # libbpf's fixed buffer cuts long names
        new = raw[:_MAX_NAME_BYTES].decode("utf-8", "surrogateescape")
    return new


# --- the base-dump cache ------------------------------------------------------------------
class _BaseDump:
    __slots__ = ("key", "state", "text")

    def __init__(self, key: tuple[int, int, int], state: _Dumper, text: list[str]) -> None:
        self.key = key
        self.state = state
        self.text = text


# Dumping a module over vmlinux first dumps all of vmlinux; the result (text and
# state) is kept per base so that many modules over one base cost one base dump.
_BASE_DUMPS: weakref.WeakKeyDictionary[BTF, _BaseDump] | None = None


def _base_key(btf: BTF) -> tuple[int, int, int]:
    return (btf.type_count, len(btf.words), len(btf.strings))


def _dump_base(base: BTF) -> _BaseDump:
    global _BASE_DUMPS  # noqa: PLW0603 (made on first use)
    if _BASE_DUMPS is None:
        import weakref  # noqa: PLC0415

        _BASE_DUMPS = weakref.WeakKeyDictionary()
    got = _BASE_DUMPS.get(base)
    if got is not None and got.key == _base_key(base):
        return got
    d = _Dumper(base)
    with paused_gc():
        _dump_range(d, range(1, d.n))
    got = _BaseDump(_base_key(base), d, d.out)
    d.out = []
    _BASE_DUMPS[base] = got
    return got


def _dump_range(d: _Dumper, ids: Iterable[int]) -> None:
    """``dump_type`` each of ``ids`` in turn, with the cheap cases decided inline."""
    state, kind, queue = d.order_state, d.kind, d.queue
    words, woff, vmask = d.words, d.woff, d.vmask
    order, emit = d._order_type, d._emit_type
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
                d.passed = tid
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


# --- two processes --------------------------------------------------------------------------
# A C dump is one walk over the types, but most of its time goes into writing text,
# which depends on the walk's state only through names: a name shared by several
# types gets a ___N suffix in the order the types are first written.  So a second
# process can walk the first part of the types without writing anything (cheap),
# then write the rest with a mark for each name, which the first process (having
# written the first part meanwhile) replaces with the name, suffix and all, meeting
# the marks in the order they were written.
#: Set (to a list) by a caller that ends its process right after the dump (the command
#: line): the dump's working state goes there instead of being freed, which costs as
#: much as 3% of writing a vmlinux.h.
kept_for_exit: list[object] | None = None

_PARALLEL_MIN_TYPES = 20_000  # below this a second process costs more than it saves
_PARENT_SHARE = 0.58  # of the definitions, the part the first process writes


def _dump_forked(btf: BTF, split: int | None = None) -> list[str]:
    """The text of a whole C dump of ``btf`` (no base), written by two processes.

    This process checks the references (the other one sets up its dumper
    meanwhile and then takes what the check found) and walks the roots below
    ``split``, the second one the rest (by default, ``split`` leaves this
    process its share of the definitions).  Falls back to one process where
    there is no fork, and to finishing alone when the second process fails or
    finds names it cannot mark (this process then goes on where it stopped,
    which raises any error the walk meets).
    """
    import marshal  # noqa: PLC0415 (only the forked dump needs these)
    import os  # noqa: PLC0415
    from contextlib import suppress  # noqa: PLC0415

    if split is None:
        groups = btf.ids_by_kind()
        kinds = (_STRUCT, _UNION, _ENUM, _ENUM64, _TYPEDEF, _FWD)
        defs = sorted(chain.from_iterable(groups[k] for k in kinds if k < len(groups)))
        split = defs[int(len(defs) * _PARENT_SHARE)] if defs else btf.type_count
    text_r, text_w = os.pipe()  # the second process's text, to this one
    refs_r, refs_w = os.pipe()  # what the reference check found, to the second process
    try:
        pid = os.fork()
    except (AttributeError, OSError):  # no fork on this system, or no room for a process
        for fd in (text_r, text_w, refs_r, refs_w):
            os.close(fd)
        pid = -1
    if pid == 0:  # the second process: never returns
        status = 1
        try:
            os.close(text_r)
            os.close(refs_w)
            d = _Dumper(btf, referenced=set())
            found = _read_all(refs_r)
            if found:  # nothing: the check failed here
                d.referenced = marshal.loads(found)
                status = _dump_rest(d, split, text_w)
        finally:
            os._exit(status)
    if pid > 0:
        os.close(text_w)
        os.close(refs_r)
    try:
        referenced = _check_references(btf)  # bpftool cannot open BTF with dangling names or IDs
        if referenced is None:  # checked before: what it finds is not kept
            referenced = _referenced(btf, _anonymous_enums(btf))
        if pid > 0:
            with suppress(BrokenPipeError):  # the second process is gone: its status tells, below
                _write_all(refs_w, marshal.dumps(referenced))
            os.close(refs_w)
            refs_w = -1
        d = _Dumper(btf, referenced=referenced)
        _dump_range(d, range(1, split))
        data = _read_all(text_r) if pid > 0 else b""
    except BaseException:
        if pid > 0:
            os.kill(pid, 9)  # SIGKILL: its part is of no use now
        raise
    finally:
        if pid > 0:
            os.close(text_r)
            if refs_w >= 0:
                os.close(refs_w)
            status = os.waitpid(pid, 0)[1]
    if pid < 0 or status or not data:
        _dump_range(d, range(split, d.n))
        return d.out
    text, log = marshal.loads(data)
    if kept_for_exit is not None:
        kept_for_exit.append(d)
    return [*d.out, _settle_names(d, text, log)]


def _dump_rest(d: _Dumper, split: int, fd: int) -> int:
    """The second process: walk up to ``split`` silently, write the rest with marked
    names, and send text and log through ``fd``.  Returns the exit status."""
    import marshal  # noqa: PLC0415

    if not _markable(d):
        return 2
    d.formatting = False
    _dump_range(d, range(1, split))
    d.formatting = d.marking = True
    d.out = []
    _dump_range(d, range(split, d.n))
    _write_all(fd, marshal.dumps(("".join(d.out), d.log)))
    return 0


def _write_all(fd: int, data: bytes) -> None:
    import os  # noqa: PLC0415

    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    import os  # noqa: PLC0415

    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _markable(d: _Dumper) -> bool:
    """Whether the second process may mark every name: no string holds a mark
    character, and each name the dump compares (rather than only writes) names
    at most one type or enum value, so that it never takes a suffix."""
    btf = d.btf
    data = bytes(btf.strings.data)
    if b"\x01" in data:
        return False
    found: list[list[int]] = []  # per compared name, every offset that reads as it
    for text in _COMPARED:
        key, offsets = text.encode() + b"\0", []
        at = data.find(key)
        while at >= 0:
            offsets.append(at)
            at = data.find(key, at + 1)
        if offsets:
            found.append(offsets)
    if not found:
        return True
    words, vmask = btf.words, btf.info_format.vlen_mask
    names: list[int] = []
    for k, group in enumerate(btf.records_by_kind()):
        names += column(words, group, 0)
        if k in (_ENUM, _ENUM64):
            step = 2 if k == _ENUM else 3
            for w in group:
                names += words[w + 3 : w + 3 + step * (words[w + 1] & vmask) : step]
    return all(sum(map(names.count, offsets)) <= 1 for offsets in found)


def _settle_names(d: _Dumper, text: str, log: list[tuple[int, str]]) -> str:
    """Replace the marks in ``text`` (from the second process) with the names this
    process gives them, meeting them in the order the second one wrote them
    (``_resolve_name`` and ``_enum_def`` count them the same way)."""
    names, kind, type_names, idents = d.names, d.kind, d.type_names, d.ident_names
    final: list[str] = []
    for tid, name in log:
        if tid < 0:  # an enum value: every one counts
            dup = idents.get(name, 0) + 1
            idents[name] = dup
            final.append(f"{name}___{dup}" if dup > 1 else name)
            continue
        got = names[tid]
        if got is None:
            table = idents if kind[tid] == _TYPEDEF else type_names
            dup = table.get(name, 0) + 1
            table[name] = dup
            got = names[tid] = _suffixed(name, dup) if dup > 1 else name
        final.append(got)
    # A mark is a log index between two mark characters: splitting on them puts the
    # indexes at the odd places (cheaper than a regular expression over the text).
    parts = text.split("\x01")
    parts[1::2] = [final[int(key)] for key in parts[1::2]]
    return "".join(parts)


# Kinds that, as roots, only get marked ordered: they define nothing.
_NOTHING_TO_ORDER = frozenset({_INT, _FLOAT, _FUNC, _VAR, _DATASEC, _DECL_TAG})
_ORDERABLE = bytes(k not in _NOTHING_TO_ORDER for k in range(256))  # a translate table


# --- sorting (newer bpftool's default order) -------------------------------------------------
def _sort_key_fn(d: _Dumper) -> list[tuple[int, str, str, int, int]]:
    """Per-ID sort keys: (rank, sort name, own name, hash, ID), as bpftool 7.5+ orders types."""
    kind, words, woff = d.kind, d.words, d.woff
    name_off = [words[w] for w in woff]
    t2 = [words[w + 2] for w in woff]
    vlen = [words[w + 1] & d.vmask for w in woff]
    name_off[0] = t2[0] = vlen[0] = 0  # void
    name = d.name
    through = frozenset({_TYPE_TAG, _CONST, _PTR, _VOLATILE, _RESTRICT, _TYPEDEF, _DECL_TAG})

    def target(tid: int) -> int:
        return words[woff[tid] + 3] if kind[tid] == _ARRAY else t2[tid]

    def rank(tid: int) -> int:
        has_name = False
        for _ in range(_MAX_CHAIN):
            k = kind[tid] if tid else 0
            if tid and name_off[tid]:
                has_name = True
            if k in _ENUMS:
                return 1 if has_name else 0
            if k == _INT or k == _FLOAT:
                return 2
            if k in _COMPOSITE:
                return 3 if has_name else 10
            if k == _FUNC_PROTO:
                return 4 if has_name else 10
            if (k == _ARRAY or k in through) and has_name:
                tid = target(tid)
                continue
            return 10
        return 10

    def sort_name(tid: int) -> str:
        from_ref = False
        for _ in range(_MAX_CHAIN):
            k = kind[tid] if tid else 0
            if k == _ARRAY or k in through:
                tid = target(tid)
                from_ref = True
                continue
            off = name_off[tid] if tid else 0
            if k in _ENUMS and not from_ref and not off and vlen[tid]:
                off = words[woff[tid] + 3]
            return name(off) if off else ""
        return ""

    mask = (1 << 64) - 1

    def str_hash(s: str) -> int:
        h = 0
        for c in s.encode("utf-8", "surrogateescape"):
            h = (h * 31 + (c - 256 if c > 127 else c)) & mask  # C's char is signed here
        return h

    def name_hash(h: int, off: int) -> int:
        return (h * 31 + str_hash(name(off))) & mask if off else h

    def disambig(tid: int, members: bool, depth: int = 0) -> int:
        if depth > _MAX_CHAIN:
            return 0
        h = name_hash(0, name_off[tid]) if tid else 0
        k = kind[tid] if tid else 0
        if k in _ENUMS:
            step = 3 if k == _ENUM64 else 2
            w = woff[tid] + 3
            for i in range(w, w + step * vlen[tid], step):
                h = name_hash(h, words[i])
        elif k in _COMPOSITE and members:
            w = woff[tid] + 3
            for i in range(w, w + 3 * vlen[tid], 3):
                h = name_hash(h, words[i])
                h = (h * 31 + disambig(words[i + 1], False, depth + 1)) & mask
        elif k in through:
            h = (h * 31 + disambig(t2[tid], members, depth + 1)) & mask
        elif k == _ARRAY:
            h = (h * 31 + words[woff[tid] + 5]) & mask
            h = (h * 31 + disambig(target(tid), members, depth + 1)) & mask
        return h

    return [
        (rank(i), sort_name(i), name(name_off[i]) if name_off[i] else "", disambig(i, True), i)
        for i in range(1, d.n)
    ]


def _root_ids(btf: BTF, roots: Sequence[int | str]) -> list[int]:
    ids: list[int] = []
    for root in roots:
        if isinstance(root, int):
            btf[root]  # raises TypeIDError when out of range
            ids.append(root)
            continue
        found = btf.find_all(root)
        if not found:
            raise NotFoundError(f"no type named {root!r}")
        ids.extend(t.id for t in found)
    return ids


# --- public API -------------------------------------------------------------------------------
def iter_c(
    btf: BTF, *, sort: bool = False, roots: Sequence[int | str] | None = None, parallel: bool = False
) -> Iterator[str]:
    """Yield the C header for ``btf`` in pieces (see :func:`dump_c`).

    The pieces are worked out before the first one is yielded.
    """
    if parallel and not sort and not roots and btf.base is None and btf.type_count >= _PARALLEL_MIN_TYPES:
        head: list[str] = []
        with paused_gc():
            body = _dump_forked(btf)  # checks the references itself, beside the other process
    else:
        referenced = _check_references(btf)  # bpftool cannot open BTF with dangling names or IDs
        with paused_gc():
            head, d, ids = _prepare(btf, sort, roots, referenced)
            _dump_range(d, ids)
            body = d.out
            if kept_for_exit is not None:
                kept_for_exit.append(d)
            del d  # freed before the collector is back, which would only scan it
    yield PREAMBLE
    yield from head
    yield from body
    yield EPILOGUE


def _check_references(btf: BTF) -> set[int] | None:
    """``btf.check_references()``, and for BTF without a base what :func:`_referenced`
    finds in it, read off the columns the check gathers anyway (None when not known:
    split BTF, or the check had already run)."""
    if btf.base is not None:
        btf.check_references()
        return None
    candidates = _anonymous_enums(btf)
    found: set[int] = set()
    checked: list[int] = []

    def seen(kind: int, refs: list[Iterable[int]], _strs: list[Iterable[int]]) -> None:
        checked.append(kind)
        if candidates:
            _note_referenced(kind, refs, candidates, found)

    btf.check_references(seen=seen)
    return found if checked else None


def _prepare(
    btf: BTF, sort: bool, roots: Sequence[int | str] | None, referenced: set[int] | None
) -> tuple[list[str], _Dumper, Iterable[int]]:
    """Text already known, the dumper and the IDs to dump with it."""
    if roots:
        d = _Dumper(btf, referenced=referenced)
        return [], d, _root_ids(btf, roots)
    if sort:
        d = _Dumper(btf, referenced=referenced)
        return [], d, [key[-1] for key in sorted(_sort_key_fn(d))]
    if btf.base is not None:
        base = _dump_base(btf.base)
        if base.state.carries_over(btf):
            return base.text, _Dumper(btf, base.state), range(btf.start_id, btf.type_count)
    d = _Dumper(btf, referenced=referenced)
    return [], d, range(1, d.n)


def dump_c(
    btf: BTF, *, sort: bool = False, roots: Sequence[int | str] | None = None, parallel: bool = False
) -> str:
    """The C header for ``btf``, byte for byte what ``bpftool btf dump file F format c`` prints.

    For split BTF every type from ID 1 on is written, the base's included, as bpftool
    7.1 does.  ``sort=True`` orders types by kind rank and name the way newer bpftool
    does (but keeps every type).  ``roots`` limits the output to the given type IDs
    and names (every type of that name) plus what they need, in that order.

    ``parallel=True`` lets a whole dump of a large BTF without base use a second
    process (forked; the text is the same): worth it where a second CPU is free.

    Raises :class:`BTFFormatError` for type graphs C cannot express (a struct that
    contains itself, cyclic modifier chains) and :class:`NotFoundError` for an
    unknown root name.
    """
    return "".join(iter_c(btf, sort=sort, roots=roots, parallel=parallel))


def write_c(
    btf: BTF,
    file: TextIO,
    *,
    sort: bool = False,
    roots: Sequence[int | str] | None = None,
    parallel: bool = False,
) -> None:
    """Write the C header for ``btf`` to ``file`` (see :func:`dump_c`)."""
    for piece in iter_c(btf, sort=sort, roots=roots, parallel=parallel):
        file.write(piece)


def merge_modules(modules: Sequence[BTF]) -> BTF:
    """One split BTF with the types of several modules over their common base, deduplicated.

    This is what bpftool 7.7 does for ``btf dump file A file B ...``: the modules'
    own types are appended one module after another (``Builder.add_btf``) and
    the result is deduplicated against the base, so that types the modules share
    appear once.  Raises :class:`BTFError` unless all modules are split on the
    same base object.
    """
    from ..format.build import Builder  # noqa: PLC0415 (dedup and the builder are only needed here)
    from ..transforms.dedup import dedup  # noqa: PLC0415

    if not modules:
        raise BTFError("no modules to merge")
    base = modules[0].base
    if base is None or any(m.base is not base for m in modules):
        raise BTFError("modules to merge must all be split on one base BTF")
    builder = Builder(base=base)
    for module in modules:
        builder.add_btf(module)
    merged = builder.btf
    merged.pointer_size = modules[0].pointer_size
    dedup(merged)
    return merged
