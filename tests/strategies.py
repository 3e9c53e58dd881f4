"""Hypothesis strategies for random, well-formed BTF type graphs.

A graph is drawn as a *recipe*: the list of :class:`~btfkit.format.build.Builder`
calls that makes it, so the same graph can be replayed through btfkit, through
libbpf's ``btf__add_*`` (see ``test_build.py``), or shifted onto a base.  Every
graph the strategies draw is valid for the kernel's verifier (``validate``
accepts it, and so does ``BPF_BTF_LOAD``): members have sizes and fit, only
pointers make loops, type tags come first in modifier chains, and so on.

Every kind appears: INT, FLOAT, PTR (to earlier
types and forward to later structs and unions, which makes cycles through
PTR -> STRUCT), ARRAY, STRUCT and UNION (with bitfield members), ENUM and
ENUM64 (signed or not), FWD, TYPEDEF and the qualifiers, TYPE_TAG, FUNC_PROTO
(with varargs), FUNC, VAR, DATASEC and DECL_TAG.  Names come from small pools
so that equal names (and equal types) recur, as dedup needs.

Usage::

    @given(type_graphs())
    def test_x(graph: Graph) -> None:
        btf = graph.build()

    @given(split_graphs())
    def test_y(pair: tuple[Graph, Graph]) -> None:
        base_graph, split_graph = pair
        base = base_graph.build()
        split = split_graph.build(base)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from btfkit import BTF, IntEncoding, Kind, Linkage
from btfkit.format.build import Builder

IDENTS = ["a", "b", "c", "x", "foo", "bar", "node", "list_head", "_priv", "u8"]
SECTIONS = [".data", ".bss", ".rodata", ".data..percpu", "license"]
TAGS = ["user", "rcu", "percpu", "tag a", "kptr"]
POINTER_SIZE = 8
_MAX_MEMBER_SIZE = 4096  # keeps every bit offset far below the 24-bit bitfield limit


@dataclass(frozen=True)
class Call:
    """One Builder call: ``getattr(builder, method)(*args)``."""

    method: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Node:
    """What the generator knows about a type ID: enough to reference it validly."""

    kind: int
    size: int | None = None  # byte size, None for void/FWD/FUNC/FUNC_PROTO/... or unsized chains
    base: int = 0  # kind behind modifiers and typedefs (0 for void)
    vlen: int = 0  # members of a STRUCT/UNION, params of the FUNC_PROTO of a FUNC
    named_params: bool = False  # FUNC_PROTO whose every typed param has a name
    bits: int = 0  # INT behind it: its bit count


VOID = Node(0)


@dataclass
class Graph:
    """A recipe and the model of every ID it defines (index = type ID; base IDs first)."""

    calls: list[Call]
    model: list[Node]
    start_id: int = 1
    base: Graph | None = field(default=None, repr=False)

    def replay(self, builder: Builder) -> None:
        """Make the same calls on ``builder``."""
        for call in self.calls:
            getattr(builder, call.method)(*call.args)

    def build(self, base: BTF | None = None) -> BTF:
        """A new BTF made by this recipe (split on ``base`` for a split graph)."""
        builder = Builder(base=base)
        self.replay(builder)
        return builder.btf


_KINDS = [
    Kind.INT, Kind.INT, Kind.PTR, Kind.PTR, Kind.ARRAY, Kind.STRUCT, Kind.STRUCT, Kind.UNION,
    Kind.ENUM, Kind.ENUM64, Kind.FWD, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
    Kind.TYPE_TAG, Kind.FUNC_PROTO, Kind.FUNC, Kind.FUNC, Kind.VAR, Kind.DATASEC, Kind.FLOAT,
    Kind.DECL_TAG,
]  # fmt: skip
_MODS = (Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG)
_SIZED = (
    Kind.INT,
    Kind.ENUM,
    Kind.ENUM64,
    Kind.FLOAT,
    Kind.STRUCT,
    Kind.UNION,
    Kind.PTR,
    Kind.ARRAY,
)


class _Gen:
    """State while drawing one graph."""

    def __init__(self, draw: st.DrawFn, model: list[Node], plan: list[int]):
        self.draw = draw
        self.model = model
        self.first = len(model)
        self.plan = plan  # planned kind of each new ID, so pointers can point forward
        self.calls: list[Call] = []

    def call(self, method: str, *args: Any) -> None:
        self.calls.append(Call(method, args))

    def name(self, optional: bool = False) -> str:
        pool = ["", *IDENTS] if optional else IDENTS
        return self.draw(st.sampled_from(pool))

    def pick(self, ids: list[int]) -> int | None:
        return self.draw(st.sampled_from(ids)) if ids else None

    def ids(self, pred: Any) -> list[int]:
        return [i for i, n in enumerate(self.model) if pred(n)]

    def sized(self, limit: int = _MAX_MEMBER_SIZE) -> list[int]:
        """IDs usable as members, elements and variables: they have a size."""
        return self.ids(lambda n: n.size is not None and n.size <= limit and n.base in _SIZED)

    # --- one generator per kind; each returns the model of the new ID -------------------
    def int_(self) -> Node:
        size = self.draw(st.sampled_from([1, 2, 4, 8, 16]))
        enc = self.draw(
            st.sampled_from(
                [IntEncoding.NONE, IntEncoding.SIGNED, IntEncoding.CHAR, IntEncoding.BOOL]
            )
        )
        self.call(
            "add_int", self.draw(st.sampled_from(["int", "char", "long", "u8", "_Bool"])), size, enc
        )
        return Node(Kind.INT, size, Kind.INT, bits=size * 8)

    def float_(self) -> Node:
        size = self.draw(st.sampled_from([2, 4, 8, 12, 16]))
        self.call("add_float", self.draw(st.sampled_from(["float", "double", "long double"])), size)
        return Node(Kind.FLOAT, size, Kind.FLOAT)

    def ptr(self, index: int) -> Node:
        # Back to anything a pointer may point at, or forward to a planned struct/union.
        back = [
            0,
            *self.ids(lambda n: n.kind not in (Kind.FUNC, Kind.VAR, Kind.DATASEC, Kind.DECL_TAG)),
        ]
        ahead = [
            self.first + j
            for j, k in enumerate(self.plan)
            if j > index and k in (Kind.STRUCT, Kind.UNION)
        ]
        target = self.draw(st.sampled_from(back + ahead))
        self.call("add_ptr", target)
        return Node(Kind.PTR, POINTER_SIZE, Kind.PTR)

    def array(self) -> Node | None:
        index = self.pick(self.ids(lambda n: n.kind == Kind.INT))
        elem = self.pick(self.sized(1024))
        if index is None or elem is None:
            return None
        n = self.draw(st.integers(0, 4))
        self.call("add_array", elem, index, n)
        e = self.model[elem]
        assert e.size is not None
        return Node(Kind.ARRAY, e.size * n, Kind.ARRAY)

    def struct(self, is_union: bool) -> Node:
        bitfields = not is_union and self.draw(st.booleans())
        name = self.name(optional=True)
        members: list[tuple[str, int, int, int]] = []
        pos = 0  # bit position of the next member
        size = 0
        for _ in range(self.draw(st.integers(0, 5))):
            tid = self.pick(self.sized())
            if tid is None:
                break
            m = self.model[tid]
            assert m.size is not None
            nbits = 0
            if (
                bitfields
                and m.base in (Kind.INT, Kind.ENUM, Kind.ENUM64)
                and (m.base != Kind.INT or self.draw(st.booleans()))
            ):
                # An enum member of a kind_flag struct must be a bitfield (see the kernel).
                width = m.bits if m.base == Kind.INT else min(32, 8 * m.size)
                nbits = self.draw(st.integers(1, min(width, 128 - pos % 8)))
            else:
                align = 8 * min(POINTER_SIZE, m.size) if m.base == Kind.FLOAT else 8
                pos = -(-pos // align) * align
            off = 0 if is_union else pos
            members.append((self.name(optional=True), tid, off, nbits))
            end = off + (nbits or 8 * m.size)
            size = max(size, -(-end // 8))
            if not is_union:
                pos = end
        size += self.draw(st.integers(0, 8))
        self.call("add_union" if is_union else "add_struct", name, size)
        for member in members:
            self.call("add_member", *member)
        return Node(Kind.UNION if is_union else Kind.STRUCT, size, Kind.STRUCT, vlen=len(members))

    def enum(self, wide: bool) -> Node:
        size = self.draw(st.sampled_from([1, 2, 4, 8]))
        n = self.draw(st.integers(0, 4))
        names = self.draw(
            st.lists(st.sampled_from(["A", "B", "C", "ONE", "TWO", "MAX"]), min_size=n, max_size=n)
        )
        if wide:
            signed = self.draw(st.booleans())
            lo, hi = (-(1 << 63), (1 << 63) - 1) if signed else (0, (1 << 64) - 1)
            self.call("add_enum64", self.name(optional=True), size, (), signed)
            for value_name in names:
                self.call("add_enum64_value", value_name, self.draw(st.integers(lo, hi)))
        else:
            self.call("add_enum", self.name(optional=True), size)
            for value_name in names:
                self.call(
                    "add_enum_value", value_name, self.draw(st.integers(-(1 << 31), (1 << 32) - 1))
                )
        return Node(Kind.ENUM64 if wide else Kind.ENUM, size, Kind.ENUM64 if wide else Kind.ENUM)

    def fwd(self) -> Node:
        kind = self.draw(st.sampled_from(["struct", "union", "enum"]))
        self.call("add_fwd", self.name(), kind)
        if kind == "enum":
            return Node(Kind.ENUM, 4, Kind.ENUM)
        return Node(Kind.FWD)

    def modifier(self, kind: int) -> Node:
        # Qualifiers and typedefs never point at a TYPE_TAG: tags must come first in a chain.
        def ok(n: Node) -> bool:
            if n.kind in (Kind.FUNC, Kind.VAR, Kind.DATASEC, Kind.DECL_TAG):
                return False
            return kind == Kind.TYPE_TAG or n.kind != Kind.TYPE_TAG

        target = self.draw(st.sampled_from([0, *self.ids(ok)]))
        t = self.model[target]
        if kind == Kind.TYPEDEF:
            self.call("add_typedef", self.name(), target)
        elif kind == Kind.TYPE_TAG:
            self.call("add_type_tag", self.draw(st.sampled_from(TAGS)), target)
        else:
            self.call({Kind.VOLATILE: "add_volatile", Kind.CONST: "add_const",
                       Kind.RESTRICT: "add_restrict"}[kind], target)  # fmt: skip
        return Node(kind, t.size, t.base, t.vlen, bits=t.bits)

    def func_proto(self) -> Node:
        ret = self.draw(st.sampled_from([0, *self.sized()]))
        n = self.draw(st.integers(0, 4))
        params = []
        for _ in range(n):
            tid = self.pick(self.sized())
            if tid is None:
                break
            params.append((self.name(optional=True), tid))
        if self.draw(st.booleans()):
            params.append(("", 0))  # "..."
        self.call("add_func_proto", ret)
        for p in params:
            self.call("add_param", *p)
        named = all(name or not tid for name, tid in params)
        return Node(Kind.FUNC_PROTO, vlen=len(params), named_params=named)

    def func(self) -> Node | None:
        proto = self.pick(self.ids(lambda n: n.kind == Kind.FUNC_PROTO and n.named_params))
        if proto is None:
            return None
        linkage = self.draw(st.sampled_from([Linkage.STATIC, Linkage.GLOBAL]))
        self.call("add_func", self.name(), proto, linkage)
        return Node(Kind.FUNC, vlen=self.model[proto].vlen)

    def var(self) -> Node | None:
        tid = self.pick(self.sized())
        if tid is None:
            return None
        self.call(
            "add_var",
            self.name(),
            tid,
            self.draw(st.sampled_from([Linkage.STATIC, Linkage.GLOBAL])),
        )
        return Node(Kind.VAR, self.model[tid].size, Kind.VAR)

    def datasec(self) -> Node:
        variables = self.ids(lambda n: n.kind == Kind.VAR)
        chosen = self.draw(st.lists(st.sampled_from(variables), max_size=4)) if variables else []
        entries, pos = [], 0
        for var in chosen:
            vsize = self.model[var].size
            assert vsize is not None
            pos += self.draw(st.integers(0, 8))
            entry = max(1, vsize) + self.draw(st.integers(0, 4))
            entries.append((var, pos, entry))
            pos += entry
        self.call(
            "add_datasec", self.draw(st.sampled_from(SECTIONS)), pos + self.draw(st.integers(1, 8))
        )
        for entry in entries:
            self.call("add_datasec_var", *entry)
        return Node(Kind.DATASEC)

    def decl_tag(self) -> Node | None:
        targets = self.ids(
            lambda n: n.kind in (Kind.FUNC, Kind.STRUCT, Kind.UNION, Kind.VAR, Kind.TYPEDEF)
        )
        target = self.pick(targets)
        if target is None:
            return None
        t = self.model[target]
        idx = -1
        if t.kind in (Kind.FUNC, Kind.STRUCT, Kind.UNION) and t.vlen and self.draw(st.booleans()):
            idx = self.draw(st.integers(0, t.vlen - 1))
        self.call("add_decl_tag", self.draw(st.sampled_from(TAGS)), target, idx)
        return Node(Kind.DECL_TAG)

    def make(self, index: int, kind: int) -> Node:
        node: Node | None
        if kind == Kind.INT:
            node = self.int_()
        elif kind == Kind.FLOAT:
            node = self.float_()
        elif kind == Kind.PTR:
            node = self.ptr(index)
        elif kind == Kind.ARRAY:
            node = self.array()
        elif kind in (Kind.STRUCT, Kind.UNION):
            node = self.struct(kind == Kind.UNION)
        elif kind in (Kind.ENUM, Kind.ENUM64):
            node = self.enum(kind == Kind.ENUM64)
        elif kind == Kind.FWD:
            node = self.fwd()
        elif kind in _MODS:
            node = self.modifier(kind)
        elif kind == Kind.FUNC_PROTO:
            node = self.func_proto()
        elif kind == Kind.FUNC:
            node = self.func()
        elif kind == Kind.VAR:
            node = self.var()
        elif kind == Kind.DATASEC:
            node = self.datasec()
        else:
            node = self.decl_tag()
        return node if node is not None else self.int_()  # nothing to refer to yet: an INT


@st.composite
def type_graphs(draw: st.DrawFn, base: Graph | None = None, max_types: int = 24) -> Graph:
    """A random valid type graph (split on ``base``'s graph if given)."""
    model = list(base.model) if base is not None else [VOID]
    plan = draw(st.lists(st.sampled_from(_KINDS), min_size=1, max_size=max_types))
    gen = _Gen(draw, model, plan)
    for index, kind in enumerate(plan):
        model.append(gen.make(index, kind))
    return Graph(gen.calls, model, gen.first, base)


@st.composite
def split_graphs(draw: st.DrawFn, max_types: int = 16) -> tuple[Graph, Graph]:
    """A base graph and a graph split on it (referring to base and own types)."""
    base = draw(type_graphs(max_types=max_types))
    return base, draw(type_graphs(base=base, max_types=max_types))
