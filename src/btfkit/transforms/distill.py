"""Distilled base BTF: a module's split BTF made independent of the exact vmlinux, as libbpf 1.5's
``btf__distill_base`` makes it.

Split BTF refers to its base by type ID and string offset, so it is tied to one vmlinux.
:func:`distill` keeps, next to the split, a small *distilled base* (what pahole 1.28 stores
as ``.BTF.base``) that describes only the base types the split refers to, by name, kind and
size; :func:`btfkit.format.relocate.relocate` later matches it against another vmlinux.

Which base types go where (libbpf's rules, which fix the bytes):

- INT, FLOAT and FWD go to the distilled base as they are;
- named STRUCT/UNION go there as member-less stubs of the same size, named ENUM/ENUM64 as
  member-less ENUMs of the same size (what they contain is not needed to find them again);
- everything else the split needs (anonymous STRUCT/UNION/ENUM/ENUM64, ARRAY, TYPEDEF, PTR,
  the modifiers, FUNC_PROTO, TYPE_TAG) is copied whole to the end of the new split, and
  what those refer to is needed too, except behind a named STRUCT/UNION.

Both new BTFs are built the way libbpf builds them (types in base-ID order, strings added
in the order libbpf's field iterator meets them), so their raw bytes equal libbpf's.
"""

from __future__ import annotations

from array import array

from ..errors import DistillError
from ..format.btf import BTF
from ..format.kinds import CLASSIC_INFO, INFO, NAME_OFF, SIZE, Kind, make_info

__all__ = ["DistillError", "distill"]


#: Base kinds a split BTF may refer to (libbpf refuses a reference to a VAR, FUNC, DATASEC or DECL_TAG).
_REFERABLE = frozenset({Kind.INT, Kind.FLOAT, Kind.FWD, Kind.ARRAY, Kind.STRUCT, Kind.UNION, Kind.TYPEDEF,
                        Kind.ENUM, Kind.ENUM64, Kind.PTR, Kind.CONST, Kind.RESTRICT, Kind.VOLATILE,
                        Kind.FUNC_PROTO, Kind.TYPE_TAG})  # fmt: skip
_COMPOSITE = (Kind.STRUCT, Kind.UNION)
_ENUMS = (Kind.ENUM, Kind.ENUM64)


def _needed_base_ids(src: BTF, id_positions: list[int]) -> list[int]:
    """The base IDs the split needs, ascending: what it refers to and, transitively, what
    those refer to, except behind a named STRUCT/UNION.  Refuses the kinds libbpf refuses,
    naming the first one met in libbpf's (depth-first) order."""
    base = src.base
    assert base is not None
    start = src.start_id
    words = src.words
    marked: set[int] = set()
    for top in dict.fromkeys(words[p] for p in id_positions):  # first meetings, in order
        if not 0 < top < start or top in marked:
            continue
        stack = [iter((top,))]
        while stack:
            for tid in stack[-1]:
                if not tid or tid >= start or tid in marked:
                    continue
                t = base[tid]
                kind = t.kind
                if kind not in _REFERABLE:
                    raise DistillError(
                        f"the split refers to base type [{tid}] {t.name!r} of kind {t.spec.label}, "
                        "which a distilled base cannot describe"
                    )
                marked.add(tid)
                if not (kind in _COMPOSITE and t.name_off):
                    stack.append(iter(t.refs()))
                    break
            else:
                stack.pop()
    return sorted(marked)


def distill(split: BTF) -> tuple[BTF, BTF]:
    """Distill ``split``'s base: returns ``(distilled_base, new_split)``, byte-identical to libbpf 1.5's
    ``btf__distill_base``.

    ``new_split`` is split on ``distilled_base`` and holds ``split``'s own types (renumbered)
    followed by the base types that had to come along whole.  Raises :class:`DistillError`
    if ``split`` has no base or refers to a base VAR, FUNC, DATASEC or DECL_TAG.
    """
    base = split.base
    if base is None:
        raise DistillError("only split BTF (a module's, on its vmlinux) can be distilled")
    if split.info_format != CLASSIC_INFO:
        raise DistillError("distilling BTF with the extended (32-byte) header is not supported")
    split.check_references()
    id_pos, str_pos = split.field_positions()
    needed = _needed_base_ids(split, id_pos)
    start = split.start_id
    src_str = split.strings.get
    new_base = BTF(byteorder=split.byteorder)
    # Source string offset -> new offset, shared by both new BTFs as libbpf shares its map.
    str_map: dict[int, int] = {0: 0}

    def base_str(off: int) -> int:
        if off not in str_map:
            str_map[off] = new_base.strings.add(src_str(off))
        return str_map[off]

    id_map: dict[int, int] = {}
    moved: list[int] = []  # base IDs copied whole into the new split
    for tid in needed:
        owner, w = base.locate(tid)
        bw = owner.words
        kind = owner.info_format.kind(bw[w + INFO])
        name_off = bw[w + NAME_OFF]
        if kind in (Kind.INT, Kind.FLOAT, Kind.FWD):
            record = bw[w : w + owner.record_words(bw[w + INFO])]
            record[NAME_OFF] = base_str(name_off)
        elif kind in _COMPOSITE and name_off:
            record = array("I", [base_str(name_off), make_info(kind), bw[w + SIZE]])
        elif kind in _ENUMS and name_off:
            size = bw[w + SIZE]
            if size not in (1, 2, 4, 8):
                raise DistillError(f"base enum [{tid}] {src_str(name_off)!r} has size {size}, not 1, 2, 4 or 8")
            record = array("I", [base_str(name_off), make_info(Kind.ENUM), size])
        else:
            moved.append(tid)
            continue
        id_map[tid] = new_base.append_record(record)

    if not len(new_base):
        # libbpf tells "adding to the base" from "adding to the split" by the start ID
        # being 1, which the split's also is when the distilled base is empty: then the
        # moved types are never added, and references to them keep their base IDs.
        id_map.update((tid, tid) for tid in moved)
        moved = []
    # The new split: the own records, then the moved ones.
    new_split = BTF(new_base)
    words = split.words[:]
    offsets = array("I", split.offsets)
    next_id = new_base.type_count + len(split)
    for tid in moved:
        owner, w = base.locate(tid)
        bw = owner.words
        at = len(words)
        offsets.append(at)
        words.extend(bw[w : w + owner.record_words(bw[w + INFO])])
        id_pos += [p - w + at for p in owner.ref_positions(bw, w)]
        str_pos += [p - w + at for p in owner.str_positions(bw, w)]
        id_map[tid] = next_id
        next_id += 1
    # Strings are added in libbpf's order (record by record, field by field); adding
    # each distinct one at its first use gives the same table.
    values = [words[p] for p in str_pos]
    add = new_split.strings.add
    for off in dict.fromkeys(values):
        if off not in str_map:
            str_map[off] = add(src_str(off))
    for p, off in zip(str_pos, values, strict=True):
        words[p] = str_map[off]
    # IDs: base ones through id_map, split ones shifted down by what the base lost.
    diff = start - new_base.type_count
    get = id_map.get
    for p in id_pos:
        tid = words[p]
        words[p] = tid - diff if tid >= start else get(tid, tid)
    new_split.append_records(words, offsets)
    return new_base, new_split
