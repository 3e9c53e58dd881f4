"""Random inputs deduplicated by btfkit and by libbpf 1.1.2: the bytes must be equal.

Two sources of graphs: the shared random type graphs (``strategies.py``), and
C-like *compilation units* drawn here, which make the duplicates dedup is for:
the same structs seen by several CUs, some only through forward declarations,
pointer cycles, embedded structs, enums (with forwards), typedefs, function
pointers, and the odd array or struct a compiler emits twice in one CU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import btfkit
from btfkit import IntEncoding
from btfkit.transforms.dedup import dedup
from btfkit.transforms.merge import concat

from . import libbpf_oracle
from .conftest import require
from .dedup_support import assert_same_as_libbpf
from .strategies import Graph, split_graphs, type_graphs

PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _libbpf() -> None:
    require(libbpf_oracle.lib is not None, "libbpf.so.1 is not installed (Debian's libbpf1)")


# --- shared random graphs --------------------------------------------------------------------------


@PROPS
@given(type_graphs(), st.integers(1, 3))
def test_random_graph_copies(graph: Graph, copies: int) -> None:
    one = btfkit.parse(btfkit.to_bytes(graph.build()))
    raw = btfkit.to_bytes(concat([one] * copies))
    for force in (False, True):
        ours = btfkit.parse(raw)
        dedup(ours, force_collisions=force)
        assert btfkit.to_bytes(ours) == libbpf_oracle.dedup(raw, force_collisions=force)


@PROPS
@given(split_graphs())
def test_random_split_graph(pair: tuple[Graph, Graph]) -> None:
    base_graph, split_graph = pair
    base = base_graph.build()
    base_raw = btfkit.to_bytes(base)
    raw = btfkit.to_bytes(split_graph.build(base))
    # The split with a copy of the whole base in it too: all of that must fold into the base.
    parsed_base = btfkit.parse(base_raw)
    doubled = btfkit.to_bytes(concat([btfkit.parse(raw, parsed_base), btfkit.parse(base_raw)], parsed_base))
    for data in (raw, doubled):
        ours = btfkit.parse(data, parsed_base)
        dedup(ours)
        assert btfkit.to_bytes(ours) == libbpf_oracle.dedup(data, base_raw)


# --- compilation units -------------------------------------------------------------------------------

NAMES = ["a", "b", "node", "list", "sk", "dev"]
FIELDS = ["x", "y", "next", "prev", "ops", "priv"]


@dataclass(frozen=True)
class Member:
    name: str
    what: str  # "int", "long", "char", "ptr", "embed", "array", "enum", "typedef", "fnptr", "bits"
    target: int = 0  # struct index (ptr, embed) or enum index


@dataclass(frozen=True)
class StructDef:
    name: str
    union: bool
    members: tuple[Member, ...]


@st.composite
def universes(draw: st.DrawFn) -> tuple[list[StructDef], list[tuple[str, int, bool]]]:
    """Struct definitions (embedding only earlier ones) and enums (name, values, 64-bit)."""
    n = draw(st.integers(1, 6))
    enums = [(draw(st.sampled_from(["e", "f", "state"])), draw(st.integers(1, 3)), draw(st.booleans()))
             for _ in range(draw(st.integers(0, 2)))]  # fmt: skip
    structs = []
    for i in range(n):
        kinds = ["int", "long", "char", "ptr", "ptr", "array", "typedef", "fnptr", "bits"]
        if i:
            kinds.append("embed")
        if enums:
            kinds.append("enum")
        members = []
        for f in draw(st.lists(st.sampled_from(FIELDS), min_size=0, max_size=4, unique=True)):
            what = draw(st.sampled_from(kinds))
            target = draw(st.integers(0, n - 1)) if what == "ptr" else 0
            if what == "embed":
                target = draw(st.integers(0, i - 1))
            elif what == "enum":
                target = draw(st.integers(0, len(enums) - 1))
            members.append(Member(f, what, target))
        structs.append(StructDef(draw(st.sampled_from(NAMES)), draw(st.booleans()), tuple(members)))
    return structs, enums


class _CU:
    """Plans one compilation unit's types, then emits them through a builder."""

    def __init__(self, structs: list[StructDef], enums: list[tuple[str, int, bool]], full: set[int],
                 dup_arrays: bool, full_enums: bool):  # fmt: skip
        self.structs, self.enums, self.full, self.dup_arrays = structs, enums, full, dup_arrays
        self.full_enums = full_enums
        self.nodes: list[tuple[Any, ...]] = []
        self.index: dict[tuple[Any, ...], int] = {}
        self.member_nodes: dict[tuple[int, int], int] = {}

    def node(self, key: tuple[Any, ...], unique: bool = True) -> int:
        if unique and key in self.index:
            return self.index[key]
        self.nodes.append(key)
        self.index.setdefault(key, len(self.nodes) - 1)
        return len(self.nodes) - 1

    def size(self, k: int) -> int:
        return 8 * len(self.structs[k].members) + 8

    def plan(self, order: list[int]) -> None:
        for base in ("int", "long", "char"):
            self.node(("base", base))
        for k in order:
            self.struct(k)

    def struct(self, k: int) -> int:
        if k not in self.full:
            return self.node(("fwd", k))
        key = ("struct", k)
        if key in self.index:
            return self.index[key]
        i = self.node(key)
        for n, m in enumerate(self.structs[k].members):
            self.member_nodes[k, n] = self.member_type(m)
        return i

    def member_type(self, m: Member) -> int:
        if m.what in ("int", "long", "char"):
            return self.node(("base", m.what))
        if m.what == "bits":
            return self.node(("base", "int"))
        if m.what == "ptr":
            return self.node(("ptr", self.struct(m.target) if m.target in self.full else self.node(("fwd", m.target))))
        if m.what == "embed":
            return self.struct(m.target) if m.target in self.full else self.node(("base", "long"))
        if m.what == "array":
            return self.node(("array", self.node(("base", "char")), 8), unique=not self.dup_arrays)
        if m.what == "typedef":
            return self.node(("typedef", self.node(("base", "int"))))
        if m.what == "enum":
            _name, nvals, wide = self.enums[m.target]
            return self.node(("enum", m.target, nvals if self.full_enums else 0, wide))
        # a function pointer: int (*)(struct X *, long)
        arg = self.node(("ptr", self.node(("fwd", m.target))))
        proto = self.node(("proto", self.node(("base", "int")), arg, self.node(("base", "long"))))
        return self.node(("ptr", proto))

    def emit(self, b: Any) -> None:
        # IDs are known in advance: node i gets first + i (node 0 is "int").
        first = b.add_int("int", 4, IntEncoding.SIGNED)
        for key in self.nodes[1:]:
            self._emit(b, key, lambda j: first + j)

    def _emit(self, b: Any, key: tuple[Any, ...], tid: Any) -> int:
        kind = key[0]
        if kind == "base":
            return b.add_int(key[1], 8 if key[1] == "long" else 1, IntEncoding.SIGNED)
        if kind == "fwd":
            s = self.structs[key[1]]
            return b.add_fwd(s.name, "union" if s.union else "struct")
        if kind == "ptr":
            return b.add_ptr(tid(key[1]))
        if kind == "array":
            return b.add_array(tid(key[1]), tid(0), key[2])
        if kind == "typedef":
            return b.add_typedef("myint", tid(key[1]))
        if kind == "proto":
            return b.add_func_proto(tid(key[1]), [("p", tid(key[2])), ("n", tid(key[3]))])
        if kind == "enum":
            name, _, wide = self.enums[key[1]]
            values = [(f"{name.upper()}{v}", v << (40 if wide else 0)) for v in range(key[2])]
            if wide:
                return b.add_enum64(name, 8, values) if values else b.add_enum(name, 8)
            return b.add_enum(name, 4, values)
        # a struct or union, members laid out one per 8 bytes
        k = key[1]
        s = self.structs[k]
        members = []
        for n, m in enumerate(s.members):
            t = tid(self.member_nodes[k, n])
            off = 0 if s.union else 64 * n
            members.append((m.name, t, off, 3) if m.what == "bits" else (m.name, t, off))
        add = b.add_union if s.union else b.add_struct
        return add(s.name, self.size(k), members)


@st.composite
def cu_recipes(draw: st.DrawFn) -> Any:
    structs, enums = draw(universes())
    cus = []
    for _ in range(draw(st.integers(1, 4))):
        full = {k for k in range(len(structs)) if draw(st.booleans())}
        # An embedded struct must be complete where it is embedded.
        changed = True
        while changed:
            changed = False
            for k in list(full):
                for m in structs[k].members:
                    if m.what == "embed" and m.target not in full:
                        full.add(m.target)
                        changed = True
        order = draw(st.permutations(range(len(structs))))
        cu = _CU(structs, enums, full, draw(st.booleans()), draw(st.booleans()))
        cu.plan(list(order))
        cus.append(cu)

    def recipe(b: Any) -> None:
        for cu in cus:
            cu.emit(b)

    return recipe


@PROPS
@given(cu_recipes())
def test_compilation_units(recipe: Any) -> None:
    assert_same_as_libbpf(recipe)


@PROPS
@given(cu_recipes(), cu_recipes())
def test_compilation_units_split(base_recipe: Any, recipe: Any) -> None:
    def both(b: Any) -> None:  # the split repeats the base's CUs, then adds its own
        base_recipe(b)
        recipe(b)

    assert_same_as_libbpf(both, base_recipe)


# --- robustness ------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(type_graphs(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2**32 - 1)), min_size=1, max_size=4))
def test_damaged_input_is_an_error_never_a_crash(graph: Graph, damage: list[tuple[int, int]]) -> None:
    # Words of the type section overwritten: whatever the reader accepts, dedup either
    # handles or rejects with a BTFError (no other exception, no hang).
    btf = graph.build()
    words = btf.words
    for where, value in damage:
        # Small values make plausible type IDs and kinds; large ones anything else.
        words[where % len(words)] = value % (btf.type_count + 2) if value & 1 else value
    try:
        parsed = btfkit.parse(btfkit.to_bytes(btf))
    except btfkit.BTFError:
        return
    try:
        dedup(parsed)
    except btfkit.BTFError:  # DedupError, or the reference checks libbpf makes on open
        return
    btfkit.parse(btfkit.to_bytes(parsed))  # the result reads back


def _libbpf_in_child(raw: bytes) -> bytes | None:
    """libbpf's dedup of ``raw`` in a forked child (damaged input can crash libbpf 1.1,
    which checks no references when it opens BTF); None if it failed or crashed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        try:
            os.write(w, b"K" + libbpf_oracle.dedup(raw))
        except BaseException:
            os.write(w, b"E")
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 1 << 20):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    return data[1:] if status == 0 and data[:1] == b"K" else None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(type_graphs(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2**32 - 1)), min_size=1, max_size=3))
def test_damaged_input_same_as_libbpf_where_both_succeed(graph: Graph, damage: list[tuple[int, int]]) -> None:
    btf = graph.build()
    for where, value in damage:
        btf.words[where % len(btf.words)] = value % (btf.type_count + 2) if value & 1 else value
    raw = btfkit.to_bytes(btf, check=False)  # damaged on purpose
    try:
        ours = btfkit.parse(raw)
        dedup(ours)
    except btfkit.BTFError:
        return  # btfkit refuses dangling names or IDs, which libbpf 1.1 lets through
    theirs = _libbpf_in_child(raw)
    if theirs is not None:
        assert btfkit.to_bytes(ours) == theirs
