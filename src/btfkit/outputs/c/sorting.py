"""The order newer bpftool (7.5 and later) writes types in by default (``dump_c(sort=True)``).

Types are sorted by a rank of their kind (enums, then base types, then
structs and unions, then named function prototypes, the rest last), then by
name, then by a hash of their member names that tells same-named types apart,
then by ID.
"""

# ruff: noqa: PLR1714, SIM109
from __future__ import annotations

from .common import (
    _ARRAY,
    _COMPOSITE,
    _CONST,
    _DECL_TAG,
    _ENUM64,
    _ENUMS,
    _FLOAT,
    _FUNC_PROTO,
    _INT,
    _MAX_CHAIN,
    _PTR,
    _RESTRICT,
    _TYPE_TAG,
    _TYPEDEF,
    _VOLATILE,
)
from .index import TypeIndex


def _sort_key_fn(d: TypeIndex) -> list[tuple[int, str, str, int, int]]:
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
