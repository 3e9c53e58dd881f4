"""Running one BTF recipe through btfkit and through libbpf 1.1.2, and deduplicating both.

A *recipe* is a function of a builder with btfkit's :class:`~btfkit.format.build.Builder`
API; :class:`LibbpfFacade` gives libbpf's ``btf__add_*`` that same API, so one
recipe makes the same BTF in both libraries.  :func:`dedup_both` then
deduplicates:

* the API-built BTFs (libbpf keeps such string sections as they are), and
* the same BTF parsed from its raw bytes (string section rebuilt),

and returns btfkit's and libbpf's bytes for each, to be compared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import btfkit
from btfkit.format.build import Builder
from btfkit.transforms.dedup import dedup

from . import libbpf_oracle

_FWD_KINDS = {"struct": 0, "union": 1, "enum": 2}


class LibbpfFacade:
    """libbpf's builder API spelled like btfkit's Builder (the subset recipes use)."""

    def __init__(self, base: int | None = None):
        self.b = libbpf_oracle.Builder(base)

    def close(self) -> None:
        self.b.close()

    def add_str(self, s: str) -> int:
        return self.b.add_str(s)

    def add_int(self, name: str, size: int, encoding: int = 0) -> int:
        return self.b.add_int(name, size, int(encoding))

    def add_float(self, name: str, size: int) -> int:
        return self.b.add_float(name, size)

    def add_ptr(self, t: int) -> int:
        return self.b.add_ptr(t)

    def add_array(self, elem: int, index: int, n: int) -> int:
        return self.b.add_array(index, elem, n)

    def _composite(self, fn: Callable[..., int], name: str, size: int, members: Iterable[tuple[Any, ...]]) -> int:
        tid = fn(name, size)
        for m in members:
            self.add_member(*m)
        return tid

    def add_struct(self, name: str, size: int, members: Iterable[tuple[Any, ...]] = ()) -> int:
        return self._composite(self.b.add_struct, name, size, members)

    def add_union(self, name: str, size: int, members: Iterable[tuple[Any, ...]] = ()) -> int:
        return self._composite(self.b.add_union, name, size, members)

    def add_member(self, name: str, t: int, bit_offset: int = 0, bitfield_size: int = 0) -> int:
        return self.b.add_field(name, t, bit_offset, bitfield_size)

    def add_enum(self, name: str, size: int = 4, values: Iterable[tuple[str, int]] = ()) -> int:
        tid = self.b.add_enum(name, size)
        for n, v in values:
            self.b.add_enum_value(n, v)
        return tid

    def add_enum64(self, name: str, size: int = 8, values: Iterable[tuple[str, int]] = (),
                   signed: bool = False) -> int:  # fmt: skip
        tid = self.b.add_enum64(name, size, signed)
        for n, v in values:
            self.b.add_enum64_value(n, v & (1 << 64) - 1)
        return tid

    def add_fwd(self, name: str, kind: str = "struct") -> int:
        return self.b.add_fwd(name, _FWD_KINDS[kind])

    def add_typedef(self, name: str, t: int) -> int:
        return self.b.add_typedef(name, t)

    def add_volatile(self, t: int) -> int:
        return self.b.add_volatile(t)

    def add_const(self, t: int) -> int:
        return self.b.add_const(t)

    def add_restrict(self, t: int) -> int:
        return self.b.add_restrict(t)

    def add_type_tag(self, value: str, t: int) -> int:
        return self.b.add_type_tag(value, t)

    def add_func(self, name: str, proto: int, linkage: int = 0) -> int:
        return self.b.add_func(name, int(linkage), proto)

    def add_func_proto(self, ret: int, params: Iterable[tuple[str, int]] = ()) -> int:
        tid = self.b.add_func_proto(ret)
        for n, t in params:
            self.b.add_func_param(n, t)
        return tid

    def add_var(self, name: str, t: int, linkage: int = 0) -> int:
        return self.b.add_var(name, int(linkage), t)

    def add_datasec(self, name: str, size: int, vars: Iterable[tuple[int, int, int]] = ()) -> int:
        tid = self.b.add_datasec(name, size)
        for t, off, sz in vars:
            self.b.add_datasec_var_info(t, off, sz)
        return tid

    def add_decl_tag(self, value: str, t: int, component_idx: int = -1) -> int:
        return self.b.add_decl_tag(value, t, component_idx)


Recipe = Callable[[Any], object]


def build_ours(recipe: Recipe, base: btfkit.BTF | None = None) -> btfkit.BTF:
    b = Builder(base=base)
    recipe(b)
    return b.btf


def dedup_both(
    recipe: Recipe, base_recipe: Recipe | None = None, *, force_collisions: bool = False
) -> dict[str, tuple[bytes, bytes]]:
    """``{"api": (ours, libbpf), "parsed": (ours, libbpf)}``: the deduplicated bytes of each."""
    out: dict[str, tuple[bytes, bytes]] = {}
    our_base = build_ours(base_recipe) if base_recipe is not None else None
    base_raw = btfkit.to_bytes(our_base) if our_base is not None else None
    # API-built on both sides.
    lib_base = LibbpfFacade() if base_recipe is not None else None
    try:
        if lib_base is not None and base_recipe is not None:
            base_recipe(lib_base)
            assert lib_base.b.raw() == base_raw
        theirs = LibbpfFacade(lib_base.b.btf if lib_base is not None else None)
        try:
            recipe(theirs)
            ours = build_ours(recipe, our_base)
            raw = btfkit.to_bytes(ours)
            assert theirs.b.raw() == raw, "the two builders disagree"
            dedup(ours, force_collisions=force_collisions)
            out["api"] = (btfkit.to_bytes(ours), theirs.b.dedup(force_collisions))
        finally:
            theirs.close()
    finally:
        if lib_base is not None:
            lib_base.close()
    # Parsed from raw bytes on both sides.
    parsed_base = btfkit.parse(base_raw) if base_raw is not None else None
    ours = btfkit.parse(raw, parsed_base)
    dedup(ours, force_collisions=force_collisions)
    out["parsed"] = (btfkit.to_bytes(ours), libbpf_oracle.dedup(raw, base_raw, force_collisions))
    return out


def assert_same_as_libbpf(recipe: Recipe, base_recipe: Recipe | None = None) -> bytes:
    """Dedup both ways, with and without forced collisions; return the parsed-path result."""
    result = b""
    for force in (False, True):
        for path, (ours, theirs) in dedup_both(recipe, base_recipe, force_collisions=force).items():
            assert ours == theirs, f"{path} path, force_collisions={force}"
            if path == "parsed":
                result = ours
    return result
