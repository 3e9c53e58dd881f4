"""bpftool's "raw" text dump, byte for byte (``bpftool btf dump file F [-B BASE]``).

Every type is one record: a line ``[ID] KIND 'name' ...`` and, for kinds with
elements, one tab-indented line per member, enumerator, parameter or DATASEC
entry.  The format follows bpftool 7.1 (libbpf 1.1) exactly, including its
quirks: ``(anon)`` for a zero name offset, ``UNKN`` for combined INT encoding
bits, a comma in ``VAR ... type_id=N, linkage=...``, and the ``(KIND 'name')``
note on DATASEC entries whose type ID is in range.  A split BTF prints only
its own types.

Speed: a kernel's BTF has ~130,000 types and ~300,000 lines.  Formatting them
one record at a time in Python costs several times what bpftool needs, so the
records are grouped by kind (and kind_flag), each field of a group is gathered
as a column with C-level ``itemgetter``/slicing over :attr:`BTF.words` (the
reference check reuses these columns rather than gathering its own), and all
heads, or all element lines, of a group come out of one ``bytes.__mod__``.
Output is built as bytes directly from the string section, so names keep
their exact bytes and nothing is decoded or encoded.  The JSON dump (:func:`btfkit.dump_json`) uses the same
machinery with other templates.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from itertools import accumulate, compress, groupby, repeat
from operator import add
from typing import IO, NamedTuple

from ..errors import BTFStringError, TypeIDError
from ..format.btf import BTF
from ..format.kinds import (
    EXTRA,
    INFO,
    KINDS,
    NAME_OFF,
    Kind,
    KindSpec,
    column,
    field_values,
    gather_elems,
)
from ..format.strings import StringTable
from ..gcpause import paused_gc

__all__ = [
    "RAW", "NameMap", "Style", "dump_raw", "kind_label", "name_map", "records",
    "write_raw", "write_records",
]  # fmt: skip

_LABELS: dict[int, bytes] = {0: b"UNKNOWN"} | {k: s.label.encode() for k, s in KINDS.items()}
_INT_ENCODINGS = (b"(none)", b"SIGNED", b"CHAR", b"UNKN", b"BOOL") + (b"UNKN",) * 11
_LINKAGES = {0: b"static", 1: b"global", 2: b"extern"}
_UNKNOWN_LINKAGE = b"(unknown)"
_FWD_KINDS = (b"struct", b"union")
_ENUM_ENCODINGS = (b"UNSIGNED", b"SIGNED")
# bpftool hands an unsigned ENUM's value to its JSON writer as a signed 32-bit
# number widened to 64 bits unsigned, so values from 2**31 up print sign-extended.
_JSON_U32_EXTEND = (0, (1 << 64) - (1 << 32))
# The kinds whose lines depend on kind_flag (the templates and columns below).
_KFLAG_KINDS = frozenset({Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD})

Column = Iterable[object]


def kind_label(kind: int) -> bytes:
    """bpftool's label for a kind number (``UNKNOWN`` for kinds it does not know)."""
    return _LABELS.get(kind, b"UNKNOWN")


class NameMap(dict[int, bytes]):
    """Printable names by string offset, as bytes: ``(anon)`` for 0, ``(invalid)`` for a bad offset.

    Built from one split of the whole string section; offsets below the
    table's start go to the base's map.  ``escape`` applies bpftool's JSON
    string escaping.
    """

    def __init__(
        self, table: StringTable, base: NameMap | None, escape: Callable[[bytes], bytes] | None
    ):
        data = bytes(table.data)
        pieces = data.split(b"\0")
        starts = accumulate([len(p) + 1 for p in pieces], initial=table.start)
        if escape is not None:  # escaping keeps NULs, so the pieces still line up with the offsets
            pieces = escape(data).split(b"\0")
        super().__init__(zip(starts, pieces, strict=False))
        if table.start == 0:
            self[0] = b"(anon)"
        self.table, self.base, self.escape, self.size = table, base, escape, len(data)

    def __missing__(self, offset: int) -> bytes:
        if offset == 0:
            return b"(anon)"
        if offset < self.table.start and self.base is not None:
            return self.base[offset]
        # An offset into the middle of a string is legal: decode it on demand.
        try:
            text = self.table.get(offset).encode("utf-8", "surrogateescape")
        except BTFStringError:
            return b"(invalid)"
        text = self.escape(text) if self.escape else text
        self[offset] = text
        return text


# Base maps are reused while their table is unchanged: dumping many modules on
# one vmlinux would otherwise split the vmlinux strings once per module.
_BASE_MAPS: dict[tuple[int, bool], NameMap] = {}


def name_map(table: StringTable, escape: Callable[[bytes], bytes] | None = None) -> NameMap:
    """The :class:`NameMap` of ``table`` (and its bases)."""
    base = None
    if table.base is not None:
        key = (id(table.base), escape is not None)
        base = _BASE_MAPS.get(key)
        if base is None or base.table is not table.base or base.size != len(table.base.data):
            base = name_map(table.base, escape)
            if len(_BASE_MAPS) >= 4:
                _BASE_MAPS.clear()
            _BASE_MAPS[key] = base
    return NameMap(table, base, escape)


class Group:
    """Records of one kind and one kind_flag value, all in ``words``.

    ``ws`` holds the first word of each record, ``ids`` their type IDs.
    """

    def __init__(
        self,
        words: array[int],
        ws: list[int],
        ids: Sequence[int],
        spec: KindSpec,
        vlen_mask: int,
        *,
        kflag: bool = False,
    ) -> None:
        self.words, self.ws, self.ids, self.spec, self.kind = words, ws, ids, spec, spec.kind
        self.vlen_mask, self.kflag = vlen_mask, kflag
        self._cols: dict[int, Sequence[int]] = {}

    def col(self, j: int) -> Sequence[int]:
        """Word ``j`` of every record (gathered once: the check and the lines share it)."""
        cols = self._cols
        if j not in cols:
            cols[j] = column(self.words, self.ws, j)
        return cols[j]

    def field(self, name: str) -> Sequence[int]:
        """Field ``name`` of every record (``name_off``, ``size``, ``type``, an extra word)."""
        return self.col(self.spec.word(name))

    def elem_field(self, name: str) -> Sequence[int]:
        """Field ``name`` of every element of every record, one element after another."""
        spec = self.spec
        return self.elems[spec.elem(name) :: spec.elem_words]

    @cached_property
    def vlens(self) -> list[int]:
        """The vlen of every record."""
        words, mask = self.words, self.vlen_mask
        return [words[w + INFO] & mask for w in self.ws]

    @cached_property
    def elems(self) -> array[int]:
        """All element words of the group's records, one element after another."""
        spec = self.spec
        return gather_elems(self.words, self.ws, EXTRA + spec.extra_words, spec.elem_words, self.vlens)

    def fields(self) -> tuple[list[Iterable[int]], list[Iterable[int]]]:
        """The records' type-ID and string fields (:func:`field_values`), sharing :attr:`elems`."""
        spec = self.spec
        elems = self.elems if spec.has_vlen and (spec.elem_refs or spec.elem_strs) else None
        return field_values(self.words, self.ws, spec, self.vlen_mask, elems=elems, col=self.col)

    def split_by_kflag(self) -> list[Group]:
        """The group as groups of one kind_flag value each (itself when all agree)."""
        words = self.words
        flags = [words[w + INFO] >> 31 for w in self.ws]
        if not any(flags):
            return [self]
        if all(flags):
            self.kflag = True
            return [self]
        clear = [1 - f for f in flags]
        vmask, spec, ws, ids = self.vlen_mask, self.spec, self.ws, self.ids
        return [
            Group(words, list(compress(ws, s)), list(compress(ids, s)), spec, vmask, kflag=s is flags)
            for s in (clear, flags)
        ]


def _s32(values: Iterable[int]) -> array[int]:
    """Reinterpret 32-bit words as signed, without a Python loop."""
    return array("i", array("I", values).tobytes())


class Style(NamedTuple):
    """Templates of one output format.

    ``heads[kind]`` formats a record's first part, ``elems[(kind, kflag)]`` one
    element; a record is its head, its elements joined by ``elem_sep``, then
    ``tails[bool(vlen)]`` (pretty JSON closes an empty list differently).
    ``unknown`` formats a kind bpftool does not know from ID, label and name.
    ``bitfield`` is the text after a member with a bitfield size of ``i``;
    ``json`` selects JSON's value conventions (no DATASEC notes, enum values
    as bpftool's JSON writer shows them); ``escape`` is applied to names.
    """

    heads: dict[int, bytes]
    elems: dict[tuple[int, bool], bytes]
    elem_sep: bytes
    tails: tuple[bytes, bytes]
    unknown: bytes
    bitfield: tuple[bytes, ...]
    json: bool
    escape: Callable[[bytes], bytes] | None = None


def _head_columns(g: Group, names: NameMap) -> list[Column]:
    """The values filling a kind's head template, in template order."""
    k = g.kind
    ids = g.ids
    name: Column = map(names.__getitem__, g.field("name_off"))
    if k == Kind.INT:
        enc = g.field("encoding")
        return [ids, name, g.field("size"), map((0xFF).__and__, map((16).__rrshift__, enc)),
                map((0xFF).__and__, enc),
                map(_INT_ENCODINGS.__getitem__, map((0x0F).__and__, map((24).__rrshift__, enc)))]  # fmt: skip
    if k in (Kind.PTR, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPEDEF, Kind.TYPE_TAG):
        return [ids, name, g.field("type")]
    if k == Kind.FLOAT:
        return [ids, name, g.field("size")]
    if k == Kind.ARRAY:
        return [ids, name, g.field("type"), g.field("index_type"), g.field("nelems")]
    if k in (Kind.STRUCT, Kind.UNION, Kind.DATASEC):
        return [ids, name, g.field("size"), g.vlens]
    if k == Kind.FUNC_PROTO:
        return [ids, name, g.field("type"), g.vlens]
    if k in (Kind.ENUM, Kind.ENUM64):
        return [ids, name, [_ENUM_ENCODINGS[g.kflag]] * len(ids), g.field("size"), g.vlens]
    if k == Kind.FWD:
        return [ids, name, [_FWD_KINDS[g.kflag]] * len(ids)]
    if k == Kind.FUNC:
        return [ids, name, g.field("type"), map(_LINKAGES.get, g.vlens, repeat(_UNKNOWN_LINKAGE))]
    if k == Kind.VAR:
        return [ids, name, g.field("type"), map(_LINKAGES.get, g.field("linkage"), repeat(_UNKNOWN_LINKAGE))]
    if k == Kind.DECL_TAG:
        return [ids, name, g.field("type"), _s32(g.field("component_idx"))]
    raise AssertionError(f"no head columns for kind {k}")


def _datasec_note(btf: BTF, names: NameMap) -> Callable[[int], bytes]:
    """bpftool's `` (KIND 'name')`` after a DATASEC entry whose type ID is in range."""
    count = btf.type_count

    def note(type_id: int) -> bytes:
        if type_id >= count:
            return b""
        if type_id == 0:  # libbpf's all-zero record for void
            return b" (UNKNOWN '(anon)')"
        owner, w = btf.locate(type_id)
        kind = owner.info_format.kind(owner.words[w + INFO])
        return b" (%s '%s')" % (kind_label(kind), names[owner.words[w + NAME_OFF]])

    return note


def _elem_columns(
    g: Group, style: Style, names: NameMap, btf: BTF, vlens: list[int]
) -> list[Column]:
    """The values filling a kind's element template, one row per element."""
    k = g.kind
    e = g.elem_field
    if k in (Kind.STRUCT, Kind.UNION):
        name = map(names.__getitem__, e("name_off"))
        offs = e("offset")
        if not g.kflag:
            return [name, e("type"), offs, [b""] * len(offs)]
        return [name, e("type"), map((0xFFFFFF).__and__, offs),
                map(style.bitfield.__getitem__, map((24).__rrshift__, offs))]  # fmt: skip
    if k == Kind.ENUM:
        val = e("val")
        vals: Column = val
        if g.kflag:
            vals = _s32(val)
        elif style.json:
            vals = map(add, val, map(_JSON_U32_EXTEND.__getitem__, map((31).__rrshift__, val)))
        return [map(names.__getitem__, e("name_off")), vals]
    if k == Kind.ENUM64:
        u64 = array("Q", map(add, e("val_lo32"), map((32).__rlshift__, e("val_hi32"))))
        return [map(names.__getitem__, e("name_off")), array("q", u64.tobytes()) if g.kflag else u64]
    if k == Kind.FUNC_PROTO:
        return [map(names.__getitem__, e("name_off")), e("type")]
    if k == Kind.DATASEC:
        types = e("type")
        if style.json:
            return [types, e("offset"), e("size")]
        return [types, e("offset"), e("size"), map(_datasec_note(btf, names), types)]
    raise AssertionError(f"kind {k} has no elements")


def _format_rows(templates: Iterable[bytes], columns: Sequence[Column], rows: int) -> list[bytes]:
    """``templates[i] % rows[i]`` for the ``rows`` rows of ``columns``, as one ``%`` call.

    Formatting one long template costs a quarter less than a call per row.  The
    results are cut apart at NULs, which no name (a C string) and no template holds.
    The values are interleaved by extended-slice assignment, a C loop per column
    (several times cheaper than zipping the columns and flattening the rows).
    """
    width = len(columns)
    values: list[object] = [None] * (rows * width)
    for i, values_of_field in enumerate(columns):
        values[i::width] = values_of_field
    return (b"\0".join(templates) % tuple(values)).split(b"\0")


def _render_group(g: Group, style: Style, names: NameMap, btf: BTF) -> Iterator[bytes]:
    head = style.heads.get(g.kind)
    n = len(g.ids)
    if head is None:
        columns = [g.ids, [kind_label(g.kind)] * n, map(names.__getitem__, g.col(NAME_OFF))]
        return iter(_format_rows(repeat(style.unknown, n), columns, n))
    heads = _format_rows(repeat(head, n), _head_columns(g, names), n)
    elem = style.elems.get((g.kind, g.kflag))
    if elem is None:
        return iter(heads)
    vlens = g.vlens
    sep = style.elem_sep
    shapes = {v: sep.join((elem,) * v) for v in set(vlens)}  # records of one vlen share a template
    body_templates = map(shapes.__getitem__, vlens)
    bodies = _format_rows(body_templates, _elem_columns(g, style, names, btf, vlens), sum(vlens))
    if not any(style.tails):
        return map(add, heads, bodies)
    tails = map(style.tails.__getitem__, map(bool, vlens))
    return map(add, map(add, heads, bodies), tails)


def _render(
    btf: BTF, style: Style, names: NameMap, owner: BTF, *, ws: Sequence[int], ids: Sequence[int]
) -> list[bytes]:
    """One formatted record per ``(ws[i], ids[i])`` (records of ``owner``), in input order."""
    words, info_format = owner.words, owner.info_format
    n = len(ws)
    out = [b""] * n
    keys = [words[w + INFO] >> 24 for w in ws]
    kmask = info_format.kind_mask
    for key, members in groupby(sorted(range(n), key=keys.__getitem__), key=keys.__getitem__):
        pos = list(members)
        g = Group(words, list(map(ws.__getitem__, pos)), list(map(ids.__getitem__, pos)),
                  owner.spec(key & kmask), info_format.vlen_mask, kflag=bool(key >> 7))  # fmt: skip
        texts = list(_render_group(g, style, names, btf))
        deque(map(out.__setitem__, pos, texts), maxlen=0)  # scatter at C speed
    return out


def _render_own(btf: BTF, style: Style, names: NameMap) -> list[bytes]:
    """One formatted record per own type, in ID order.

    Records come grouped by kind as parsing left them; the reference check
    (bpftool cannot open BTF with dangling names or IDs either) shares the
    element words those groups gather for their lines.
    """
    words, start, vmask = btf.words, btf.start_id, btf.info_format.vlen_mask
    groups = {
        kind: Group(words, ws, ids, btf.spec(kind), vmask)
        for kind, (ws, ids) in enumerate(zip(btf.records_by_kind(), btf.ids_by_kind(), strict=True))
        if ws
    }
    btf.check_references(lambda kind, _ws: groups[kind].fields())
    out = [b""] * btf.type_count  # indexed by ID; the base's IDs are cut off at the end
    for kind, kind_group in groups.items():
        for g in kind_group.split_by_kflag() if kind in _KFLAG_KINDS else (kind_group,):
            deque(map(out.__setitem__, g.ids, _render_group(g, style, names, btf)), maxlen=0)
    del out[:start]
    return out


def records(btf: BTF, style: Style, root_ids: Sequence[int] | None = None) -> list[bytes]:
    """Formatted records of ``btf``'s own types, or of ``root_ids`` (own or base) in that order."""
    with paused_gc():
        return _records(btf, style, root_ids)


def _records(btf: BTF, style: Style, root_ids: Sequence[int] | None) -> list[bytes]:
    names = name_map(btf.strings, style.escape)
    if root_ids is None:
        return _render_own(btf, style, names)
    btf.check_references()  # bpftool cannot open BTF with dangling names or IDs either
    out = [b""] * len(root_ids)
    by_owner: dict[int, tuple[BTF, list[int], list[int], list[int]]] = {}
    for pos, type_id in enumerate(root_ids):
        if not 0 < type_id < btf.type_count:
            raise TypeIDError(
                f"root type ID {type_id} out of range (valid: 1..{btf.type_count - 1})"
            )
        owner, w = btf.locate(type_id)
        entry = by_owner.setdefault(id(owner), (owner, [], [], []))
        entry[1].append(pos)
        entry[2].append(w)
        entry[3].append(type_id)
    for owner, positions, ws, ids_ in by_owner.values():
        texts = _render(btf, style, names, owner, ws=ws, ids=ids_)
        for p, text in zip(positions, texts, strict=True):
            out[p] = text
    return out


def write_records(
    out: IO[bytes], parts: Sequence[bytes], sep: bytes = b"", chunk: int = 8192
) -> None:
    """Write ``sep.join(parts)`` to ``out`` a chunk at a time."""
    for i in range(0, len(parts), chunk):
        if i and sep:
            out.write(sep)
        out.write(sep.join(parts[i : i + chunk]))


def _both_flags(templates: dict[Kind, bytes]) -> dict[tuple[int, bool], bytes]:
    """The same element template whatever the kind_flag."""
    return {(k, f): t for k, t in templates.items() for f in (False, True)}


RAW = Style(
    heads={
        Kind.INT: b"[%d] INT '%s' size=%d bits_offset=%d nr_bits=%d encoding=%s\n",
        **{
            k: b"[%%d] %s '%%s' type_id=%%d\n" % k.name.encode()
            for k in (
                Kind.PTR,
                Kind.CONST,
                Kind.VOLATILE,
                Kind.RESTRICT,
                Kind.TYPEDEF,
                Kind.TYPE_TAG,
            )
        },
        Kind.ARRAY: b"[%d] ARRAY '%s' type_id=%d index_type_id=%d nr_elems=%d\n",
        Kind.STRUCT: b"[%d] STRUCT '%s' size=%d vlen=%d\n",
        Kind.UNION: b"[%d] UNION '%s' size=%d vlen=%d\n",
        Kind.ENUM: b"[%d] ENUM '%s' encoding=%s size=%d vlen=%d\n",
        Kind.ENUM64: b"[%d] ENUM64 '%s' encoding=%s size=%d vlen=%d\n",
        Kind.FWD: b"[%d] FWD '%s' fwd_kind=%s\n",
        Kind.FUNC: b"[%d] FUNC '%s' type_id=%d linkage=%s\n",
        Kind.FUNC_PROTO: b"[%d] FUNC_PROTO '%s' ret_type_id=%d vlen=%d\n",
        Kind.VAR: b"[%d] VAR '%s' type_id=%d, linkage=%s\n",
        Kind.DATASEC: b"[%d] DATASEC '%s' size=%d vlen=%d\n",
        Kind.FLOAT: b"[%d] FLOAT '%s' size=%d\n",
        Kind.DECL_TAG: b"[%d] DECL_TAG '%s' type_id=%d component_idx=%d\n",
    },
    elems=_both_flags(
        {
            Kind.STRUCT: b"\t'%s' type_id=%d bits_offset=%d%s\n",
            Kind.UNION: b"\t'%s' type_id=%d bits_offset=%d%s\n",
            Kind.ENUM: b"\t'%s' val=%d\n",
            Kind.FUNC_PROTO: b"\t'%s' type_id=%d\n",
            Kind.DATASEC: b"\ttype_id=%d offset=%d size=%d%s\n",
        }
    )
    | {
        (Kind.ENUM64, False): b"\t'%s' val=%dULL\n",
        (Kind.ENUM64, True): b"\t'%s' val=%dLL\n",
    },
    elem_sep=b"",
    tails=(b"", b""),
    unknown=b"[%d] %s '%s'\n",
    bitfield=(b"", *(b" bitfield_size=%d" % n for n in range(1, 256))),
    json=False,
)


def dump_raw(btf: BTF, root_ids: Sequence[int] | None = None) -> bytes:
    """bpftool's raw text dump of ``btf`` (own types only), or of ``root_ids`` in that order."""
    return b"".join(records(btf, RAW, root_ids))


def write_raw(btf: BTF, out: IO[bytes], root_ids: Sequence[int] | None = None) -> None:
    """Write bpftool's raw text dump of ``btf`` (or of ``root_ids``) to a binary stream."""
    write_records(out, records(btf, RAW, root_ids))


