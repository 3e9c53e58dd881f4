"""The split-aware BTF container.

A :class:`BTF` owns a run of type IDs (``start_id`` up to ``type_count - 1``)
and a string table; anything below its start belongs to its ``base``.  A BTF
without a base starts at ID 1 (ID 0 is ``void``) and its strings at offset 0;
a split BTF's IDs continue after its base's last ID and its string offsets
after its base's string section, so base and split read as one BTF.  Chains
(split on split) work the same way, one level at a time.

Types are kept as libbpf keeps them: records of 32-bit words in host byte
order (``words``), with ``offsets[i]`` giving the first word of own type
``start_id + i``.  :class:`Type` is a light view onto one record.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Literal, NamedTuple

from ..errors import BTFFormatError, BTFStringError, NotFoundError, TypeIDError
from ..format.kinds import (
    CLASSIC_INFO,
    KINDS,
    MODIFIERS,
    InfoFormat,
    IntEncoding,
    Kind,
    KindSpec,
    Linkage,
    field_values,
    signed32,
    signed64,
)
from ..format.strings import StringTable

ByteOrder = Literal["little", "big"]
#: What :func:`~btfkit.format.kinds.field_values` returns for one kind's records: (type-ID fields, string fields).
FieldSource = Callable[[int, list[int]], tuple[list[Iterable[int]], list[Iterable[int]]]]
#: Told, kind by kind, the (type-ID fields, string fields) columns a check gathered.
FieldSink = Callable[[int, list[Iterable[int]], list[Iterable[int]]], None]

_LONG_NAMES = frozenset(
    {
        "long", "long int", "int long", "unsigned long", "long unsigned",
        "unsigned long int", "unsigned int long", "long unsigned int",
        "long int unsigned", "int unsigned long", "int long unsigned",
    }
)  # fmt: skip
_MAX_RESOLVE_DEPTH = 32


_max0 = partial(max, default=0)  # the largest value of a column, 0 for an empty one


class Member(NamedTuple):
    """A STRUCT/UNION member; ``bit_offset`` from the start, ``bitfield_size`` 0 if none."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int


class EnumValue(NamedTuple):
    """An enumerator of an ENUM or ENUM64 (``value`` signed when the enum is)."""

    name: str
    value: int


class Param(NamedTuple):
    """A FUNC_PROTO parameter; a last one with ``type_id`` 0 stands for ``...``."""

    name: str
    type_id: int


class VarSecInfo(NamedTuple):
    """A DATASEC entry: a VAR (or FUNC) at ``offset`` taking ``size`` bytes."""

    type_id: int
    offset: int
    size: int


class ArrayInfo(NamedTuple):
    """An ARRAY's element type, index type and element count."""

    type_id: int
    index_type_id: int
    nelems: int


class Type:
    """A view of one type record.  Compare by identity of (BTF, ID)."""

    __slots__ = ("_w", "_words", "btf", "id")

    def __init__(self, btf: BTF, type_id: int, words: array[int], w: int):
        self.btf = btf  # the BTF that owns the record (a base, for base IDs)
        self.id = type_id
        self._words = words
        self._w = w

    def __repr__(self) -> str:
        return f"<Type [{self.id}] {self.spec.label} {self.name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and other.btf is self.btf and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self.btf), self.id))

    @property
    def name_off(self) -> int:
        """The raw string offset of the name."""
        return self._words[self._w]

    @property
    def info(self) -> int:
        """The raw ``info`` word."""
        return self._words[self._w + 1]

    @property
    def kind(self) -> int:
        """The kind (a :class:`Kind` for known kinds, a plain number otherwise)."""
        k = self.btf.info_format.kind(self.info)
        return Kind(k) if k in KINDS else k

    @property
    def spec(self) -> KindSpec:
        """The per-kind facts for this type's kind."""
        return self.btf.spec(self.btf.info_format.kind(self.info))

    @property
    def vlen(self) -> int:
        """The raw vlen (element count; linkage for FUNC)."""
        return self.btf.info_format.vlen(self.info)

    @property
    def kind_flag(self) -> bool:
        """The kind_flag bit."""
        return bool(self.info >> 31)

    @property
    def name(self) -> str:
        """The name, ``""`` when anonymous."""
        return self.btf.strings.get(self._words[self._w])

    @property
    def size(self) -> int:
        """The byte size (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT)."""
        return self._words[self._w + 2]

    @property
    def type_id(self) -> int:
        """The referenced type (PTR, TYPEDEF, modifiers, FUNC, VAR, tags; return type of a FUNC_PROTO)."""
        return self._words[self._w + 2]

    def _extra(self, i: int) -> int:
        return self._words[self._w + 3 + i]

    def _elems(self) -> Iterator[tuple[int, int]]:
        """(word offset, index) of each element."""
        spec = self.spec
        start = self._w + 3 + spec.extra_words
        for i in range(self.vlen if spec.has_vlen else 0):
            yield start + i * spec.elem_words, i

    # INT
    @property
    def encoding(self) -> IntEncoding:
        """An INT's encoding bits."""
        return IntEncoding((self._extra(0) >> 24) & 0x0F)

    @property
    def bit_offset(self) -> int:
        """An INT's bit offset."""
        return (self._extra(0) >> 16) & 0xFF

    @property
    def bits(self) -> int:
        """An INT's number of bits."""
        return self._extra(0) & 0xFF

    # ARRAY
    @property
    def array(self) -> ArrayInfo:
        """An ARRAY's element type, index type and count."""
        return ArrayInfo(self._extra(0), self._extra(1), self._extra(2))

    # VAR, FUNC
    @property
    def linkage(self) -> Linkage | int:
        """Linkage of a VAR or FUNC."""
        raw = self._extra(0) if self.kind == Kind.VAR else self.vlen
        return Linkage(raw) if raw in Linkage._value2member_map_ else raw

    # DECL_TAG
    @property
    def component_idx(self) -> int:
        """A DECL_TAG's member/parameter index, -1 for the type itself."""
        return signed32(self._extra(0))

    @property
    def members(self) -> tuple[Member, ...]:
        """A STRUCT's or UNION's members."""
        words, get, kf = self._words, self.btf.strings.get, self.kind_flag
        out = []
        for w, _ in self._elems():
            off = words[w + 2]
            if kf:
                out.append(Member(get(words[w]), words[w + 1], off & 0xFFFFFF, off >> 24))
            else:
                out.append(Member(get(words[w]), words[w + 1], off, 0))
        return tuple(out)

    @property
    def values(self) -> tuple[EnumValue, ...]:
        """An ENUM's or ENUM64's enumerators."""
        words, get, signed = self._words, self.btf.strings.get, self.kind_flag
        out = []
        is64 = self.kind == Kind.ENUM64
        for w, _ in self._elems():
            if is64:
                v = words[w + 1] | (words[w + 2] << 32)
                if signed:
                    v = signed64(v)
            else:
                v = signed32(words[w + 1]) if signed else words[w + 1]
            out.append(EnumValue(get(words[w]), v))
        return tuple(out)

    @property
    def params(self) -> tuple[Param, ...]:
        """A FUNC_PROTO's parameters."""
        words, get = self._words, self.btf.strings.get
        return tuple(Param(get(words[w]), words[w + 1]) for w, _ in self._elems())

    @property
    def vars(self) -> tuple[VarSecInfo, ...]:
        """A DATASEC's entries."""
        words = self._words
        return tuple(VarSecInfo(words[w], words[w + 1], words[w + 2]) for w, _ in self._elems())

    def refs(self) -> list[int]:
        """Every type ID this record refers to, in libbpf's iteration order."""
        return self.btf.record_refs(self._words, self._w)


class BTF:
    """A set of BTF types with their strings, optionally split on top of ``base``.

    Create an empty one with ``BTF()`` or ``BTF(base=vmlinux)``; read one with
    :func:`btfkit.load` or :func:`btfkit.parse`.
    """

    def __init__(
        self,
        base: BTF | None = None,
        *,
        byteorder: ByteOrder | None = None,
        info_format: InfoFormat | None = None,
    ):
        self.base: BTF | None = base
        #: The first ID this BTF owns (1 without a base).
        self.start_id = base.type_count if base is not None else 1
        self.strings: StringTable = StringTable(base=base.strings if base is not None else None)
        self.words: array[int] = array("I")
        self.offsets: array[int] = array("I")
        #: Byte order used when writing (the input's, for parsed BTF).
        host: ByteOrder = "little" if sys.byteorder == "little" else "big"
        self.byteorder: ByteOrder = byteorder or (base.byteorder if base is not None else host)
        self.info_format: InfoFormat = info_format or (base.info_format if base is not None else CLASSIC_INFO)
        #: Header length used when writing (preserved from the input).
        self.header_len = 24
        #: The kind-layout section, (info bytes, element bytes, flags) per kind, when present.
        self.layout: tuple[tuple[int, int, int], ...] | None = None
        #: Set when the ELF it came from carried a ``.BTF.base`` (distilled base) section.
        self.distilled_base: BTF | None = None
        self._pointer_size: int | None = None
        self._names: dict[str, list[int]] | None = None
        self._specs: dict[int, KindSpec] = KINDS
        self._own_strings = True
        self._kind_groups: tuple[array[int], int, list[list[int]], list[list[int]] | None] | None = None
        #: Whether the own strings are known to be unique and all in use, so that dedup
        #: keeps the string section as it is.  libbpf's rule: true for BTF built from
        #: scratch and after a dedup; parsed BTF has it only when its strings are trivial.
        self.strs_deduped = True
        #: Byte offset of the type section in the blob it was read from (for error messages).
        self.types_offset = 0
        self._references_checked = False

    # --- numbering ---------------------------------------------------------
    @property
    def type_count(self) -> int:
        """One past the highest valid type ID (libbpf's ``btf__type_cnt``)."""
        return self.start_id + len(self.offsets)

    @property
    def start_str_off(self) -> int:
        """The first string offset this BTF owns."""
        return self.strings.start

    def __len__(self) -> int:
        """The number of types this BTF owns (its base's are not counted)."""
        return len(self.offsets)

    @property
    def chain(self) -> list[BTF]:
        """This BTF and its bases, outermost base first."""
        out: list[BTF] = []
        b: BTF | None = self
        while b is not None:
            out.append(b)
            b = b.base
        return out[::-1]

    # --- kinds ------------------------------------------------------------------
    def spec(self, kind: int) -> KindSpec:
        """The :class:`KindSpec` for ``kind``, including kinds known only from the layout section."""
        try:
            return self._specs[kind]
        except KeyError:
            if self.base is not None:
                return self.base.spec(kind)
            raise BTFFormatError(f"unknown kind {kind}") from None

    def set_layout(self, layout: tuple[tuple[int, int, int], ...]) -> None:
        """Install a kind-layout section; it describes the record size of kinds unknown to btfkit."""
        self.layout = layout
        specs = dict(KINDS)
        for k, (info_sz, elem_sz, _flags) in enumerate(layout):
            if k and k not in KINDS:
                specs[k] = KindSpec(
                    kind=k,
                    label="UNKNOWN",
                    type_ref=False,
                    extra_words=info_sz // 4,
                    elem_words=elem_sz // 4,
                    has_vlen=True,
                )
        self._specs = specs

    def record_words(self, info: int) -> int:
        """Words taken by a record whose info word is ``info``."""
        fmt = self.info_format
        return self.spec(fmt.kind(info)).record_words(fmt.vlen(info))

    def record_refs(self, words: array[int], w: int) -> list[int]:
        """Type IDs in the record at word ``w``, in libbpf's field-iterator order."""
        return [words[p] for p in self.ref_positions(words, w)]

    def ref_positions(self, words: array[int], w: int) -> list[int]:
        """Word positions holding type IDs in the record at ``w``."""
        info = words[w + 1]
        spec = self.spec(self.info_format.kind(info))
        out = [w + 2] if spec.type_ref or spec.iter_ref else []
        base = w + 3
        out.extend(base + i for i in spec.extra_refs)
        if spec.elem_refs:
            base += spec.extra_words
            step = spec.elem_words
            for e in range(self.info_format.vlen(info)):
                out.extend(base + e * step + i for i in spec.elem_refs)
        return out

    def str_positions(self, words: array[int], w: int) -> list[int]:
        """Word positions holding string offsets in the record at ``w``, in iteration order."""
        info = words[w + 1]
        spec = self.spec(self.info_format.kind(info))
        out = [w]
        if spec.elem_strs:
            base = w + 3 + spec.extra_words
            step = spec.elem_words
            for e in range(self.info_format.vlen(info)):
                out.extend(base + e * step + i for i in spec.elem_strs)
        return out

    # --- access ------------------------------------------------------------------
    def locate(self, type_id: int) -> tuple[BTF, int]:
        """The BTF owning ``type_id`` and the record's first word there."""
        btf: BTF | None = self
        while btf is not None:
            if type_id >= btf.start_id:
                i = type_id - btf.start_id
                if i >= len(btf.offsets):
                    break
                return btf, btf.offsets[i]
            btf = btf.base
        raise TypeIDError(f"type ID {type_id} out of range (valid: 1..{self.type_count - 1})")

    def __getitem__(self, type_id: int) -> Type:
        """The type with ID ``type_id`` (own or base); raises :class:`TypeIDError`."""
        if type_id <= 0:
            raise TypeIDError(f"type ID {type_id} is void or negative, not a type record")
        owner, w = self.locate(type_id)
        return Type(owner, type_id, owner.words, w)

    def __contains__(self, type_id: object) -> bool:
        return isinstance(type_id, int) and 0 < type_id < self.type_count

    def types(self, *, include_base: bool = False) -> Iterator[Type]:
        """Own types in ID order; with ``include_base`` every type from ID 1 on."""
        if include_base and self.base is not None:
            yield from self.base.types(include_base=True)
        words = self.words
        for i, w in enumerate(self.offsets):
            yield Type(self, self.start_id + i, words, w)

    def __iter__(self) -> Iterator[Type]:
        return self.types()

    def kind_of(self, type_id: int) -> int:
        """The kind number of ``type_id`` (0 for void)."""
        if type_id == 0:
            return 0
        owner, w = self.locate(type_id)
        return owner.info_format.kind(owner.words[w + 1])

    def name_of(self, type_id: int) -> str:
        """The name of ``type_id`` (``""`` for void and anonymous types)."""
        if type_id == 0:
            return ""
        owner, w = self.locate(type_id)
        return owner.strings.get(owner.words[w])

    def str_at(self, offset: int) -> str:
        """The string at a (global) offset."""
        return self.strings.get(offset)

    # --- look-ups by name ------------------------------------------------------------------
    def _name_index(self) -> dict[str, list[int]]:
        if self._names is None:
            index: dict[str, list[int]] = {}
            get, words, start = self.strings.get, self.words, self.start_id
            for i, w in enumerate(self.offsets):
                off = words[w]
                if off:
                    index.setdefault(get(off), []).append(start + i)
            self._names = index
        return self._names

    def find_all(self, name: str, kind: int | None = None) -> list[Type]:
        """Every type (base first, in ID order) named ``name``, optionally of one kind."""
        found = self.base.find_all(name, kind) if self.base is not None else []
        for tid in self._name_index().get(name, ()):
            t = self[tid]
            if kind is None or t.kind == kind:
                found.append(t)
        return found

    def find(self, name: str, kind: int | None = None) -> Type:
        """The lowest-ID type named ``name`` (of ``kind`` if given); raises :class:`NotFoundError`."""
        found = self.find_all(name, kind)
        if not found:
            what = f"{Kind(kind).name} " if kind is not None and kind in KINDS else ""
            raise NotFoundError(f"no {what}type named {name!r}")
        return found[0]

    # --- semantics -----------------------------------------------------------------------
    @property
    def pointer_size(self) -> int:
        """Pointer size in bytes: set explicitly (ELF class), else guessed from ``long``, else 8."""
        if self._pointer_size is not None:
            return self._pointer_size
        if self.base is not None:
            return self.base.pointer_size
        for t in self.types():
            if t.kind == Kind.INT and t.size in (4, 8) and t.name in _LONG_NAMES:
                self._pointer_size = t.size
                return t.size
        return 8

    @pointer_size.setter
    def pointer_size(self, size: int) -> None:
        self._pointer_size = size

    def skip_modifiers(self, type_id: int, *, typedefs: bool = False) -> int:
        """Follow CONST/VOLATILE/RESTRICT/TYPE_TAG (and TYPEDEF if asked) to the first other type."""
        follow = MODIFIERS | {Kind.TYPEDEF} if typedefs else MODIFIERS
        for _ in range(_MAX_RESOLVE_DEPTH):
            if type_id == 0 or self.kind_of(type_id) not in follow:
                return type_id
            type_id = self[type_id].type_id
        raise BTFFormatError("modifier chain too long or cyclic", type_id=type_id)

    def resolve_size(self, type_id: int) -> int:
        """Byte size of ``type_id``, following typedefs, modifiers and arrays (libbpf semantics)."""
        orig, nelems = type_id, 1
        for _ in range(_MAX_RESOLVE_DEPTH):
            if type_id == 0:
                break
            t = self[type_id]
            k = t.kind
            if k in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                     Kind.DATASEC, Kind.FLOAT):  # fmt: skip
                return nelems * t.size
            if k == Kind.PTR:
                return nelems * self.pointer_size
            if k in MODIFIERS or k in (Kind.TYPEDEF, Kind.VAR, Kind.DECL_TAG):
                type_id = t.type_id
            elif k == Kind.ARRAY:
                arr = t.array
                nelems *= arr.nelems
                type_id = arr.type_id
            else:
                break
        raise BTFFormatError("type has no size", type_id=orig)

    def alignment(self, type_id: int) -> int:
        """Alignment of ``type_id`` in bytes (1 for packed structs), as libbpf's ``btf__align_of``."""
        for _ in range(_MAX_RESOLVE_DEPTH):
            t = self[type_id]
            k = t.kind
            if k in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT):
                return min(self.pointer_size, t.size)
            if k == Kind.PTR:
                return self.pointer_size
            if k in MODIFIERS or k == Kind.TYPEDEF:
                type_id = t.type_id
            elif k == Kind.ARRAY:
                type_id = t.array.type_id
            elif k in (Kind.STRUCT, Kind.UNION):
                best = 1
                for m in t.members:
                    a = self.alignment(m.type_id)
                    if not m.bitfield_size and m.bit_offset % (8 * a):
                        return 1
                    best = max(best, a)
                return 1 if t.size % best else best
            else:
                break
        raise BTFFormatError("type has no alignment", type_id=type_id)

    def c_name(self, type_id: int) -> str:
        """A short C-like spelling of ``type_id``: ``struct foo``, ``int *``, ``char[16]``."""
        if type_id == 0:
            return "void"
        parts: list[str] = []
        for _ in range(_MAX_RESOLVE_DEPTH):
            if type_id == 0:
                return " ".join(["void", *parts])
            t = self[type_id]
            k = Kind(t.kind) if t.kind in KINDS else Kind.UNKN
            if k == Kind.PTR:
                parts.insert(0, "*")
            elif k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
                parts.insert(0, k.name.lower())
            elif k == Kind.TYPE_TAG:
                parts.insert(0, f"__attribute__((btf_type_tag({t.name!r})))")
            elif k == Kind.ARRAY:
                inner = self.c_name(t.array.type_id)
                return " ".join([f"{inner}[{t.array.nelems}]", *parts])
            else:
                if k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
                    tag = "enum" if k == Kind.ENUM64 else k.name.lower()
                    head = f"{tag} {t.name or '(anon)'}"
                elif k == Kind.FWD:
                    head = f"{'union' if t.kind_flag else 'struct'} {t.name}"
                elif k == Kind.FUNC_PROTO:
                    head = f"{self.c_name(t.type_id)} (*)(...)"
                else:
                    head = t.name or f"({t.spec.label} anon)"
                return " ".join([head, *parts])
            type_id = t.type_id
        raise BTFFormatError("type chain too long or cyclic", type_id=type_id)

    # --- growth (used by the builder and dedup) ----------------------------------------
    def records_by_kind(self) -> list[list[int]]:
        """First words of the own records, grouped by kind number (index = kind).

        Whole-BTF passes (checks, dumps) work per kind with C-level gathering;
        the grouping is kept from parsing and redone only after the records change.
        """
        cached = self._kind_groups
        if cached is not None and cached[0] is self.words and cached[1] == len(self.offsets):
            return cached[2]
        fmt = self.info_format
        groups: list[list[int]] = [[] for _ in range(fmt.kind_mask + 1)]
        words = self.words
        for w in self.offsets:
            groups[fmt.kind(words[w + 1])].append(w)
        self.keep_records_by_kind(groups)
        return groups

    def ids_by_kind(self) -> list[list[int]]:
        """The type IDs of :meth:`records_by_kind`'s records, group for group."""
        groups = self.records_by_kind()
        ids = self._kind_groups[3] if self._kind_groups is not None else None
        if ids is None:
            id_of = dict(zip(self.offsets, range(self.start_id, self.type_count), strict=True))
            ids = [list(map(id_of.__getitem__, ws)) for ws in groups]
            self.keep_records_by_kind(groups, ids)
        return ids

    def keep_records_by_kind(
        self, groups: list[list[int]], ids: list[list[int]] | None = None
    ) -> None:
        """Remember ``groups`` (as :meth:`records_by_kind` returns them) for the current
        records, and their IDs (as :meth:`ids_by_kind` returns them) if known."""
        self._kind_groups = (self.words, len(self.offsets), groups, ids)

    # --- integrity -------------------------------------------------------------------
    def check_references(
        self, fields: FieldSource | None = None, *, seen: FieldSink | None = None, strings: bool = True
    ) -> None:
        """libbpf's open-time checks: every name and type ID points inside the BTF (or its
        base) and every FUNC points to a FUNC_PROTO.

        Runs once per BTF (bases first) and is skipped for records already checked;
        algorithms that index records by ID (dedup, C dump, copying) call it before
        they start.  Raises :class:`BTFFormatError` naming the type and offset.
        ``fields(kind, group)``, if given, stands in for :func:`field_values` on a
        group of :meth:`records_by_kind`: a caller that gathers the records' element
        words anyway (the raw dump) shares them instead of having them gathered twice.
        ``seen(kind, refs, strs)``, if given, is told each kind's columns before they
        are checked: a caller that reads them too (dedup's string pass, the C dump's
        scan for referenced enums) takes them from here; it may replace a column in
        the lists by an equal list.  ``strings=False`` leaves the string offsets out, for a caller that meets every
        one anyway (dedup); the BTF then does not count as checked.
        """
        if self.base is not None:
            self.base.check_references()
        if self._references_checked:
            return
        words = self.words
        str_end = self.strings.end
        type_count = self.type_count
        groups = self.records_by_kind()
        vmask = self.info_format.vlen_mask
        funcs = groups[Kind.FUNC] if len(groups) > Kind.FUNC else []
        targets: list[int] = []
        data = words.tobytes() if fields is None else b""  # one copy for every kind's elements
        for kind, group in enumerate(groups):
            if not group:
                continue
            if fields is None:
                refs, strs = field_values(words, group, self.spec(kind), vmask, data=data)
            else:
                refs, strs = fields(kind, group)
            if seen is not None:
                seen(kind, refs, strs)
            if kind == Kind.FUNC:
                targets = list(refs[0])  # the type words, also wanted by the FUNC_PROTO check below
                refs = [targets]
            if (strings and max(map(_max0, strs)) >= str_end) or max(map(_max0, refs), default=0) >= type_count:
                self._report_bad_field(group)
        unique = set(targets)
        if not (unique and unique <= set(self.ids_by_kind()[Kind.FUNC_PROTO])):
            # Some target is a base type or not a FUNC_PROTO record: look one by one.
            for w, target in zip(funcs, targets, strict=True):
                if target == 0 or self.kind_of(target) != Kind.FUNC_PROTO:
                    raise BTFFormatError(
                        f"FUNC refers to type {target}, which is not a FUNC_PROTO",
                        offset=self.types_offset + 4 * w,
                        type_id=self._owner(w),
                    )
        self._references_checked = strings

    def _report_bad_field(self, group: list[int]) -> None:
        """Raise for the first out-of-range name or type ID among ``group``'s records."""
        words = self.words
        for w in group:
            for p in self.str_positions(words, w):
                if words[p] >= self.strings.end:
                    raise BTFStringError(f"string offset {words[p]} out of range",
                                         offset=self.types_offset + 4 * p, type_id=self._owner(w))  # fmt: skip
            for p in self.ref_positions(words, w):
                if words[p] >= self.type_count:
                    raise BTFFormatError(
                        f"reference to type ID {words[p]} beyond the last ID {self.type_count - 1}",
                        offset=self.types_offset + 4 * p,
                        type_id=self._owner(w),
                    )

    def _owner(self, pos: int) -> int:
        """The ID of the own type whose record holds word ``pos``."""
        return self.start_id + bisect_right(self.offsets, pos) - 1

    def append_record(self, record: list[int] | array[int]) -> int:
        """Append one encoded record (host-order words) and return its new ID."""
        self.offsets.append(len(self.words))
        self.words.extend(record)
        self._names = None
        self._references_checked = False
        return self.start_id + len(self.offsets) - 1
