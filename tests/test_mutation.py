"""Mutation keeps every cache honest: one append path, one generation counter.

Each way of adding types (the builder's calls, copying with ``add_type``/``add_btf``,
concatenation) goes through the BTF's one append path, which moves its generation
on; every cache (the name index, the kind groups, layout facts, the reference
check) is valid for one generation only.
"""

from __future__ import annotations

import pytest

from btfkit import BTFError, BTFFormatError, Kind
from btfkit.format.build import Builder
from btfkit.outputs.c import dump_c
from btfkit.transforms.merge import concat


def _checked_struct() -> Builder:
    b = Builder()
    i = b.add_int("int", 4)
    b.add_struct("s", 8, [("a", i, 0)])
    b.btf.check_references()  # checked once: the flag is set
    return b


def test_member_added_after_check_is_checked() -> None:
    """A dangling member added after a check is caught by the next check, not an IndexError later."""
    b = _checked_struct()
    b.add_member("b", 99, 32)  # type 99 does not exist
    with pytest.raises(BTFFormatError, match="99"):
        b.btf.check_references()
    with pytest.raises(BTFError):
        dump_c(b.btf)


@pytest.mark.parametrize("add", ["param", "datasec_var"])
def test_every_element_call_resets_the_check(add: str) -> None:
    b = Builder()
    i = b.add_int("int", 4)
    if add == "param":
        b.add_func_proto(i, [("x", i)])
        b.btf.check_references()
        b.add_param("y", 77)
    else:
        v = b.add_var("v", i)
        b.add_datasec(".data", 4, [(v, 0, 4)])
        b.btf.check_references()
        b.add_datasec_var(55, 0, 4)
    with pytest.raises(BTFFormatError):
        b.btf.check_references()


def test_caches_follow_the_generation() -> None:
    b = Builder()
    i = b.add_int("int", 4)
    btf = b.btf
    assert btf.find_all("s") == []  # the name index is built here
    gen = btf.generation
    s = b.add_struct("s", 4)
    assert btf.generation > gen
    assert [t.id for t in btf.find_all("s")] == [s]
    assert btf.sizeof(s) == 4 and btf.alignof(s) == 1
    b.add_member("a", i, 0)
    assert btf.alignof(s) == 4  # layout facts were dropped with the new member
    assert btf.type("struct s")["a"].type.name == "int"
    assert btf.records_by_kind()[Kind.STRUCT] == [btf.offsets[-1]]


def test_concat_appends_through_the_one_path() -> None:
    b = Builder()
    i = b.add_int("int", 4)
    b.add_typedef("t", i)
    out = concat([b.btf, b.btf])
    assert len(out) == 4
    assert [t.id for t in out.find_all("t")] == [2, 4]
    out.check_references()
    assert out.type(4).target == out[3]
