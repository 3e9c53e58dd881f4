"""The BTF wire format: header layout, kinds and the per-kind table.

Every type record is a run of 32-bit words: ``name_off``, ``info`` and
``size_or_type``, then a fixed number of *extra* words, then ``vlen`` *elements*
of a fixed number of words each.  Because every field of every record is a
32-bit word, a whole type section can be byte-swapped as an array of words.

:data:`KINDS` holds one :class:`KindSpec` per kind.  Parsing (record sizes),
writing, traversal (which words are type IDs, which are string offsets),
remapping and validation all read this one table, so a new kind is one entry.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum, IntFlag
from operator import itemgetter
from typing import Final, NamedTuple

MAGIC: Final = 0xEB9F
VERSION: Final = 1
#: The classic header is 24 bytes; the 2026 extension adds the kind-layout section (32).
HEADER_LEN: Final = 24
HEADER_LEN_LAYOUT: Final = 32
#: The highest type ID and string offset the kernel accepts.
MAX_TYPE_ID: Final = 0x000FFFFF
MAX_NAME_OFFSET: Final = 0x00FFFFFF


class Kind(IntEnum):
    """BTF kinds, numbered as in the kernel's UAPI ``BTF_KIND_*``."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


class IntEncoding(IntFlag):
    """Bits of an INT's encoding (``BTF_INT_SIGNED`` and friends)."""

    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


class Linkage(IntEnum):
    """Linkage of a FUNC (kept in its vlen) or a VAR (kept in its extra word)."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class Names(IntEnum):
    """What the kernel requires of a kind's name."""

    NONE = 0  # must be anonymous
    IDENT = 1  # a C identifier, required
    OPTIONAL = 2  # a C identifier, or anonymous
    SECTION = 3  # a section name such as ".data..percpu"
    TAG = 4  # any non-empty string
    ANY = 5  # not checked (the kernel accepts any name, or none, for INT and FLOAT)


class Role(IntEnum):
    """How the kernel's verifier resolves a kind (its per-kind ``resolve`` operation).

    Resolution walks from a type through the types it is made of, to prove the
    walk ends and that every member and variable has a size.
    """

    SINK = 0  # nothing to resolve: INT, ENUM, ENUM64, FWD, FLOAT, FUNC_PROTO
    MODIFIER = 1  # TYPEDEF and qualifiers: takes the size of what it refers to
    PTR = 2
    ARRAY = 3
    STRUCT = 4  # STRUCT and UNION
    VAR = 5
    FUNC = 6
    DECL_TAG = 7
    DATASEC = 8


class KindSpec(NamedTuple):
    """Facts about one kind that the generic code needs.

    ``extra_fields`` and ``elem_fields`` name the words of the extra block and of
    one element, in order (as the kernel's UAPI structs name them); :meth:`word`
    and :meth:`elem` give a field's position by name.  ``extra_refs``/``elem_refs``/
    ``elem_strs`` are the word indexes (within the extra block or within one
    element) holding type IDs or string offsets, derived from those names, in the
    order libbpf's field iterator visits them (that order fixes dedup's string order).
    """

    kind: int
    label: str  # the kind's name as bpftool prints it
    type_ref: bool  # the third header word is a type ID (else a size or unused)
    extra_words: int
    elem_words: int = 0
    extra_refs: tuple[int, ...] = ()
    elem_refs: tuple[int, ...] = ()
    elem_strs: tuple[int, ...] = ()
    names: Names = Names.NONE
    kflag_ok: bool = False  # the kernel allows kind_flag to be set
    has_vlen: bool = False  # vlen counts elements (FUNC keeps its linkage there instead)
    # libbpf's field iterator also visits FWD's unused third word as a type ID: checks and
    # remapping treat it as one too, so that odd input (a non-zero word) ends as in libbpf.
    iter_ref: bool = False
    # Facts used by the kernel-style validation (btfkit.validate):
    elem_names: Names = Names.NONE  # rule for element names (members, enumerators, params)
    vlen_max: int = 0  # largest vlen the kernel accepts (FUNC: its highest linkage)
    size_values: frozenset[int] | None = None  # allowed values of the size word, if restricted
    sized: bool = False  # the size word is the type's byte size (kernel's btf_type_has_size)
    sizeless: bool = False  # has no size at all, so no member or variable can be of it
    role: Role = Role.SINK
    extra_fields: tuple[str, ...] = ()
    elem_fields: tuple[str, ...] = ()

    def record_words(self, vlen: int) -> int:
        """Words in a record of this kind with ``vlen`` elements."""
        return 3 + self.extra_words + vlen * self.elem_words

    def word(self, field: str) -> int:
        """Where field ``field`` is in a record: ``name_off``, ``info``, ``size``/``type``
        (the third word, by kind), or one of :attr:`extra_fields`."""
        if field in self.extra_fields:  # ARRAY's element "type" is an extra word
            return EXTRA + self.extra_fields.index(field)
        return _HEADER[field]

    def elem(self, field: str) -> int:
        """Where field ``field`` is within one element (one of :attr:`elem_fields`)."""
        return self.elem_fields.index(field)


#: The words every record starts with; extra words follow, then the elements.
NAME_OFF: Final = 0
INFO: Final = 1
SIZE: Final = 2  # the third word, for kinds that have a size ...
TYPE: Final = 2  # ... and for kinds that refer to a type there
EXTRA: Final = 3
_HEADER: Final = {"name_off": NAME_OFF, "info": INFO, "size": SIZE, "type": TYPE}
_REF_FIELDS: Final = frozenset({"type", "index_type"})  # fields that hold a type ID


def _spec(kind: Kind, extra: tuple[str, ...] = (), elem: tuple[str, ...] = (), **kw: object) -> KindSpec:
    refs = [i for i, f in enumerate(elem) if f in _REF_FIELDS]
    strs = [i for i, f in enumerate(elem) if f == "name_off"]
    return KindSpec(
        int(kind), kind.name, extra_words=len(extra), elem_words=len(elem),
        extra_refs=tuple(i for i, f in enumerate(extra) if f in _REF_FIELDS),
        elem_refs=tuple(refs), elem_strs=tuple(strs), extra_fields=extra, elem_fields=elem,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


_ELEMS: Final = 0xFFFF  # the classic 16-bit vlen
_MOD: Final = Role.MODIFIER

KINDS: Final[dict[int, KindSpec]] = {
    s.kind: s
    for s in (
        # INT's extra word: encoding (bits 24-27), bit offset (16-23) and bit count (0-7).
        _spec(Kind.INT, ("encoding",), type_ref=False, names=Names.ANY, sized=True),
        _spec(Kind.PTR, type_ref=True, role=Role.PTR),
        _spec(Kind.ARRAY, ("type", "index_type", "nelems"), type_ref=False,
              size_values=frozenset({0}), role=Role.ARRAY),
        _spec(Kind.STRUCT, (), ("name_off", "type", "offset"), type_ref=False,
              names=Names.OPTIONAL, kflag_ok=True, has_vlen=True,
              elem_names=Names.OPTIONAL, vlen_max=_ELEMS, sized=True, role=Role.STRUCT),
        _spec(Kind.UNION, (), ("name_off", "type", "offset"), type_ref=False,
              names=Names.OPTIONAL, kflag_ok=True, has_vlen=True,
              elem_names=Names.OPTIONAL, vlen_max=_ELEMS, sized=True, role=Role.STRUCT),
        _spec(Kind.ENUM, (), ("name_off", "val"), type_ref=False,
              names=Names.OPTIONAL, kflag_ok=True, has_vlen=True, elem_names=Names.IDENT,
              vlen_max=_ELEMS, size_values=frozenset({1, 2, 4, 8}), sized=True),
        _spec(Kind.FWD, type_ref=False, iter_ref=True, names=Names.IDENT,
              kflag_ok=True, size_values=frozenset({0}), sizeless=True),
        _spec(Kind.TYPEDEF, type_ref=True, names=Names.IDENT, role=_MOD),
        _spec(Kind.VOLATILE, type_ref=True, role=_MOD),
        _spec(Kind.CONST, type_ref=True, role=_MOD),
        _spec(Kind.RESTRICT, type_ref=True, role=_MOD),
        _spec(Kind.FUNC, type_ref=True, names=Names.IDENT,
              vlen_max=int(Linkage.GLOBAL), sizeless=True, role=Role.FUNC),
        _spec(Kind.FUNC_PROTO, (), ("name_off", "type"), type_ref=True,
              has_vlen=True, elem_names=Names.OPTIONAL, vlen_max=_ELEMS, sizeless=True),
        _spec(Kind.VAR, ("linkage",), type_ref=True, names=Names.IDENT, role=Role.VAR),
        _spec(Kind.DATASEC, (), ("type", "offset", "size"), type_ref=False,
              names=Names.SECTION, has_vlen=True, vlen_max=_ELEMS, sized=True,
              role=Role.DATASEC),
        _spec(Kind.FLOAT, type_ref=False, names=Names.ANY,
              size_values=frozenset({2, 4, 8, 12, 16}), sized=True),
        _spec(Kind.DECL_TAG, ("component_idx",), type_ref=True, names=Names.TAG, kflag_ok=True,
              sizeless=True, role=Role.DECL_TAG),
        _spec(Kind.TYPE_TAG, type_ref=True, names=Names.TAG, kflag_ok=True, role=_MOD),
        _spec(Kind.ENUM64, (), ("name_off", "val_lo32", "val_hi32"), type_ref=False,
              names=Names.OPTIONAL, kflag_ok=True, has_vlen=True, elem_names=Names.IDENT,
              vlen_max=_ELEMS, size_values=frozenset({1, 2, 4, 8}), sized=True),
    )
}


def _positions(kind: Kind, *fields: str) -> tuple[int, ...]:
    """Where ``fields`` are: within one element for kinds with elements, else in the record."""
    spec = KINDS[kind]
    return tuple(spec.elem(f) if spec.elem_fields else spec.word(f) for f in fields)


# Field positions by name, for code that reads records word by word (hot loops read
# module constants; the values come from the table above).
(INT_ENCODING,) = _positions(Kind.INT, "encoding")
ARRAY_TYPE, ARRAY_INDEX_TYPE, ARRAY_NELEMS = _positions(Kind.ARRAY, "type", "index_type", "nelems")
(VAR_LINKAGE,) = _positions(Kind.VAR, "linkage")
(DECL_TAG_COMPONENT,) = _positions(Kind.DECL_TAG, "component_idx")
#: Where the elements start (no kind with elements has extra words).
ELEMS: Final = EXTRA
# Elements: STRUCT/UNION members, FUNC_PROTO parameters, enumerators, DATASEC
# variables; each kind's words per element, and each field's place in one.
MEMBER_NAME, MEMBER_TYPE, MEMBER_OFFSET = _positions(Kind.STRUCT, "name_off", "type", "offset")
PARAM_NAME, PARAM_TYPE = _positions(Kind.FUNC_PROTO, "name_off", "type")
ENUM_NAME, ENUM_VAL = _positions(Kind.ENUM, "name_off", "val")
ENUM64_LO, ENUM64_HI = _positions(Kind.ENUM64, "val_lo32", "val_hi32")
VARSEC_TYPE, VARSEC_OFFSET, VARSEC_SIZE = _positions(Kind.DATASEC, "type", "offset", "size")
MEMBER_WORDS, PARAM_WORDS, ENUM_WORDS, ENUM64_WORDS, VARSEC_WORDS = (
    KINDS[k].elem_words for k in (Kind.STRUCT, Kind.FUNC_PROTO, Kind.ENUM, Kind.ENUM64, Kind.DATASEC)
)

#: Kinds that only qualify another type (libbpf's ``btf_is_mod``).
MODIFIERS: Final = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})


class InfoFormat(NamedTuple):
    """How ``info`` splits into kind, vlen and kind_flag.

    The classic format has a 16-bit vlen and a 5-bit kind; BTF with the 2026
    32-byte header uses a 24-bit vlen and a 7-bit kind.
    """

    vlen_mask: int
    kind_mask: int

    def kind(self, info: int) -> int:
        """The kind number in ``info``."""
        return (info >> 24) & self.kind_mask

    def vlen(self, info: int) -> int:
        """The vlen in ``info``."""
        return info & self.vlen_mask


CLASSIC_INFO: Final = InfoFormat(vlen_mask=0xFFFF, kind_mask=0x1F)
WIDE_INFO: Final = InfoFormat(vlen_mask=0xFFFFFF, kind_mask=0x7F)


def make_info(kind: int, vlen: int = 0, kind_flag: bool = False) -> int:
    """Pack kind, vlen and kind_flag into an ``info`` word."""
    return (int(kind_flag) << 31) | (kind << 24) | vlen


def signed32(v: int) -> int:
    """A 32-bit word read as a signed number (signed enumerators, DECL_TAG's component)."""
    return v - (1 << 32) if v >> 31 else v


def signed64(v: int) -> int:
    """A 64-bit value read as a signed number (signed ENUM64 enumerators)."""
    return v - (1 << 64) if v >> 63 else v


def column(words: array[int], group: Sequence[int], j: int) -> Sequence[int]:
    """Word ``j`` of each record in ``group`` (first words of records)."""
    if len(group) > 1:
        # itemgetter over a view shifted by j computes no index: less than half the
        # cost of a comprehension adding j to each.
        return itemgetter(*group)(memoryview(words)[j:] if j else words)  # type: ignore[no-any-return]
    return [words[w + j] for w in group]


def gather_elems(
    words: array[int],
    group: Sequence[int],
    first: int,
    step: int,
    vlens: Iterable[int],
    *,
    data: bytes | None = None,
) -> array[int]:
    """The element words of ``group``'s records (``vlens[i]`` elements of ``step`` words
    from word ``first`` of each), one element after another, gathered by slicing.
    ``data`` is ``words.tobytes()`` if the caller has it (one copy for all kinds)."""
    if data is None:
        data = words.tobytes()  # slicing bytes is cheaper than slicing a memoryview
    head, size = 4 * first, 4 * step
    elems = array(words.typecode)
    elems.frombytes(b"".join([data[(s := 4 * w + head) : s + v * size] for w, v in zip(group, vlens, strict=True)]))
    return elems


def field_values(
    words: array[int],
    group: Sequence[int],
    spec: KindSpec,
    vlen_mask: int,
    *,
    elems: array[int] | None = None,
    col: Callable[[int], Iterable[int]] | None = None,
    data: bytes | None = None,
) -> tuple[list[Iterable[int]], list[Iterable[int]]]:
    """The values of every type-ID field and every string field in records of one kind.

    ``group`` lists the first word of each record (all of kind ``spec``).  Values
    come grouped by field, not per record: element words of all records are
    gathered by slicing and then split by stride, so that checks over a whole
    kernel's BTF need few per-record steps.  A caller that has gathered some
    already passes them: ``elems`` as :func:`gather_elems` returns them, ``col(j)``
    giving word ``j`` of every record; ``data`` goes to :func:`gather_elems`.

    (Comprehensions, not ``map`` over slot wrappers such as ``(2).__add__`` or an
    array's ``__getitem__``: on CPython 3.11 the comprehension's specialized
    instructions cost a third less.)
    """
    if col is None:

        def col(j: int) -> Iterable[int]:
            return column(words, group, j)

    refs: list[Iterable[int]] = []
    strs: list[Iterable[int]] = [col(0)]
    if spec.type_ref or spec.iter_ref:
        refs.append(col(2))
    refs.extend(col(3 + i) for i in spec.extra_refs)
    if spec.has_vlen and (spec.elem_refs or spec.elem_strs):
        step = spec.elem_words
        if elems is None:
            vlens = [info & vlen_mask for info in column(words, group, 1)]
            elems = gather_elems(words, group, EXTRA + spec.extra_words, step, vlens, data=data)
        refs.extend(elems[i::step] for i in spec.elem_refs)
        strs.extend(elems[i::step] for i in spec.elem_strs)
    return refs, strs
