"""Dedup scenarios (libbpf's selftests and more), each compared byte for byte with libbpf 1.1.2.

Every recipe is built through btfkit's Builder and through libbpf's
``btf__add_*``, then deduplicated by both: as built (libbpf then keeps the
string section) and re-parsed from raw bytes (string section rebuilt), with
and without ``force_collisions``.  See ``dedup_support.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import btfkit
from btfkit import DedupError, IntEncoding
from btfkit.cli import main
from btfkit.format.build import Builder
from btfkit.format.validate import validate
from btfkit.transforms.dedup import BaseIndex, dedup

from . import kernel_oracle, libbpf_oracle
from .conftest import require
from .dedup_support import assert_same_as_libbpf

S = IntEncoding.SIGNED
B = Any  # a builder with btfkit's API (btfkit's own, or libbpf's through the facade)


@pytest.fixture(autouse=True)
def _libbpf() -> None:
    require(libbpf_oracle.lib is not None, "libbpf.so.1 is not installed (Debian's libbpf1)")


def check(recipe: Any, base: Any = None) -> btfkit.BTF:
    """Assert btfkit == libbpf and return btfkit's parsed-path result."""
    raw = assert_same_as_libbpf(recipe, base)
    return btfkit.parse(raw, btfkit.parse(btfkit.to_bytes(_built(base))) if base else None)


def _built(recipe: Any) -> btfkit.BTF:
    b = Builder()
    recipe(b)
    return b.btf


# --- libbpf selftests: prog_tests/btf.c dedup_tests[] ---------------------------------------------


def test_unused_strings_and_string_dedup() -> None:
    def r(b: B) -> None:
        b.add_str("unused_string")
        b.add_int("int", 4, S)
        b.add_int("int", 4, S)
        b.add_str("another")
        b.add_int("long", 8, S)

    out = check(r)
    assert [t.name for t in out] == ["int", "long"]


def test_struct_example_1_self_referential_with_tags() -> None:
    def copy(b: B) -> None:
        i = b.add_int("int", 4, S)
        p = b.add_ptr(i + 2)  # -> struct s
        b.add_struct("s", 32, [("next", p, 0), ("a", i + 3, 64), ("b", i + 4, 96), ("f", i + 5, 192)])
        b.add_const(i)
        b.add_array(i, i, 3)
        b.add_float("float", 4)
        b.add_decl_tag("tag1", i + 2, -1)
        b.add_decl_tag("tag2", i + 2, 1)

    def r(b: B) -> None:
        copy(b)
        copy(b)

    check(r)


def test_struct_fwd_resolution_with_hash_collision() -> None:
    def r(b: B) -> None:
        f = b.add_fwd("x")
        p = b.add_ptr(f)
        b.add_struct("s", 8, [("p", p, 0)])
        i = b.add_int("int", 4, S)
        x = b.add_struct("x", 4, [("a", i, 0)])
        p2 = b.add_ptr(x)
        b.add_struct("s", 8, [("p", p2, 0)])

    check(r)


def test_void_equiv_check() -> None:
    def r(b: B) -> None:
        e = b.add_struct("", 0)
        p = b.add_ptr(e)
        b.add_struct("s", 8, [("p", p, 0)])
        v = b.add_ptr(0)
        b.add_struct("s", 8, [("p", v, 0)])

    assert len(check(r)) == 5


def test_all_kinds_no_duplicates() -> None:
    def r(b: B) -> None:
        i = b.add_int("int", 4, S)
        b.add_ptr(i)
        b.add_array(i, i, 4)
        b.add_struct("s", 4, [("a", i, 0)])
        b.add_union("u", 4, [("a", i, 0)])
        b.add_enum("e", 4, [("A", 1)])
        b.add_fwd("f")
        b.add_typedef("t", i)
        b.add_volatile(i)
        b.add_const(i)
        b.add_restrict(i + 1)
        fp = b.add_func_proto(i, [("x", i)])
        fn = b.add_func("fn", fp, 1)
        v = b.add_var("v", i, 1)
        b.add_datasec(".data", 4, [(v, 0, 4)])
        b.add_float("float", 8)
        b.add_decl_tag("tag", fn, -1)
        b.add_type_tag("tt", i)
        b.add_enum64("e64", 8, [("B", 1 << 40)])

    assert len(check(r)) == 19


def test_no_int_or_float_duplicates() -> None:
    def r(b: B) -> None:
        b.add_int("int", 4, S)
        b.add_int("int", 4, 0)
        b.add_int("int", 8, S)
        b.add_int("uint", 4, 0)
        b.add_int("bool", 1, IntEncoding.BOOL)
        b.add_int("char", 1, IntEncoding.CHAR)
        for size in (2, 4, 8, 12, 16):
            b.add_float("float", size)

    assert len(check(r)) == 11


def test_enum_fwd_resolution() -> None:
    def r(b: B) -> None:
        f1 = b.add_fwd("e1", "enum")
        b.add_enum("e1", 4, [("A", 1)])
        f2 = b.add_fwd("e1", "enum")
        b.add_enum("e2", 8)  # a forward of another size
        b.add_enum("e2", 4, [("X", 0)])
        b.add_enum("e3", 4, [("A", 1)])
        b.add_enum("e3", 4, [("A", 2)])  # conflicting full enum
        b.add_fwd("e3", "enum")
        b.add_ptr(f1)
        b.add_ptr(f2)

    check(r)


def test_enum_fwd_repointed_by_later_full_enum() -> None:
    def r(b: B) -> None:
        f1 = b.add_fwd("e1", "enum")
        b.add_enum("e1", 4, [("A", 1)])
        b.add_enum("e1", 4, [("A", 2)])
        f2 = b.add_fwd("e1", "enum")
        b.add_ptr(f1)
        b.add_ptr(f2)

    check(r)


def test_datasec_and_vars_pass_through() -> None:
    def r(b: B) -> None:
        i = b.add_int("int", 4, S)
        i2 = b.add_int("int", 4, S)
        v1 = b.add_var("a", i, 1)
        v2 = b.add_var("a", i2, 1)
        b.add_datasec(".data", 8, [(v1, 0, 4), (v2, 4, 4)])
        b.add_datasec(".data", 8, [(v1, 0, 4), (v2, 4, 4)])

    assert len(check(r)) == 5


def test_func_param_var_struct_member_typedef_tags() -> None:
    def copy(b: B) -> None:
        i = b.add_int("int", 4, S)
        fp = b.add_func_proto(i, [("p1", i), ("p2", i)])
        fn = b.add_func("f", fp, 1)
        b.add_decl_tag("tag1", fn, -1)
        b.add_decl_tag("tag2", fn, 1)
        v = b.add_var("v", i, 1)
        b.add_decl_tag("tag1", v, -1)
        s = b.add_struct("s", 8, [("m1", i, 0), ("m2", i, 32)])
        b.add_decl_tag("tag1", s, -1)
        b.add_decl_tag("tag2", s, 1)
        t = b.add_typedef("t", i)
        b.add_decl_tag("tag1", t, -1)

    def r(b: B) -> None:
        copy(b)
        copy(b)

    check(r)


@pytest.mark.parametrize("variant", range(5))
def test_type_tags(variant: int) -> None:
    def r(b: B) -> None:
        i = b.add_int("int", 4, S)
        j = b.add_int("long", 8, S)
        if variant == 0:  # same chain twice
            for _ in range(2):
                t1 = b.add_type_tag("tag1", i)
                t2 = b.add_type_tag("tag2", t1)
                b.add_ptr(t2)
        elif variant == 1:  # tags in a different order
            t1 = b.add_type_tag("tag1", i)
            b.add_ptr(b.add_type_tag("tag2", t1))
            t1 = b.add_type_tag("tag2", i)
            b.add_ptr(b.add_type_tag("tag1", t1))
        elif variant == 2:  # different targets
            b.add_ptr(b.add_type_tag("tag1", i))
            b.add_ptr(b.add_type_tag("tag1", j))
        elif variant == 3:  # tag and const mixed
            b.add_ptr(b.add_const(b.add_type_tag("tag1", i)))
            b.add_ptr(b.add_const(b.add_type_tag("tag1", i)))
        else:  # inside structs
            for _ in range(2):
                p = b.add_ptr(b.add_type_tag("tag1", i))
                b.add_struct("s", 8, [("p", p, 0)])

    check(r)


def test_enum64() -> None:
    def r(b: B) -> None:
        b.add_enum64("e", 8, [("A", -1), ("B", 1 << 40)], signed=True)
        b.add_enum64("e", 8, [("A", -1), ("B", 1 << 40)], signed=True)
        f = b.add_fwd("e", "enum")
        b.add_ptr(f)
        b.add_enum("e4", 4, [("A", 1)])
        b.add_enum64("e4", 8, [("A", 1)])  # enum and enum64: no dedup
        b.add_enum("e5", 2, [("A", 1)])
        b.add_enum("e5", 4, [("A", 1)])  # different sizes: no dedup

    check(r)


@pytest.mark.parametrize("fwd_first", [True, False])
def test_enum_fwd_to_enum64_and_back(fwd_first: bool) -> None:
    def r(b: B) -> None:
        if fwd_first:
            f = b.add_fwd("e", "enum")
            full = b.add_enum64("e", 8, [("A", 1 << 35)])
        else:
            full = b.add_enum64("e", 8, [("A", 1 << 35)])
            f = b.add_enum("e", 8)  # an enum64 forward spelled as a sized empty enum
        b.add_struct("s", 8, [("p", b.add_ptr(f), 0)])
        b.add_struct("s", 8, [("p", b.add_ptr(full), 0)])

    check(r)


@pytest.mark.parametrize("case", ["struct", "union", "wrong kind", "name conflict"])
def test_standalone_fwd_declarations(case: str) -> None:
    def r(b: B) -> None:
        i = b.add_int("int", 4, S)
        if case == "union":
            b.add_union("foo", 4, [("a", i, 0)])
            f = b.add_fwd("foo", "union")
        elif case == "wrong kind":
            b.add_struct("foo", 4, [("a", i, 0)])
            f = b.add_fwd("foo", "union")
        else:
            b.add_struct("foo", 4, [("a", i, 0)])
            if case == "name conflict":
                b.add_struct("foo", 8, [("a", i, 0), ("b", i, 32)])
            f = b.add_fwd("foo")
        b.add_ptr(f)

    check(r)


def test_typedef_duplicates() -> None:
    def r(b: B) -> None:
        for _ in range(2):
            b.add_typedef("foo", b.add_int("int", 4, S))

    assert len(check(r)) == 2


def test_recursive_typedef_fails_like_libbpf_1_1() -> None:
    # Go's `type Foo func() Foo`: libbpf 1.1 dedups TYPEDEF in the ref pass and fails
    # with -ELOOP (1.7 moved TYPEDEF to the struct pass); btfkit follows 1.1.
    b = Builder()
    for _ in range(2):
        t = b.btf.type_count
        b.add_typedef("Foo", t + 1)
        b.add_func_proto(t)
    raw = btfkit.to_bytes(b.btf)
    with pytest.raises(libbpf_oracle.LibbpfError):
        libbpf_oracle.dedup(raw)
    btf = btfkit.parse(raw)
    with pytest.raises(DedupError, match="loop"):
        dedup(btf)
    assert btfkit.to_bytes(btf) == raw  # left unchanged on error


# --- libbpf selftests: prog_tests/btf_dedup_split.c -------------------------------------------------


def _base_simple(b: B) -> None:
    i = b.add_int("int", 4, S)
    b.add_ptr(i)
    b.add_struct("s1", 4, [("f1", i, 0)])
    b.add_typedef("t1", i)


def test_split_simple() -> None:
    def r(b: B) -> None:
        s2 = b.add_struct("s2", 16, [("f1", 7, 0), ("f2", 6, 32), ("f3", 8, 64)])
        i = b.add_int("int", 4, S)
        b.add_struct("s1", 4, [("f1", i, 0)])
        b.add_ptr(i)
        b.add_typedef("t1", i)
        assert s2 == 5

    out = check(r, _base_simple)
    assert [t.name for t in out] == ["s2"]
    assert [m.type_id for m in out[5].members] == [3, 1, 2]


def test_split_struct_duped() -> None:
    def base(b: B) -> None:
        i = b.add_int("int", 4, S)
        b.add_ptr(5)
        f = b.add_fwd("s2")
        b.add_ptr(f)
        b.add_struct("s1", 16, [("f1", 2, 0), ("f2", 4, 64)])
        assert i == 1

    def r(b: B) -> None:
        i = b.add_int("int", 4, S)  # 6
        b.add_ptr(10)  # 7 -> s1
        b.add_ptr(11)  # 8 -> s2
        b.add_fwd("s2")  # 9
        b.add_struct("s1", 16, [("f1", 7, 0), ("f2", 8, 64)])  # 10
        b.add_struct("s2", 40, [("f1", 7, 0), ("f2", 8, 64), ("f3", i, 128), ("f4", 10, 192)])  # 11
        p = b.add_ptr(9)  # 12
        b.add_struct("s3", 8, [("f1", p, 0)])  # 13

    out = check(r, base)
    assert len(out) == 5


def test_split_fwd_resolve() -> None:
    def base(b: B) -> None:
        i = b.add_int("int", 4, S)
        b.add_ptr(4)
        b.add_ptr(5)
        b.add_struct("s1", 16, [("f1", 2, 0), ("f2", 3, 64)])
        b.add_struct("s2", 4, [("f1", i, 0)])
        b.add_struct("s3", 4, [("f1", i, 0)])

    def r(b: B) -> None:
        b.add_int("int", 4, S)  # 7
        b.add_ptr(11)  # 8 -> s1'
        f = b.add_fwd("s2")  # 9
        p = b.add_ptr(f)  # 10
        b.add_struct("s1", 16, [("f1", 8, 0), ("f2", p, 64)])  # 11
        f3 = b.add_fwd("s3")  # 12
        b.add_ptr(f3)  # 13

    out = check(r, base)
    assert len(out) == 1 and out[7].type_id == 6


def test_split_dup_struct_in_cu() -> None:
    def cu(b: B) -> None:
        i = b.add_int("int", 4, S)
        a1 = b.add_struct("", 8, [("f1", i, 0), ("f2", i, 32)])
        a2 = b.add_struct("", 8, [("f1", i, 0), ("f2", i, 32)])
        b.add_struct("s", 16, [("a", a1, 0), ("b", a2, 64)])

    check(cu)
    check(cu, cu)


# --- libbpf's candidate order ----------------------------------------------------------------------


@pytest.mark.parametrize("filler", ["typedef", "struct"])
@pytest.mark.parametrize("count", range(16))
def test_candidate_order_follows_libbpf_hashmap(filler: str, count: int) -> None:
    # The last `s` has two candidates (through the FWD); which one wins depends on how
    # often libbpf's table grew, which the unrelated fillers change.
    def r(b: B) -> None:
        i = b.add_int("int", 4, S)
        lng = b.add_int("long", 8, S)
        x1 = b.add_struct("x", 4, [("a", i, 0)])
        b.add_struct("s", 8, [("p", b.add_ptr(x1), 0)])
        x2 = b.add_struct("x", 8, [("b", lng, 0)])
        b.add_struct("s", 8, [("p", b.add_ptr(x2), 0)])
        for n in range(count):
            if filler == "typedef":
                b.add_typedef(f"t{n}", i)
            else:
                b.add_struct(f"f{n}", 4, [("a", i, 0)])
        f = b.add_fwd("x")
        b.add_struct("s", 8, [("p", b.add_ptr(f), 0)])

    check(r)


# --- behaviour -----------------------------------------------------------------------------------------


def test_idempotent() -> None:
    def r(b: B) -> None:
        i = b.add_int("int", 4, S)
        f = b.add_fwd("node")
        b.add_struct("node", 8, [("next", b.add_ptr(f), 0)])
        b.add_struct("node", 8, [("next", b.add_ptr(i + 5), 0)])

    once = check(r)
    again = btfkit.parse(btfkit.to_bytes(once))
    dedup(again)
    assert btfkit.to_bytes(again) == btfkit.to_bytes(once)
    dedup(again)
    assert btfkit.to_bytes(again) == btfkit.to_bytes(once)


def test_index_is_reusable_and_base_untouched() -> None:
    base = _built(_base_simple)
    before = btfkit.to_bytes(base)
    index = BaseIndex(base)
    for _ in range(3):
        b = Builder(base=base)
        b.add_int("int", 4, S)
        f = b.add_fwd("s1")
        b.add_ptr(f)
        dedup(b.btf, index=index)
        assert len(b.btf) == 1
    assert btfkit.to_bytes(base) == before
    other = Builder(base=_built(_base_simple)).btf
    with pytest.raises(DedupError, match="different base"):
        dedup(other, index=index)


def test_struct_containing_itself_by_value_is_an_error_not_a_crash() -> None:
    # Malformed input that sends libbpf's identical-struct check into endless
    # recursion (a stack overflow): btfkit reports it instead.  Canonical
    # P { Q x; Q y; } with Q { Q m; }; candidate P { Q1 x; Q2 y; } with Q1, Q2 alike.
    b = Builder()
    b.add_struct("Q", 4, [("m", 1, 0)])  # 1
    b.add_struct("P", 8, [("x", 1, 0), ("y", 1, 32)])  # 2
    b.add_struct("P", 8, [("x", 4, 0), ("y", 5, 32)])  # 3
    b.add_struct("Q", 4, [("m", 4, 0)])  # 4
    b.add_struct("Q", 4, [("m", 5, 0)])  # 5
    btf = btfkit.parse(btfkit.to_bytes(b.btf))
    before = btfkit.to_bytes(btf)
    with pytest.raises(DedupError, match="nested by value"):
        dedup(btf)
    assert btfkit.to_bytes(btf) == before


def test_unknown_kind_is_an_error() -> None:
    b = Builder()
    b.add_int("int", 4, S)
    b.btf.append_record([0, 20 << 24, 0])  # kind 20: nothing describes it
    with pytest.raises(btfkit.BTFError, match="kind 20"):
        dedup(b.btf)


def test_names_pointing_into_the_middle_of_strings() -> None:
    # Offsets into a string's tail are valid BTF (the tail is a string too).
    b = Builder()
    i = b.add_int("unsigned_int", 4)
    j = b.add_int("int", 4, S)
    b.add_typedef("x_int", j)
    b.add_struct("s", 8, [("a", i, 0), ("b", j, 32)])
    btf = b.btf
    tail = btf.strings.find("unsigned_int")
    assert tail is not None
    btf.words[btf.offsets[1]] = tail + len("unsigned_")  # the second INT's name: "int" inside it
    btf.words[btf.offsets[2]] = btf.strings.find("x_int") or 0
    raw = btfkit.to_bytes(btf)
    ours = btfkit.parse(raw)
    dedup(ours)
    assert btfkit.to_bytes(ours) == libbpf_oracle.dedup(raw)


def test_index_reuse_after_base_forwards_were_redirected() -> None:
    # A split struct completes a base FWD: the dedup points the base FWD at it (for
    # the split's references), which must not leak into the next dedup on the index.
    b = Builder()
    i = b.add_int("int", 4, S)
    f = b.add_fwd("node")
    b.add_struct("holder", 8, [("p", b.add_ptr(f), 0)])
    base_raw = btfkit.to_bytes(b.btf)
    base = btfkit.parse(base_raw)
    index = BaseIndex(base)

    s = Builder(base=base)
    fwd = s.add_fwd("node")
    node = s.add_struct("node", 16, [("v", i, 0), ("next", s.add_ptr(fwd), 64)])
    s.add_struct("holder", 8, [("p", s.add_ptr(node), 0)])
    raw = btfkit.to_bytes(s.btf)
    expected = libbpf_oracle.dedup(raw, base_raw)
    for _ in range(2):
        ours = btfkit.parse(raw, base)
        dedup(ours, index=index)
        assert btfkit.to_bytes(ours) == expected
    assert index.map == list(range(base.type_count))


@pytest.mark.parametrize(
    "edits",
    [
        [(2, 0, 0)],  # a struct's name at the table's end
        [(2, 3, 50)],  # a member's name past it
        [(4, 3, 10**6)],  # an enumerator's name far past it
        [(3, 0, 0)],  # a pointer's name (offset 0 fields are skipped by the string pass)
        [(4, 0, 3), (3, 2, -1)],  # a bad name and a bad type ID: the first bad field wins
        [(2, 3, 3), (3, 2, -1)],
    ],
)
def test_dangling_offsets_fail_as_the_reference_check_does(edits: list[tuple[int, int, int]]) -> None:
    # dedup meets string offsets in its string pass rather than checking them first:
    # the error must still be check_references' (the same type, offset and message).
    b = Builder()
    i = b.add_int("int", 4, S)
    s = b.add_struct("foo", 8, [("a", i, 0), ("b", i, 32)])
    b.add_ptr(s)
    b.add_enum("e", 4, [("X", 1)])
    btf = b.btf
    for tid, word, beyond in edits:
        # beyond >= 0: a string offset that far past the table; -1: a type ID past the last
        btf.words[btf.offsets[tid - 1] + word] = btf.strings.end + beyond if beyond >= 0 else btf.type_count
    raw = btfkit.to_bytes(btf, check=False)  # damaged on purpose
    with pytest.raises(btfkit.BTFError) as expected:
        btfkit.parse(raw).check_references()
    with pytest.raises(type(expected.value), match=f"^{re.escape(str(expected.value))}$"):
        dedup(btfkit.parse(raw))


@pytest.mark.parametrize("through", ["member", "array", "typedef", "nested"])
def test_struct_containing_itself_is_refused_and_nothing_written(through: str, tmp_path: Path) -> None:
    # libbpf 1.1 deduplicates such BTF without a word and writes what the kernel refuses.
    b = Builder()
    i = b.add_int("int", 4, S)
    s = b.add_struct("self", 8, [("a", i, 0), ("again", 3, 32)])  # 3: the next type
    if through == "member":
        b.add_const(s)
    elif through == "array":
        b.add_array(s, i, 1)
    elif through == "typedef":
        b.add_const(4)
        b.add_typedef("self_t", s)
    else:
        b.add_struct("outer", 8, [("s", s, 0)])
    raw = btfkit.to_bytes(b.btf)
    reason = kernel_oracle.probe()
    if reason is None:
        assert not kernel_oracle.load(raw).ok, "the kernel refuses a struct that contains itself"
    with pytest.raises(btfkit.BTFValidationError):
        validate(btfkit.parse(raw))  # btfkit's model of the kernel's verifier agrees
    btf = btfkit.parse(raw)
    with pytest.raises(DedupError, match="struct self contains itself by value"):
        dedup(btf)
    assert btfkit.to_bytes(btf) == raw
    (tmp_path / "in.btf").write_bytes(raw)
    out = tmp_path / "out.btf"
    assert main(["dedup", str(tmp_path / "in.btf"), "-o", str(out)]) == 1
    assert not out.exists()
