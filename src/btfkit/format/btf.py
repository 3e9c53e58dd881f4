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

import re
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Literal, NamedTuple

from ..errors import (
    AmbiguousError,
    BitfieldError,
    BTFFormatError,
    BTFStringError,
    KindError,
    MemberNotFoundError,
    NotFoundError,
    TypeIDError,
)
from ..format.kinds import (
    CLASSIC_INFO,
    ENUM64_HI,
    ENUM64_LO,
    ENUM_NAME,
    ENUM_VAL,
    EXTRA,
    INFO,
    KINDS,
    MEMBER_NAME,
    MEMBER_OFFSET,
    MEMBER_TYPE,
    MODIFIERS,
    NAME_OFF,
    PARAM_NAME,
    PARAM_TYPE,
    SIZE,
    TYPE,
    VARSEC_OFFSET,
    VARSEC_SIZE,
    VARSEC_TYPE,
    InfoFormat,
    IntEncoding,
    Kind,
    KindSpec,
    Linkage,
    column,
    field_values,
    signed32,
    signed64,
)
from ..format.layout import Layout
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

# What "struct x", "union x", "enum x" and "typedef x" may name.
_TAG_KINDS: dict[str, frozenset[int]] = {
    "struct": frozenset({Kind.STRUCT, Kind.FWD}),
    "union": frozenset({Kind.UNION, Kind.FWD}),
    "enum": frozenset({Kind.ENUM, Kind.ENUM64}),
    "typedef": frozenset({Kind.TYPEDEF}),
}
_C_INT_WORDS = frozenset({"signed", "unsigned", "char", "short", "int", "long"})


def _tag_fits(t: Type, tag: str) -> bool:
    """Whether a FWD is of the ``struct``/``union`` ``tag`` (other kinds always fit)."""
    return t._kind_number() != Kind.FWD or t.kind_flag == (tag == "union")


def _is_declaration(t: Type) -> bool:
    """A forward declaration (FWD, or an ENUM without values as libbpf adds them)."""
    k = t._kind_number()
    return k == Kind.FWD or (k in _ENUMS and t.vlen == 0)


def _int_key(name: str) -> tuple[object, ...] | None:
    """What a C integer type name means (``long unsigned int`` = ``unsigned long``), or None."""
    words = name.split()
    if not words or not set(words) <= _C_INT_WORDS:
        return None
    if "char" in words:  # char, signed char and unsigned char are three types
        return ("char", words.count("signed"), words.count("unsigned"))
    return ("int", words.count("short"), words.count("long"), "unsigned" in words)


class _Element:
    """Equality and hashing by value (``_key``) for the element views below."""

    __slots__ = ("_btf",)
    _btf: BTF | None

    def _key(self) -> tuple[object, ...]:
        raise NotImplementedError

    def _view(self, type_id: int) -> Type:
        """The type ``type_id`` of the BTF this element was read from."""
        if self._btf is None:
            raise KindError(f"a {type(self).__name__} made without its BTF has no type views; use type_id")
        return self._btf[type_id]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())


class Member(_Element):
    """A STRUCT/UNION member: ``name``, ``type`` (a :class:`Type`), where it lies and how wide.

    ``bit_offset`` counts from the start of the struct asked (through anonymous
    members when found by name through them); ``offset`` is in bytes, ``None``
    for a bitfield that does not start on a byte.  ``bitfield_size`` is 0 for a
    member that is not a bitfield; ``bit_size`` is the bits it spans either way.
    ``type_id`` is the raw ID of ``type``.
    """

    __slots__ = ("bit_offset", "bitfield_size", "name", "type_id")

    def __init__(self, name: str, type_id: int, bit_offset: int, bitfield_size: int, btf: BTF | None = None):
        self.name = name
        self.type_id = type_id
        self.bit_offset = bit_offset
        self.bitfield_size = bitfield_size
        self._btf = btf

    def _key(self) -> tuple[str, int, int, int]:
        return (self.name, self.type_id, self.bit_offset, self.bitfield_size)

    def __repr__(self) -> str:
        bits = f":{self.bitfield_size}" if self.bitfield_size else ""
        where = f"+{self.offset}" if self.offset is not None else f"+{self.bit_offset} bits"
        return f"<Member {self.name or '(anon)'}{bits} {where} type [{self.type_id}]>"

    @property
    def type(self) -> Type:
        """The member's type."""
        return self._view(self.type_id)

    @property
    def offset(self) -> int | None:
        """The byte offset, ``None`` for a bitfield not starting on a byte."""
        return None if self.bit_offset % 8 else self.bit_offset // 8

    @property
    def bit_size(self) -> int:
        """Bits the member spans: the bitfield's width, else its type's size in bits."""
        if self.bitfield_size:
            return self.bitfield_size
        return 8 * self._btf.sizeof(self.type_id) if self._btf is not None else 0

    @property
    def is_bitfield(self) -> bool:
        """Whether the member is a bitfield."""
        return self.bitfield_size != 0


class EnumValue(NamedTuple):
    """An enumerator of an ENUM or ENUM64 (``value`` signed when the enum is)."""

    name: str
    value: int


class Param(_Element):
    """A FUNC_PROTO parameter: ``name``, ``type`` (``None`` for the ``...`` of a variadic
    function, whose ``type_id`` is 0)."""

    __slots__ = ("name", "type_id")

    def __init__(self, name: str, type_id: int, btf: BTF | None = None):
        self.name = name
        self.type_id = type_id
        self._btf = btf

    def _key(self) -> tuple[str, int]:
        return (self.name, self.type_id)

    def __repr__(self) -> str:
        return f"<Param {self.name or '(anon)'} type [{self.type_id}]>"

    @property
    def type(self) -> Type | None:
        """The parameter's type (``None`` for ``...``)."""
        return self._view(self.type_id) if self.type_id else None


class VarSecInfo(_Element):
    """A DATASEC entry: the VAR (or FUNC) ``type`` at ``offset``, taking ``size`` bytes.

    ``name`` is the variable's name, ``type_id`` its raw ID.
    """

    __slots__ = ("offset", "size", "type_id")

    def __init__(self, type_id: int, offset: int, size: int, btf: BTF | None = None):
        self.type_id = type_id
        self.offset = offset
        self.size = size
        self._btf = btf

    def _key(self) -> tuple[int, int, int]:
        return (self.type_id, self.offset, self.size)

    def __repr__(self) -> str:
        return f"<VarSecInfo [{self.type_id}] +{self.offset} size={self.size}>"

    @property
    def type(self) -> Type:
        """The VAR (or FUNC) this entry places."""
        return self._view(self.type_id)

    @property
    def name(self) -> str:
        """The variable's name."""
        return self.type.name


class ArrayInfo(NamedTuple):
    """An ARRAY's element type, index type and element count."""

    type_id: int
    index_type_id: int
    nelems: int


Element = Member | EnumValue | Param | VarSecInfo

_SIZED_KINDS = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC, Kind.FLOAT})
_COMPOSITES = frozenset({Kind.STRUCT, Kind.UNION})
_ENUMS = frozenset({Kind.ENUM, Kind.ENUM64})
_ELEMENT_KINDS = frozenset({*_COMPOSITES, *_ENUMS, Kind.FUNC_PROTO, Kind.FUNC, Kind.DATASEC})
# One path step: ".name", "name" at the start, or "[index]".
_PATH_STEP = re.compile(r"\s*(?:(?:^|\.)\s*([A-Za-z_]\w*)|\[\s*(\d+)\s*\])\s*")


def _kinds_text(kinds: Iterable[int]) -> str:
    return "/".join(sorted(Kind(k).name for k in kinds))


class Type:
    """A view of one type record: cheap to make, reads the BTF's words when asked.

    Compares equal to another view of the same (BTF, ID).  Accessors that do not
    apply to the kind (``.members`` of an INT) raise :class:`~btfkit.KindError`.
    ``t[name]`` finds a member (enumerator, parameter, DATASEC variable) by
    name, ``t[i]`` the i-th, and ``for e in t`` walks them.
    """

    __slots__ = ("_w", "_words", "btf", "id")

    def __init__(self, btf: BTF, type_id: int, words: array[int], w: int):
        self.btf = btf  # the BTF that owns the record (a base, for base IDs)
        self.id = type_id
        self._words = words
        self._w = w

    def __repr__(self) -> str:
        k = self._kind_number()
        parts = [self.spec.label]
        if self.name:
            parts.append(repr(self.name))
        parts.append(f"[{self.id}]")
        if k in _SIZED_KINDS:
            parts.append(f"size={self.size}")
        if k == Kind.ARRAY:
            arr = self.array
            parts.append(f"{arr.nelems} x [{arr.type_id}]")
        elif self.spec.type_ref:
            parts.append(f"-> [{self.type_id}]")
        if k in _COMPOSITES:
            parts.append(f"members={self.vlen}")
        elif k in _ENUMS:
            parts.append(f"values={self.vlen}")
        elif k == Kind.FUNC_PROTO:
            parts.append(f"params={self.vlen}")
        elif k == Kind.DATASEC:
            parts.append(f"vars={self.vlen}")
        return f"<{' '.join(parts)}>"

    def __str__(self) -> str:
        """The C text bpftool's C dump writes for this type (see :func:`btfkit.dump_c` and
        :func:`btfkit.outputs.c.c_text`); the ``repr`` for a DATASEC or DECL_TAG."""
        # outputs/ sits above format/ (imports point down): the one C renderer, which
        # writes vmlinux.h, is reached through a late import.
        from ..outputs.c import c_text  # noqa: PLC0415

        if self._kind_number() in (Kind.DATASEC, Kind.DECL_TAG):
            return repr(self)  # no C text: a section or an annotation is not a C type
        return c_text(self.btf, self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and other.btf is self.btf and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self.btf), self.id))

    def _kind_number(self) -> int:
        return self.btf.info_format.kind(self._words[self._w + INFO])

    def _require(self, kinds: Iterable[int], what: str) -> int:
        """The kind, checked to be one of ``kinds`` (else :class:`KindError` naming it)."""
        k = self._kind_number()
        if k not in kinds:
            raise KindError(f"{self.describe()} has no {what} (only {_kinds_text(kinds)} do)")
        return k

    def describe(self) -> str:
        """A short description for messages: ``[42] STRUCT 'task_struct'``."""
        name = f" {self.name!r}" if self.name else " (anon)"
        return f"[{self.id}] {self.spec.label}{name}"

    # --- raw record -----------------------------------------------------------------
    @property
    def name_off(self) -> int:
        """The raw string offset of the name."""
        return self._words[self._w]

    @property
    def info(self) -> int:
        """The raw ``info`` word."""
        return self._words[self._w + INFO]

    @property
    def kind(self) -> int:
        """The kind (a :class:`Kind` for known kinds, a plain number otherwise)."""
        k = self._kind_number()
        return Kind(k) if k in KINDS else k

    @property
    def spec(self) -> KindSpec:
        """The per-kind facts for this type's kind."""
        return self.btf.spec(self._kind_number())

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
        """The byte size of an INT, STRUCT, UNION, ENUM, ENUM64, DATASEC or FLOAT
        (for any type's C size, see :meth:`BTF.sizeof`)."""
        self._require(_SIZED_KINDS, "size word (BTF.sizeof gives any type's C size)")
        return self._words[self._w + SIZE]

    @property
    def type_id(self) -> int:
        """The referenced type ID (PTR, TYPEDEF, modifiers, FUNC, VAR, tags; a FUNC_PROTO's return type)."""
        if not self.spec.type_ref:
            raise KindError(f"{self.describe()} refers to no type through its type word")
        return self._words[self._w + TYPE]

    def _extra(self, i: int) -> int:
        return self._words[self._w + EXTRA + i]

    def _elems(self) -> Iterator[tuple[int, int]]:
        """(word offset, index) of each element."""
        spec = self.spec
        start = self._w + EXTRA + spec.extra_words
        for i in range(self.vlen if spec.has_vlen else 0):
            yield start + i * spec.elem_words, i

    # --- references -------------------------------------------------------------------
    @property
    def target(self) -> Type | None:
        """The type this one refers to: a PTR's, TYPEDEF's, modifier's, VAR's, FUNC's
        (its FUNC_PROTO) or tag's type, an ARRAY's element type, a FUNC_PROTO's return
        type; ``None`` for void."""
        tid = self.array.type_id if self._kind_number() == Kind.ARRAY else self.type_id
        return self.btf[tid] if tid else None

    @property
    def resolved(self) -> Type | None:
        """The type past any typedefs and modifiers (CONST, VOLATILE, RESTRICT, TYPE_TAG);
        ``None`` for void."""
        tid = self.btf.skip_modifiers(self.id, typedefs=True)
        return self.btf[tid] if tid else None

    # INT
    @property
    def encoding(self) -> IntEncoding:
        """An INT's encoding bits."""
        self._require((Kind.INT,), "encoding")
        return IntEncoding((self._extra(0) >> 24) & 0x0F)

    @property
    def bit_offset(self) -> int:
        """An INT's bit offset."""
        self._require((Kind.INT,), "INT bit offset")
        return (self._extra(0) >> 16) & 0xFF

    @property
    def bits(self) -> int:
        """An INT's number of bits."""
        self._require((Kind.INT,), "INT bits")
        return self._extra(0) & 0xFF

    # ARRAY
    @property
    def array(self) -> ArrayInfo:
        """An ARRAY's element type, index type and count."""
        self._require((Kind.ARRAY,), "array info")
        return ArrayInfo(self._extra(0), self._extra(1), self._extra(2))

    # VAR, FUNC
    @property
    def linkage(self) -> Linkage | int:
        """Linkage of a VAR or FUNC."""
        k = self._require((Kind.VAR, Kind.FUNC), "linkage")
        raw = self._extra(0) if k == Kind.VAR else self.vlen
        return Linkage(raw) if raw in Linkage._value2member_map_ else raw

    # DECL_TAG
    @property
    def component_idx(self) -> int:
        """A DECL_TAG's member/parameter index, -1 for the type itself."""
        self._require((Kind.DECL_TAG,), "component index")
        return signed32(self._extra(0))

    # --- elements ---------------------------------------------------------------------
    @property
    def members(self) -> tuple[Member, ...]:
        """A STRUCT's or UNION's members, in order."""
        self._require(_COMPOSITES, "members")
        words, get, kf, btf = self._words, self.btf.strings.get, self.kind_flag, self.btf
        out = []
        for w, _ in self._elems():
            off = words[w + MEMBER_OFFSET]
            if kf:
                out.append(Member(get(words[w + MEMBER_NAME]), words[w + MEMBER_TYPE], off & 0xFFFFFF, off >> 24, btf))
            else:
                out.append(Member(get(words[w + MEMBER_NAME]), words[w + MEMBER_TYPE], off, 0, btf))
        return tuple(out)

    @property
    def values(self) -> tuple[EnumValue, ...]:
        """An ENUM's or ENUM64's enumerators."""
        k = self._require(_ENUMS, "enumerators")
        words, get, signed = self._words, self.btf.strings.get, self.kind_flag
        out = []
        is64 = k == Kind.ENUM64
        for w, _ in self._elems():
            if is64:
                v = words[w + ENUM64_LO] | (words[w + ENUM64_HI] << 32)
                if signed:
                    v = signed64(v)
            else:
                v = signed32(words[w + ENUM_VAL]) if signed else words[w + ENUM_VAL]
            out.append(EnumValue(get(words[w + ENUM_NAME]), v))
        return tuple(out)

    @property
    def params(self) -> tuple[Param, ...]:
        """A FUNC_PROTO's parameters (a FUNC's are its prototype's)."""
        if self._require((Kind.FUNC_PROTO, Kind.FUNC), "parameters") == Kind.FUNC:
            return self.btf[self.type_id].params
        words, get, btf = self._words, self.btf.strings.get, self.btf
        return tuple(Param(get(words[w + PARAM_NAME]), words[w + PARAM_TYPE], btf) for w, _ in self._elems())

    @property
    def vars(self) -> tuple[VarSecInfo, ...]:
        """A DATASEC's entries."""
        self._require((Kind.DATASEC,), "variables")
        words, btf = self._words, self.btf
        return tuple(
            VarSecInfo(words[w + VARSEC_TYPE], words[w + VARSEC_OFFSET], words[w + VARSEC_SIZE], btf)
            for w, _ in self._elems()
        )

    def elements(self) -> tuple[Element, ...]:
        """The elements, whatever the kind: members, enumerators, parameters or DATASEC entries."""
        k = self._require(_ELEMENT_KINDS, "elements")
        if k in _COMPOSITES:
            return self.members
        if k in _ENUMS:
            return self.values
        if k == Kind.DATASEC:
            return self.vars
        return self.params

    def __iter__(self) -> Iterator[Element]:
        return iter(self.elements())

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except MemberNotFoundError:
            return False
        return True

    def __getitem__(self, key: str | int) -> Element:
        """The element named ``key`` (a struct's member also through anonymous members,
        its offset then counted from this struct), or the ``key``-th element."""
        if isinstance(key, int):
            return self.elements()[key]
        if self._kind_number() in _COMPOSITES:
            found = self._find_member(key, 0)
            if found is None:
                raise MemberNotFoundError(f"{self.describe()} has no member {key!r}")
            return found
        for e in self.elements():
            if e.name == key:
                return e
        raise MemberNotFoundError(f"{self.describe()} has no element named {key!r}")

    def _find_member(self, name: str, base_bits: int) -> Member | None:
        """Member ``name`` of this struct/union, looking into anonymous members as C does."""
        members = self.members
        for m in members:
            if m.name == name:
                return Member(m.name, m.type_id, base_bits + m.bit_offset, m.bitfield_size, self.btf)
        for m in members:
            if not m.name and not m.bitfield_size:
                inner = m.type.resolved
                if inner is not None and inner._kind_number() in _COMPOSITES:
                    found = inner._find_member(name, base_bits + m.bit_offset)
                    if found is not None:
                        return found
        return None

    def refs(self) -> list[int]:
        """Every type ID this record refers to, in libbpf's iteration order."""
        return self.btf.record_refs(self._words, self._w)

    # --- layout -----------------------------------------------------------------------
    def bit_offsetof(self, path: str) -> int:
        """Offset in bits of the member at ``path`` (``"se.load.weight"``, ``"a.b[3].c"``):
        through anonymous members, typedefs, modifiers and array indexes."""
        return self._walk(path)[0]

    def offsetof(self, path: str) -> int:
        """Offset in bytes of the member at ``path``, as C's ``offsetof``; a bitfield raises
        :class:`~btfkit.BitfieldError` (use :meth:`bit_offsetof`)."""
        bits, last = self._walk(path)
        if last is not None and last.bitfield_size:
            raise BitfieldError(f"{last.name!r} in {self.describe()} is a bitfield: use bit_offsetof()")
        return bits // 8

    def _walk(self, path: str) -> tuple[int, Member | None]:
        btf = self.btf
        cur: Type | None = self
        bits, pos, last = 0, 0, None
        while pos < len(path):
            step = _PATH_STEP.match(path, pos)
            if step is None or step.end() == pos:
                raise NotFoundError(f"cannot read member path {path!r} at {path[pos:]!r}")
            pos = step.end()
            here = cur.resolved if cur is not None else None
            if here is None:
                raise KindError(f"void has no members (path {path!r})")
            name, index = step.group(1), step.group(2)
            if name is not None:
                here._require(_COMPOSITES, f"member {name!r}")
                m = here._find_member(name, 0)
                if m is None:
                    raise MemberNotFoundError(f"{here.describe()} has no member {name!r} (path {path!r})")
                bits += m.bit_offset
                cur, last = m.type, m
            else:
                here._require((Kind.ARRAY,), f"index [{index}]")
                arr = here.array
                bits += int(index) * 8 * btf.sizeof(arr.type_id)
                cur, last = btf[arr.type_id] if arr.type_id else None, None
        return bits, last


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
        #: Moves on each time types are added or replaced; every cache below is valid
        #: for the generation it was made in only.
        self.generation = 0
        self._names: tuple[int, dict[str, list[int]]] | None = None
        self._specs: dict[int, KindSpec] = KINDS
        self._kind_groups: tuple[int, list[list[int]], list[list[int]] | None] | None = None
        self._layout: tuple[int, Layout] | None = None
        #: Whether the own strings are known to be unique and all in use, so that dedup
        #: keeps the string section as it is.  libbpf's rule: true for BTF built from
        #: scratch and after a dedup; parsed BTF has it only when its strings are trivial.
        self.strs_deduped = True
        #: Byte offset of the type section in the blob it was read from (for error messages).
        self.types_offset = 0
        self._checked_generation = -1  # the generation check_references last passed

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
        info = words[w + INFO]
        spec = self.spec(self.info_format.kind(info))
        out = [w + TYPE] if spec.type_ref or spec.iter_ref else []
        base = w + EXTRA
        out.extend(base + i for i in spec.extra_refs)
        if spec.elem_refs:
            base += spec.extra_words
            step = spec.elem_words
            for e in range(self.info_format.vlen(info)):
                out.extend(base + e * step + i for i in spec.elem_refs)
        return out

    def str_positions(self, words: array[int], w: int) -> list[int]:
        """Word positions holding string offsets in the record at ``w``, in iteration order."""
        info = words[w + INFO]
        spec = self.spec(self.info_format.kind(info))
        out = [w + NAME_OFF]
        if spec.elem_strs:
            base = w + EXTRA + spec.extra_words
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
        return owner.info_format.kind(owner.words[w + INFO])

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
        cached = self._names
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        index: dict[str, list[int]] = {}
        get, words, start = self.strings.get, self.words, self.start_id
        for i, w in enumerate(self.offsets):
            off = words[w]
            if off:
                index.setdefault(get(off), []).append(start + i)
        self._names = (self.generation, index)
        return index

    def _named(self, name: str, kinds: frozenset[int] | None) -> list[Type]:
        """Every type named ``name`` (of ``kinds``), base first, in ID order.

        Unlike :meth:`find_all` this builds no name index when there is none:
        one look-up scans the name words for the string's offsets instead (a
        few milliseconds on vmlinux, against half a second for the index).
        """
        found: list[Type] = []
        offsets: frozenset[int] | None = None
        for btf in self.chain:
            cached = btf._names
            if cached is not None and cached[0] == btf.generation:
                ids = cached[1].get(name, [])
            else:
                if offsets is None:
                    offsets = frozenset(self.strings.offsets_of(name))
                    if not offsets:
                        return []
                words, hits = btf.words, []
                for k, group in enumerate(btf.records_by_kind()):
                    if group and (kinds is None or k in kinds):
                        hits += [w for w, off in zip(group, column(words, group, 0), strict=True) if off in offsets]
                ids = sorted(map(btf._owner, hits))
            found += [btf[i] for i in ids]
        return found if kinds is None else [t for t in found if t._kind_number() in kinds]

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

    def _layout_rules(self) -> Layout:
        """The size and alignment rules over this BTF's records (kept for one generation)."""
        cached = self._layout
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        rules = Layout.of(self)
        self._layout = (self.generation, rules)
        return rules

    def _id_of(self, x: Type | int | str) -> int:
        """The type ID of ``x``: a :class:`Type` of this BTF (or a base), an ID, or a C name."""
        if isinstance(x, Type):
            if x.btf not in self.chain:
                raise TypeIDError(f"{x.describe()} belongs to another BTF")
            return x.id
        if isinstance(x, str):
            return self.type(x).id
        if x != 0:
            self.locate(x)  # raises TypeIDError when out of range
        return x

    def resolve_size(self, type_id: int) -> int:
        """Byte size of ``type_id`` as libbpf's ``btf__resolve_size`` gives it (through typedefs,
        modifiers, VARs and arrays); raises :class:`BTFFormatError` when it has none."""
        size = self._layout_rules().resolve_size(self._id_of(type_id))
        if size < 0:
            raise BTFFormatError("type has no size", type_id=type_id)
        return size

    def sizeof(self, x: Type | int | str) -> int:
        """C's ``sizeof`` of ``x`` (a :class:`Type`, an ID or a C name such as ``"struct file"``).

        Typedefs and modifiers take their type's size, arrays their element's
        times the count, pointers :attr:`pointer_size`.  Void, functions and
        forward declarations raise :class:`~btfkit.KindError`.
        """
        tid = self._id_of(x)
        end = self.skip_modifiers(tid, typedefs=True)  # a cyclic chain raises BTFFormatError here
        size = self._layout_rules().resolve_size(tid)
        if size < 0:
            what = self[end].describe() if end else "void"
            raise KindError(f"{what} has no size" + (f" (asked of [{tid}])" if tid != end else ""))
        return size

    def alignof(self, x: Type | int | str) -> int:
        """C's ``_Alignof`` of ``x`` as gcc gives it for x86-64 on the header the C dump writes.

        Scalars align to their size (a 16-byte INT, ``__int128``, to 16; note
        that libbpf's ``btf__align_of`` caps a scalar's alignment at 8, the
        pointer size), a struct the C dump writes ``__attribute__((packed))`` to
        1, other structs and unions to their most aligned member; BTF does not
        record ``aligned`` attributes, so neither does this.  Types without an
        alignment (void, functions, forward declarations) raise
        :class:`~btfkit.KindError`.
        """
        tid = self._id_of(x)
        align = self._layout_rules().c_align(tid)
        if not align:
            raise KindError(f"{self[tid].describe() if tid else 'void'} has no alignment")
        return align

    # --- look-up by C name ---------------------------------------------------------------
    def type(self, spec: str | int) -> Type:
        """The type ``spec`` names: ``"struct x"``, ``"union x"``, ``"enum x"``, ``"typedef x"``,
        a base type (``"int"``, ``"unsigned long"``), any bare name that only one type
        has, or a type ID.

        A definition wins over a forward declaration of the same name.  Raises
        :class:`~btfkit.NotFoundError` (with close matches) when nothing matches and
        :class:`~btfkit.AmbiguousError` (listing the candidates) when several do.
        """
        if isinstance(spec, int):
            return self[spec]
        text = " ".join(spec.split())
        tag, _, rest = text.partition(" ")
        kinds = _TAG_KINDS.get(tag) if rest else None
        if kinds is not None:
            name = rest
            found = [t for t in self._named(name, kinds) if _tag_fits(t, tag)]
        else:
            name = text
            found = self._named(name, None) or self._base_types(name)
        if len(found) > 1:
            found = [t for t in found if not _is_declaration(t)] or found
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(t.describe() for t in found)
            raise AmbiguousError(f"{text!r} matches {len(found)} types: {listed}", tuple(found))
        raise NotFoundError(f"no type {text!r}{self._close_matches(name, kinds, tag)}")

    def _base_types(self, name: str) -> list[Type]:
        """INT types spelled differently (``unsigned long`` for ``long unsigned int``)."""
        key = _int_key(name)
        if key is None:
            return []
        return [t for btf in self.chain for tid in btf.ids_by_kind()[Kind.INT]
                if _int_key((t := btf[tid]).name) == key]  # fmt: skip

    def _close_matches(self, name: str, kinds: frozenset[int] | None, tag: str) -> str:
        import difflib  # noqa: PLC0415 (only on this error path: start-up time counts)

        names = [n for btf in self.chain for n, ids in btf._name_index().items()
                 if kinds is None or any(btf.kind_of(i) in kinds for i in ids)]  # fmt: skip
        close = difflib.get_close_matches(name, names, n=5)
        if not close:
            return ""
        prefix = f"{tag} " if kinds is not None else ""
        return "; close matches: " + ", ".join(prefix + c for c in close)

    def __repr__(self) -> str:
        count = len(self.offsets)
        ids = f"[{self.start_id}..{self.type_count - 1}]" if count else "[none]"
        on = f" on {self.base!r}" if self.base is not None else ""
        return f"<BTF {count} types {ids}, {len(self.strings)} bytes of strings{on}>"

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
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        fmt = self.info_format
        groups: list[list[int]] = [[] for _ in range(fmt.kind_mask + 1)]
        words = self.words
        for w in self.offsets:
            groups[fmt.kind(words[w + INFO])].append(w)
        self.keep_records_by_kind(groups)
        return groups

    def ids_by_kind(self) -> list[list[int]]:
        """The type IDs of :meth:`records_by_kind`'s records, group for group."""
        groups = self.records_by_kind()
        ids = self._kind_groups[2] if self._kind_groups is not None else None
        if ids is None:
            id_of = dict(zip(self.offsets, range(self.start_id, self.type_count), strict=True))
            ids = [list(map(id_of.__getitem__, ws)) for ws in groups]
            self.keep_records_by_kind(groups, ids)
        return ids

    def field_positions(self) -> tuple[list[int], list[int]]:
        """Word positions of every type-ID field and of every string field of the own records.

        Both lists are ascending, which is the order libbpf's field iterators meet the fields
        (record by record; within a record the header word first, then element by element).
        Built per kind with comprehensions rather than record by record.
        """
        words = self.words
        vmask = self.info_format.vlen_mask
        ids: list[int] = []
        strs: list[int] = []
        for kind, group in enumerate(self.records_by_kind()):
            if not group:
                continue
            spec = self.spec(kind)
            strs += group  # NAME_OFF is the first word
            if spec.type_ref or spec.iter_ref:
                ids += [w + TYPE for w in group]
            for i in spec.extra_refs:
                ids += [w + EXTRA + i for w in group]
            if spec.has_vlen and (spec.elem_refs or spec.elem_strs):
                step = spec.elem_words
                ends = [(w, w + step * (words[w + INFO] & vmask)) for w in group]
                first = EXTRA + spec.extra_words
                for i in spec.elem_refs:
                    ids += [p for w, e in ends for p in range(w + first + i, e + first + i, step)]
                for i in spec.elem_strs:
                    strs += [p for w, e in ends for p in range(w + first + i, e + first + i, step)]
        ids.sort()
        strs.sort()
        return ids, strs

    def keep_records_by_kind(
        self, groups: list[list[int]], ids: list[list[int]] | None = None
    ) -> None:
        """Remember ``groups`` (as :meth:`records_by_kind` returns them) for the current
        records, and their IDs (as :meth:`ids_by_kind` returns them) if known."""
        self._kind_groups = (self.generation, groups, ids)

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
        if self._checked_generation == self.generation:
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
        if strings:
            self._checked_generation = self.generation

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

    # --- mutation: every change of the records goes through here ----------------------
    def append_record(self, record: list[int] | array[int]) -> int:
        """Append one encoded record (host-order words) and return its new ID."""
        self.offsets.append(len(self.words))
        self.words.extend(record)
        self.generation += 1
        return self.start_id + len(self.offsets) - 1

    def append_records(self, words: array[int], offsets: Iterable[int]) -> None:
        """Append encoded records: ``words`` holds them all, ``offsets`` the first word
        of each within ``words``."""
        shift = len(self.words)
        self.words.extend(words)
        self.offsets.extend(o + shift for o in offsets)
        self.generation += 1

    def append_element(self, w: int, element: Iterable[int], *, kind_flag: bool = False) -> None:
        """Add one element (member, enumerator, parameter, DATASEC entry) to the last
        record, which starts at word ``w``; ``kind_flag`` sets the record's kind_flag."""
        if not self.offsets or w != self.offsets[-1]:
            raise BTFFormatError("elements can only be added to the last type")
        words = self.words
        info = words[w + INFO] + 1
        if kind_flag:
            info |= 1 << 31
        words[w + INFO] = info
        words.extend(element)
        self.generation += 1

    def replace_types(
        self, words: array[int], offsets: array[int], strings: StringTable, *, checked: bool = False
    ) -> None:
        """Replace all own records and strings at once (dedup's result); ``checked``
        says every name and ID in them is known to be in range."""
        self.words = words
        self.offsets = offsets
        self.strings = strings
        self.generation += 1
        if checked:
            self._checked_generation = self.generation
