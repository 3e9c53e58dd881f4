"""Combining BTFs: concatenation, stand-alone copies of split BTF, and merging.

:func:`concat` lays several BTFs end to end as one (the way a linker joins
``.BTF`` sections: types renumbered, string sections appended, nothing
deduplicated).  :func:`standalone` turns a split BTF into one that carries the
base types it needs.  :func:`merge` concatenates split BTFs over one base and
deduplicates the result against that base.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BuildError
from ..format.btf import BTF
from ..format.kinds import INFO
from ..transforms.dedup import BaseIndex, dedup

__all__ = ["concat", "merge", "standalone"]


def concat(btfs: Sequence[BTF], base: BTF | None = None) -> BTF:
    """The own types of ``btfs``, in order, as one BTF (split on ``base`` if given).

    Each input is either split on ``base`` (references into the base stay as
    they are) or standalone (its types are renumbered to follow ``base``).  The
    string sections are appended as they are, so the result is what a linker
    would produce; :func:`~btfkit.transforms.dedup.dedup` cleans it up.
    """
    out = BTF(base, byteorder=btfs[0].byteorder if btfs else None)
    out.strs_deduped = False
    out.strings.data[:] = b"" if base is not None else b"\0"
    for src in btfs:
        if src.base is not None and src.base is not base:
            raise BuildError("cannot concatenate a split BTF whose base is not the target base")
        src.check_references()
        if src.info_format != out.info_format:
            raise BuildError("cannot concatenate BTFs with different info formats")
        id_shift = out.type_count - src.start_id
        # A standalone source's offset 0 (the empty name) stays 0; its leading NUL is dropped.
        skip = 1 if src.base is None else 0
        str_shift = out.strings.end - src.start_str_off - skip
        out.strings.data += src.strings.data[skip:]
        words = src.words[:]
        first = src.start_id
        str_first = src.start_str_off + skip
        for w in src.offsets:
            for p in src.ref_positions(words, w):
                if words[p] >= first:
                    words[p] += id_shift
            for p in src.str_positions(words, w):
                if words[p] >= str_first:
                    words[p] += str_shift
        out.append_records(words, src.offsets)
    return out


def standalone(btf: BTF) -> BTF:
    """``btf`` with the base types it refers to (directly or not), as a standalone BTF.

    The base types come first, in base ID order, then ``btf``'s own types;
    strings are re-added in that order.
    """
    base = btf.base
    if base is None:
        raise BuildError("standalone() needs a split BTF")
    start = btf.start_id
    need: set[int] = set()
    todo = [r for t in btf.types() for r in t.refs() if 0 < r < start]
    while todo:
        tid = todo.pop()
        if tid in need:
            continue
        need.add(tid)
        todo.extend(r for r in base[tid].refs() if r and r not in need)
    order = sorted(need)
    new_id = {old: i for i, old in enumerate(order, 1)}
    shift = len(order) + 1 - start
    out = BTF(byteorder=btf.byteorder, info_format=btf.info_format)
    out.strs_deduped = False
    strings = out.strings
    for owner_tid in (*order, *range(start, btf.type_count)):
        owner, w = btf.locate(owner_tid)
        n = owner.record_words(owner.words[w + INFO])
        rec = owner.words[w : w + n]
        for p in owner.ref_positions(rec, 0):
            r = rec[p]
            rec[p] = new_id[r] if 0 < r < start else (r + shift if r else 0)
        for p in owner.str_positions(rec, 0):
            if rec[p]:
                rec[p] = strings.add(owner.strings.get(rec[p]))
        out.append_record(rec)
    return out


def merge(btfs: Sequence[BTF], base: BTF, index: BaseIndex | None = None) -> BTF:
    """Split BTFs over ``base`` combined into one split BTF, deduplicated against ``base``."""
    out = concat(btfs, base)
    dedup(out, index=index)
    return out

