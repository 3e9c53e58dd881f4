"""Properties of the Builder on random type graphs (``tests/strategies.py``).

The oracle is libbpf 1.1.2 through ctypes: the same sequence of ``btf__add_*``
calls must give the same bytes (``btf__raw_data``), standalone and split, and
``btf__add_btf`` must give what :meth:`Builder.add_btf` gives.  Besides, the
bytes round-trip through the reader in both byte orders, split numbering
continues the base's IDs and string offsets, every drawn graph passes the
kernel-style validator, and bad arguments raise :class:`BuildError` where
libbpf returns an error.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import btfkit
from btfkit import BuildError, Kind
from btfkit.format.build import Builder
from btfkit.format.validate import validate

from . import libbpf_oracle
from .conftest import require
from .strategies import Graph, split_graphs, type_graphs

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_FWD_KINDS = {"struct": 0, "union": 1, "enum": 2}  # libbpf's enum btf_fwd_kind

# Builder method -> the libbpf call making the same type (libbpf orders some arguments differently).
LIBBPF_CALLS: dict[str, Callable[..., int]] = {
    "add_int": lambda b, name, size, enc: b.add_int(name, size, int(enc)),
    "add_float": lambda b, name, size: b.add_float(name, size),
    "add_ptr": lambda b, t: b.add_ptr(t),
    "add_array": lambda b, elem, index, n: b.add_array(index, elem, n),
    "add_struct": lambda b, name, size: b.add_struct(name, size),
    "add_union": lambda b, name, size: b.add_union(name, size),
    "add_member": lambda b, name, t, off, bits: b.add_field(name, t, off, bits),
    "add_enum": lambda b, name, size: b.add_enum(name, size),
    "add_enum_value": lambda b, name, value: b.add_enum_value(name, value),
    "add_enum64": lambda b, name, size, _values, signed: b.add_enum64(name, size, signed),
    "add_enum64_value": lambda b, name, value: b.add_enum64_value(name, value & (1 << 64) - 1),
    "add_fwd": lambda b, name, kind: b.add_fwd(name, _FWD_KINDS[kind]),
    "add_typedef": lambda b, name, t: b.add_typedef(name, t),
    "add_volatile": lambda b, t: b.add_volatile(t),
    "add_const": lambda b, t: b.add_const(t),
    "add_restrict": lambda b, t: b.add_restrict(t),
    "add_type_tag": lambda b, value, t: b.add_type_tag(value, t),
    "add_func": lambda b, name, proto, linkage: b.add_func(name, int(linkage), proto),
    "add_func_proto": lambda b, ret: b.add_func_proto(ret),
    "add_param": lambda b, name, t: b.add_func_param(name, t),
    "add_var": lambda b, name, t, linkage: b.add_var(name, int(linkage), t),
    "add_datasec": lambda b, name, size: b.add_datasec(name, size),
    "add_datasec_var": lambda b, t, off, size: b.add_datasec_var_info(t, off, size),
    "add_decl_tag": lambda b, value, t, idx: b.add_decl_tag(value, t, idx),
}


@pytest.fixture(scope="module")
def libbpf() -> ctypes.CDLL:
    require(libbpf_oracle.lib is not None, "libbpf.so.1 is not installed (Debian's libbpf1)")
    lib = libbpf_oracle.lib
    assert lib is not None
    lib.btf__add_btf.restype = ctypes.c_int
    lib.btf__add_btf.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.btf__type_by_id.restype = ctypes.c_void_p
    lib.btf__type_by_id.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.btf__add_type.restype = ctypes.c_int
    lib.btf__add_type.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return lib


@contextmanager
def libbpf_built(
    graph: Graph, base: libbpf_oracle.Builder | None = None
) -> Iterator[libbpf_oracle.Builder]:
    """``graph`` made through libbpf's API (split on ``base``), freed afterwards."""
    b = libbpf_oracle.Builder(base.btf if base is not None else None)
    try:
        for call in graph.calls:
            LIBBPF_CALLS[call.method](b, *call.args)
        yield b
    finally:
        b.close()


def test_every_builder_method_has_a_libbpf_twin() -> None:
    methods = {
        m
        for m in dir(Builder)
        if m.startswith("add_") and m not in ("add_str", "add_type", "add_btf")
    }
    assert methods == set(LIBBPF_CALLS)


# --- round trips and numbering --------------------------------------------------------------
@PROPS
@given(type_graphs())
def test_round_trip_both_byte_orders(graph: Graph) -> None:
    btf = graph.build()
    validate(btf)
    for order in ("little", "big"):
        data = btfkit.to_bytes(btf, order)
        again = btfkit.parse(data)
        assert again.byteorder == order
        assert btfkit.to_bytes(again, order) == data
        assert btfkit.to_bytes(again, "big" if order == "little" else "little") == btfkit.to_bytes(
            btf, "big" if order == "little" else "little"
        )


@PROPS
@given(split_graphs())
def test_split_numbering_and_round_trip(pair: tuple[Graph, Graph]) -> None:
    base_graph, split_graph = pair
    base = base_graph.build()
    builder = Builder(base=base)
    first = builder.btf.type_count
    split_graph.replay(builder)
    split = builder.btf
    validate(split)
    assert split.start_id == base.type_count == first == split_graph.start_id
    assert split.type_count == base.type_count + len(split)
    assert split.start_str_off == base.strings.end
    # A name the base has is shared; a new one gets an offset past the base's strings.
    for t in split.types():
        if t.name_off:
            in_base = base.strings.find(t.name)
            assert t.name_off == in_base if in_base is not None else t.name_off >= base.strings.end
    for order in ("little", "big"):
        base_again = btfkit.parse(btfkit.to_bytes(base, order))
        data = btfkit.to_bytes(split, order)
        again = btfkit.parse(data, base_again)
        assert btfkit.to_bytes(again, order) == data
        assert [(t.kind, t.name, t.refs()) for t in again.types()] == [
            (t.kind, t.name, t.refs()) for t in split.types()
        ]


# --- libbpf as the oracle ---------------------------------------------------------------------
@PROPS
@given(type_graphs())
def test_same_bytes_as_libbpf(libbpf: ctypes.CDLL, graph: Graph) -> None:
    with libbpf_built(graph) as theirs:
        assert btfkit.to_bytes(graph.build()) == theirs.raw()


@PROPS
@given(split_graphs())
def test_split_same_bytes_as_libbpf(libbpf: ctypes.CDLL, pair: tuple[Graph, Graph]) -> None:
    base_graph, split_graph = pair
    base = base_graph.build()
    with libbpf_built(base_graph) as their_base, libbpf_built(split_graph, their_base) as theirs:
        assert btfkit.to_bytes(base) == their_base.raw()
        assert btfkit.to_bytes(split_graph.build(base)) == theirs.raw()


@PROPS
@given(type_graphs(max_types=12), type_graphs(max_types=12))
def test_add_btf_same_as_libbpf(libbpf: ctypes.CDLL, dst_graph: Graph, src_graph: Graph) -> None:
    src = src_graph.build()
    mine = Builder(dst_graph.build())
    first = mine.add_btf(src)
    with libbpf_built(dst_graph) as theirs, libbpf_built(src_graph) as their_src:
        assert libbpf.btf__add_btf(theirs.btf, their_src.btf) == first
        assert btfkit.to_bytes(mine.btf) == theirs.raw()
    validate(mine.btf)


@PROPS
@given(split_graphs(max_types=10), type_graphs(max_types=10))
def test_add_btf_into_split_same_as_libbpf(
    libbpf: ctypes.CDLL, pair: tuple[Graph, Graph], src_graph: Graph
) -> None:
    base_graph, dst_graph = pair
    base = base_graph.build()
    mine = Builder(dst_graph.build(base))
    first = mine.add_btf(src_graph.build())
    with (
        libbpf_built(base_graph) as their_base,
        libbpf_built(dst_graph, their_base) as theirs,
        libbpf_built(src_graph) as their_src,
    ):
        assert libbpf.btf__add_btf(theirs.btf, their_src.btf) == first
        assert btfkit.to_bytes(mine.btf) == theirs.raw()


@PROPS
@given(st.data())
def test_add_btf_of_split_on_the_same_base(libbpf: ctypes.CDLL, data: st.DataObject) -> None:
    # libbpf 1.1.2 refuses a split source (-ENOTSUP), so the oracle here is the recipe
    # itself: adding split B to split A equals replaying B's calls after A's, with
    # B's own IDs moved past A's and base IDs left alone.
    base_graph, a_graph = data.draw(split_graphs(max_types=10))
    b_graph = data.draw(type_graphs(base=base_graph, max_types=10))
    base = base_graph.build()
    mine = Builder(a_graph.build(base))
    first = mine.add_btf(b_graph.build(base))
    expected = Builder(a_graph.build(base))
    shift = first - b_graph.start_id
    for call in b_graph.calls:
        getattr(expected, call.method)(*_shift_ids(call.method, call.args, b_graph.start_id, shift))
    assert btfkit.to_bytes(mine.btf) == btfkit.to_bytes(expected.btf)
    validate(mine.btf)
    with (
        libbpf_built(base_graph) as their_base,
        libbpf_built(a_graph, their_base) as their_a,
        libbpf_built(b_graph, their_base) as their_b,
    ):
        assert libbpf.btf__add_btf(their_a.btf, their_b.btf) == -95  # -ENOTSUP


# Which arguments of each Builder method are type IDs.
_ID_ARGS: dict[str, tuple[int, ...]] = {
    "add_ptr": (0,), "add_array": (0, 1), "add_member": (1,), "add_typedef": (1,),
    "add_volatile": (0,), "add_const": (0,), "add_restrict": (0,), "add_type_tag": (1,),
    "add_func": (1,), "add_func_proto": (0,), "add_param": (1,), "add_var": (1,),
    "add_datasec_var": (0,), "add_decl_tag": (1,),
}  # fmt: skip


def _shift_ids(method: str, args: tuple[Any, ...], start: int, shift: int) -> tuple[Any, ...]:
    out = list(args)
    for i in _ID_ARGS.get(method, ()):
        if out[i] >= start:
            out[i] += shift
    return tuple(out)


@PROPS
@given(type_graphs(max_types=12), st.data())
def test_add_type_same_as_libbpf(libbpf: ctypes.CDLL, graph: Graph, data: st.DataObject) -> None:
    src = graph.build()
    picks = data.draw(st.lists(st.integers(1, len(src)), max_size=6))
    mine = Builder()
    with libbpf_built(graph) as their_src:
        theirs = libbpf_oracle.Builder()
        try:
            for tid in picks:
                got = libbpf.btf__add_type(
                    theirs.btf, their_src.btf, libbpf.btf__type_by_id(their_src.btf, tid)
                )
                assert mine.add_type(src, tid) == got
            assert btfkit.to_bytes(mine.btf, check=False) == theirs.raw()  # (copies may dangle)
        finally:
            theirs.close()


def test_large_member_offset_as_libbpf(libbpf: ctypes.CDLL) -> None:
    # Only bitfields are limited to a 24-bit offset; a plain member may sit anywhere.
    mine, theirs = Builder(), libbpf_oracle.Builder()
    try:
        for b, add_member in ((mine, mine.add_member), (theirs, theirs.add_field)):
            b.add_int("int", 4, 0)
            b.add_struct("big", 1 << 22)
            add_member("far", 1, (1 << 25) + 64, 0)
        assert btfkit.to_bytes(mine.btf) == theirs.raw()
    finally:
        theirs.close()


# --- errors ------------------------------------------------------------------------------------
def _int_then(call: Callable[[Any], object]) -> Callable[[Any], object]:
    def run(b: Any) -> object:
        b.add_int("int", 4, 0)
        return call(b)

    return run


# Calls the format cannot express: (btfkit call, the same call through libbpf).
BAD_CALLS: dict[
    str, tuple[Callable[[Builder], object], Callable[[libbpf_oracle.Builder], object]]
] = {
    "INT of 3 bytes": (lambda b: b.add_int("i", 3), lambda b: b.add_int("i", 3, 0)),
    "INT without a name": (lambda b: b.add_int("", 4), lambda b: b.add_int("", 4, 0)),
    "INT encoding 8": (lambda b: b.add_int("i", 4, 8), lambda b: b.add_int("i", 4, 8)),  # type: ignore[arg-type]
    "FLOAT of 3 bytes": (lambda b: b.add_float("f", 3), lambda b: b.add_float("f", 3)),
    "member without a struct": (
        lambda b: b.add_member("m", 1),
        lambda b: b.add_field("m", 1, 0, 0),
    ),
    "member after an INT": (
        _int_then(lambda b: b.add_member("m", 1)),
        _int_then(lambda b: b.add_field("m", 1, 0, 0)),
    ),
    "union member at offset 8": (
        lambda b: (b.add_union("u", 4), b.add_member("m", 1, 8)),
        lambda b: (b.add_union("u", 4), b.add_field("m", 1, 8, 0)),
    ),
    "bitfield of 256 bits": (
        lambda b: (b.add_struct("s", 64), b.add_member("m", 1, 0, 256)),
        lambda b: (b.add_struct("s", 64), b.add_field("m", 1, 0, 256)),
    ),
    "bitfield past 24-bit offset": (
        lambda b: (b.add_struct("s", 1 << 22), b.add_member("m", 1, 1 << 24, 3)),
        lambda b: (b.add_struct("s", 1 << 22), b.add_field("m", 1, 1 << 24, 3)),
    ),
    "ENUM of 3 bytes": (lambda b: b.add_enum("e", 3), lambda b: b.add_enum("e", 3)),
    "enumerator too large": (
        lambda b: (b.add_enum("e", 4), b.add_enum_value("A", 1 << 32)),
        lambda b: (b.add_enum("e", 4), b.add_enum_value("A", 1 << 32)),
    ),
    "enumerator without an enum": (
        lambda b: b.add_enum_value("A", 1),
        lambda b: b.add_enum_value("A", 1),
    ),
    "enumerator without a name": (
        lambda b: (b.add_enum("e", 4), b.add_enum_value("", 1)),
        lambda b: (b.add_enum("e", 4), b.add_enum_value("", 1)),
    ),
    "ENUM64 value on an ENUM": (
        lambda b: (b.add_enum("e", 4), b.add_enum64_value("A", 1)),
        lambda b: (b.add_enum("e", 4), b.add_enum64_value("A", 1)),
    ),
    "FWD without a name": (lambda b: b.add_fwd(""), lambda b: b.add_fwd("", 0)),
    "TYPEDEF without a name": (lambda b: b.add_typedef("", 0), lambda b: b.add_typedef("", 0)),
    "PTR to a negative ID": (lambda b: b.add_ptr(-1), lambda b: b.add_ptr(-1)),
    "FUNC linkage 3": (
        lambda b: b.add_func("f", 1, 3),  # type: ignore[arg-type]
        lambda b: b.add_func("f", 3, 1),
    ),
    "VAR linkage 3": (
        lambda b: b.add_var("v", 1, 3),  # type: ignore[arg-type]
        lambda b: b.add_var("v", 3, 1),
    ),
    "parameter without a FUNC_PROTO": (
        lambda b: b.add_param("p", 1),
        lambda b: b.add_func_param("p", 1),
    ),
    "DATASEC entry without a DATASEC": (
        lambda b: b.add_datasec_var(1, 0, 4),
        lambda b: b.add_datasec_var_info(1, 0, 4),
    ),
    "DATASEC without a name": (lambda b: b.add_datasec("", 4), lambda b: b.add_datasec("", 4)),
    "DECL_TAG index -2": (
        lambda b: b.add_decl_tag("t", 1, -2),
        lambda b: b.add_decl_tag("t", 1, -2),
    ),
    "TYPE_TAG without a value": (lambda b: b.add_type_tag("", 1), lambda b: b.add_type_tag("", 1)),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_calls_raise_build_error_like_libbpf(libbpf: ctypes.CDLL, case: str) -> None:
    mine, theirs = BAD_CALLS[case]
    with pytest.raises(BuildError):
        mine(Builder())
    b = libbpf_oracle.Builder()
    try:
        with pytest.raises(libbpf_oracle.LibbpfError):
            theirs(b)
    finally:
        b.close()


@settings(max_examples=100, deadline=None)
@given(st.integers(-(1 << 40), 1 << 40).filter(lambda n: n not in (1, 2, 4, 8, 16)))
def test_int_sizes_outside_the_format(libbpf: ctypes.CDLL, size: int) -> None:
    with pytest.raises(BuildError):
        Builder().add_int("i", size)
    if 0 <= size < 1 << 63:  # libbpf takes a size_t
        b = libbpf_oracle.Builder()
        try:
            with pytest.raises(libbpf_oracle.LibbpfError):
                b.add_int("i", size, 0)
        finally:
            b.close()


def test_add_btf_from_another_base_is_refused() -> None:
    base_a, base_b = Builder(), Builder()
    base_a.add_int("int", 4)
    base_b.add_int("int", 4)
    src = Builder(base=base_b.btf)
    src.add_ptr(1)
    with pytest.raises(BuildError):
        Builder(base=base_a.btf).add_btf(src.btf)


def test_graphs_cover_every_kind() -> None:
    # The strategies promise every kind; check it on a fixed sample.
    seen: set[int] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(type_graphs())
    def collect(graph: Graph) -> None:
        seen.update(t.kind for t in graph.build().types())

    collect()
    assert seen == {k for k in Kind if k != Kind.UNKN}
