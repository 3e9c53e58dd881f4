"""Relocation: a split BTF on a distilled base moved onto a real vmlinux, as libbpf 1.5's
``btf__relocate`` moves it (and as the kernel does when it loads a module with ``.BTF.base``).

Every type of the distilled base is looked up in the new base by name, kind and size:

- INT needs the same name, size and encoding; FLOAT and ENUM (which also finds an ENUM64)
  the same name and size; a FWD the same name and a FWD, STRUCT or UNION of its flavour;
- a STRUCT/UNION needs the same name; its size counts only where the new base has several
  composites of that name, or where the module embeds it (a member of that type, through
  typedefs, modifiers and arrays but not pointers): an embedded struct that changed size
  cannot be relocated, a pointed-to one can;
- two candidates for one type, or none, fail.

The split's own types are then renumbered after the new base and their references and
names rewritten.  libbpf compares each base type with the distilled ones (a binary search
per base type); here the new base is indexed by name once (:class:`RelocationBase`), so a
module costs only its own types, and one index serves a whole tree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from ..errors import RelocateError
from .btf import BTF
from .kinds import (
    ARRAY_TYPE,
    ELEMS,
    INFO,
    INT_ENCODING,
    MEMBER_TYPE,
    MEMBER_WORDS,
    NAME_OFF,
    SIZE,
    TYPE,
    Kind,
)

__all__ = ["RelocateError", "RelocationBase", "relocate"]

_COMPOSITE = (Kind.STRUCT, Kind.UNION)
_DISTILLED_KINDS = frozenset({Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.STRUCT, Kind.UNION, Kind.FWD})
_EMBEDDING = frozenset({Kind.CONST, Kind.RESTRICT, Kind.VOLATILE, Kind.TYPEDEF, Kind.TYPE_TAG})


class _Candidate(NamedTuple):
    """A named base type a distilled type may map to."""

    type_id: int
    kind: int
    size: int  # 0 for FWD
    kind_flag: bool
    encoding: int  # INT only
    name_off: int
    needs_size: bool  # libbpf's rule: sized kinds, and composites whose name the base repeats


class RelocationBase:
    """A base BTF indexed for relocation: its named INT, FLOAT, ENUM, ENUM64, FWD, STRUCT and UNION
    types by name.  Build it once and relocate any number of modules onto it."""

    def __init__(self, base: BTF):
        self.base = base
        words = base.words
        kinds = base.records_by_kind()
        ids = base.ids_by_kind()
        # Composites per name offset (as libbpf counts them: by offset, not by text).
        repeated: defaultdict[int, int] = defaultdict(int)
        for kind in _COMPOSITE:
            for w in kinds[kind]:
                repeated[words[w + NAME_OFF]] += 1
        by_name: defaultdict[str, list[_Candidate]] = defaultdict(list)
        get = base.strings.get
        for kind in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64, Kind.FWD, Kind.STRUCT, Kind.UNION):
            for w, tid in zip(kinds[kind], ids[kind], strict=True):
                name_off = words[w + NAME_OFF]
                if not name_off:
                    continue
                info = words[w + INFO]
                if kind == Kind.FWD:
                    needs, size = False, 0
                else:
                    needs, size = kind not in _COMPOSITE or repeated[name_off] > 1, words[w + SIZE]
                encoding = (words[w + INT_ENCODING] >> 24) & 0x0F if kind == Kind.INT else 0
                by_name[get(name_off)].append(_Candidate(tid, kind, size, bool(info >> 31), encoding, name_off, needs))
        for cands in by_name.values():
            cands.sort()
        self.by_name: dict[str, list[_Candidate]] = dict(by_name)


def _accepts(d: _Candidate, embedded: bool, c: _Candidate) -> bool:
    """Whether base type ``c`` may stand for distilled type ``d`` (libbpf's kind check)."""
    dist_kind = d.kind
    if dist_kind == Kind.FWD:
        if c.kind == Kind.FWD:
            return c.kind_flag == d.kind_flag
        if c.kind == Kind.STRUCT:
            return not c.kind_flag
        if c.kind == Kind.UNION:
            return c.kind_flag
        return False
    if dist_kind == Kind.INT:
        return c.kind == Kind.INT and c.encoding == d.encoding
    if dist_kind == Kind.FLOAT:
        return c.kind == Kind.FLOAT
    if dist_kind == Kind.ENUM:
        return c.kind in (Kind.ENUM, Kind.ENUM64)
    # STRUCT/UNION: any kind found under the name; only an embedded one must keep its size.
    return not embedded or c.size == d.size


def _embedded(split: BTF, n_dist: int) -> set[int]:
    """Distilled STRUCT/UNION IDs that some split STRUCT/UNION holds by value."""
    found: set[int] = set()
    words = split.words
    vmask = split.info_format.vlen_mask
    members: set[int] = set()
    groups = split.records_by_kind()
    for composite in _COMPOSITE:
        for w in groups[composite]:
            members.update(words[w + ELEMS + MEMBER_TYPE : w + ELEMS + MEMBER_WORDS * (words[w + INFO] & vmask) : MEMBER_WORDS])
    locate = split.locate
    for member in members:
        tid = member
        while tid:
            owner, w = locate(tid)
            kind = (owner.words[w + INFO] >> 24) & 0x1F
            if kind in _EMBEDDING:
                tid = owner.words[w + TYPE]
            elif kind == Kind.ARRAY:
                tid = owner.words[w + ARRAY_TYPE]  # the element type
            else:
                if kind in _COMPOSITE and tid < n_dist:
                    found.add(tid)
                break
    return found


def _why_unmatched(dist: BTF, tid: int, embedded: bool, target: RelocationBase) -> str:
    """Why distilled type ``tid`` found no base type: the near misses, with their sizes."""
    t = dist[tid]
    what = f"{t.spec.label} '{t.name}' [{tid}] ({t.size} bytes)" if t.kind != Kind.FWD else f"FWD '{t.name}' [{tid}]"
    near = target.by_name.get(t.name, [])
    if not near:
        return f"distilled base type {what} is not in the base (no type of that name)"
    sizes = ", ".join(f"{Kind(c.kind).name} [{c.type_id}] of {c.size} bytes" for c in near[:4])
    if len(near) > 4:
        sizes += f" and {len(near) - 4} more"
    if embedded:
        return f"distilled base type {what} is embedded by value and changed size: the base has {sizes}"
    return f"distilled base type {what} has no compatible type in the base, which has {sizes}"


def relocate(split: BTF, base: BTF | RelocationBase) -> BTF:
    """``split`` (on a distilled base) moved onto ``base``: a new BTF split on ``base``, whose raw
    bytes equal libbpf 1.5's ``btf__relocate`` of the same input.

    ``base`` may be a :class:`RelocationBase` prepared once for many modules.  Raises
    :class:`RelocateError` where libbpf fails, naming the distilled type that did not match
    and why (for instance a struct the module embeds that changed size).  ``split`` itself
    is left as it is.
    """
    target = base if isinstance(base, RelocationBase) else RelocationBase(base)
    new_base = target.base
    dist = split.base
    if dist is None or dist is new_base:
        raise RelocateError("relocation needs a split BTF on a distilled base, and a different base to move it to")
    if dist.base is not None:
        raise RelocateError("the distilled base is itself split BTF")
    for t in dist.types():
        if t.kind not in _DISTILLED_KINDS:
            raise RelocateError(f"type [{t.id}] of the distilled base has kind {t.spec.label}, "
                                "which a distilled base does not hold")  # fmt: skip
        if not t.name_off:
            raise RelocateError(f"type [{t.id}] ({t.spec.label}) of the distilled base is anonymous")
    split.check_references()  # as libbpf's parse of the split checks them
    n_dist = dist.type_count
    embedded = _embedded(split, n_dist)

    # Map each distilled type to the base types that accept it, in base-ID order (libbpf's
    # scan order); a second match is libbpf's "multiple candidates" error.
    id_map = list(range(split.type_count))  # split IDs are shifted below
    str_map: dict[int, int] = {}
    # Second matches as libbpf meets them: by base ID, then in its sorted order of the
    # distilled types (by size, largest first, then by ID): (base ID, -size, distilled ID, first match).
    second: list[tuple[int, int, int, int]] = []
    unmatched: list[int] = []
    dwords = dist.words
    for i, w in enumerate(dist.offsets):
        tid = i + 1
        info = dwords[w + INFO]
        kind = (info >> 24) & 0x1F
        size = dwords[w + SIZE]
        encoding = (dwords[w + INT_ENCODING] >> 24) & 0x0F if kind == Kind.INT else 0
        name_off = dwords[w + NAME_OFF]
        d = _Candidate(tid, kind, size, bool(info >> 31), encoding, name_off, True)
        matches: list[_Candidate] = []
        for c in target.by_name.get(dist.strings.get(name_off), ()):
            # libbpf keeps "embedded" in the slot the first match then takes: a later
            # candidate of another size is no longer refused but counted as a second.
            if (not c.needs_size or c.size == size) and _accepts(d, not matches and tid in embedded, c):
                matches.append(c)
                if len(matches) == 2:
                    break
        if not matches:
            unmatched.append(tid)
            continue
        if len(matches) > 1:
            second.append((matches[1].type_id, -size, tid, matches[0].type_id))
        id_map[tid] = matches[0].type_id
        str_map[name_off] = matches[0].name_off
    if second:
        at, _, tid, first = min(second)
        name = dist.name_of(tid)
        raise RelocateError(
            f"distilled base type '{name}' [{tid}] of {dist[tid].size} bytes has several candidates "
            f"of that size in the base ([{first}] and [{at}])", name)  # fmt: skip
    if unmatched:
        tid = unmatched[0]
        raise RelocateError(_why_unmatched(dist, tid, tid in embedded, target), dist.name_of(tid))

    shift = new_base.type_count - n_dist
    id_map[n_dist:] = range(n_dist + shift, split.type_count + shift)
    words = split.words[:]
    id_pos, str_pos = split.field_positions()
    for p in id_pos:
        words[p] = id_map[words[p]]
    dist_len = len(dist.strings)
    str_shift = len(new_base.strings) - dist_len
    for p in str_pos:
        off = words[p]
        if off >= dist_len:
            words[p] = off + str_shift
        elif off:
            try:
                words[p] = str_map[off]
            except KeyError:
                raise RelocateError(f"string offset {off} ({dist.strings.get(off)!r}) of the distilled base "
                                    "names no type that was relocated") from None  # fmt: skip
    out = BTF(new_base, byteorder=split.byteorder)
    out.append_records(words, split.offsets)
    out.strings.data[:] = split.strings.data
    out.header_len = split.header_len
    out.pointer_size = split.pointer_size
    out.strs_deduped = split.strs_deduped  # the same strings, as (un)checked as before
    return out
