"""The candidate table (libbpf's hash table, reduced to what decides candidate order)
and the keys types are filed under."""

from __future__ import annotations

from array import array

from ...errors import BTFFormatError
from ...format.btf import BTF
from ...format.kinds import (
    ELEMS,
    EXTRA,
    INFO,
    MEMBER_WORDS,
    NAME_OFF,
    TYPE,
)
from .common import (
    _MEMBER_TYPES,
)


class _Table:
    """libbpf's candidate table, reduced to what decides candidate order.

    ``entries[key]`` lists ``id << 1 | parity`` in insertion order, where
    ``parity`` counts the table's grows so far, mod 2.  libbpf puts a new
    entry at the head of its chain and a grow reverses every chain, so with
    the current parity ``p`` a chain reads: the entries of parity ``p``
    newest first, then those of the other parity oldest first.  A table can
    sit on a frozen table (the base's) whose entries all came first.

    One type may be filed under several keys at once (an enum under its name
    and its whole record); that is still one libbpf insertion.
    """

    __slots__ = ("below", "cap", "entries", "parity", "size")

    def __init__(self, below: _Table | None = None):
        self.below = below.entries if below is not None else None
        self.entries: dict[object, list[int]] = {}
        if below is None:
            self.size = self.cap = self.parity = 0
        else:
            self.size, self.cap, self.parity = below.size, below.cap, below.parity

    def add(self, type_id: int, *keys: object) -> None:
        """File ``type_id`` under ``keys`` (one ``hashmap__append``)."""
        if self.cap == 0 or (self.size + 1) * 4 // 3 > self.cap:
            self.cap = self.cap * 2 if self.cap else 4
            self.parity ^= 1
        self.size += 1
        e = type_id << 1 | self.parity
        entries = self.entries
        for key in keys:
            lst = entries.get(key)
            if lst is None:
                entries[key] = [e]
            else:
                lst.append(e)

    def _all(self, key: object) -> list[int] | None:
        own = self.entries.get(key)
        below = self.below.get(key) if self.below is not None else None
        if below is None:
            return own
        return below if own is None else below + own

    def has(self, key: object) -> bool:
        return key in self.entries or (self.below is not None and key in self.below)

    def first(self, key: object) -> int:
        """The first candidate under ``key``, 0 if none."""
        ents = self.entries.get(key)
        if self.below is not None:
            below = self.below.get(key)
            if below is not None:
                ents = below + ents if ents else below
        if not ents:
            return 0
        if len(ents) > 1:
            p = self.parity
            for e in reversed(ents):
                if e & 1 == p:
                    return e >> 1
        return ents[0] >> 1

    def candidates(self, key: object) -> list[int]:
        """All candidates under ``key``, in libbpf's iteration order."""
        ents = self._all(key)
        if not ents:
            return []
        if len(ents) == 1:
            return [ents[0] >> 1]
        p = self.parity
        same = [e >> 1 for e in reversed(ents) if e & 1 == p]
        return same + [e >> 1 for e in ents if e & 1 != p]


def _shapes(btf: BTF) -> list[tuple[int, int]]:
    """(fixed words, words per element) of each kind number, from the kinds table."""
    out = []
    for k in range(btf.info_format.kind_mask + 1):
        try:
            s = btf.spec(k)
        except BTFFormatError:  # a kind nothing describes
            out.append((0, 0))
            continue
        out.append((EXTRA + s.extra_words, s.elem_words if s.has_vlen else 0))
    return out


_RefLayout = tuple[tuple[int, ...], int, int, tuple[int, ...]]


def _ref_layout(btf: BTF) -> list[_RefLayout]:
    """Per kind: fixed type-ID word positions, first element word, element size, element type-ID positions."""
    out: list[_RefLayout] = []
    for k in range(btf.info_format.kind_mask + 1):
        try:
            s = btf.spec(k)
        except BTFFormatError:
            out.append(((), 0, 0, ()))
            continue
        fixed = ((TYPE,) if s.type_ref or s.iter_ref else ()) + tuple(EXTRA + r for r in s.extra_refs)
        out.append((fixed, EXTRA + s.extra_words, s.elem_words, s.elem_refs))
    return out


def _struct_key(words: array[int], w: int, vmask: int) -> tuple[bytes, array[int]]:
    """A STRUCT/UNION's key (its record with member types zeroed) and its member types."""
    rec = words[w : w + ELEMS + (words[w + INFO] & vmask) * MEMBER_WORDS]
    types = rec[_MEMBER_TYPES::MEMBER_WORDS]
    rec[_MEMBER_TYPES::MEMBER_WORDS] = array("I", bytes(4 * len(types)))
    return rec.tobytes(), types


def _enum_keys(words: array[int], w: int, vmask: int, per: int) -> tuple[object, ...]:
    """An enum's keys: its name (all enums of a name), its record, and ~name if it is a forward."""
    name = words[w + NAME_OFF]
    vlen = words[w + INFO] & vmask
    rec = words[w : w + ELEMS + vlen * per].tobytes()
    return (name, rec) if vlen else (name, rec, ~name)
