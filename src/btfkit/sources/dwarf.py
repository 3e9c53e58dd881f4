"""DWARF to BTF: the type encoding ``pahole -J`` (1.24) performs, before deduplication.

The DWARF of an object (versions 4 and 5, from GCC or clang; the debug
sections of ``ET_REL`` objects relocated here, the DIEs read by
:mod:`btfkit.dwarfread`, pyelftools only parsing the ELF headers) is turned
into BTF compilation unit by compilation unit, in exactly the order pahole
1.24 emits it, so that deduplicating the result gives pahole's bytes:

* Every type DIE of a CU gets a small ID in the order pahole's DWARF loader
  tables it: DIE order, except that types nested in a struct or a function
  body are tabled before the struct or function that holds them.  The CU's
  types are emitted in that order, one BTF type each, at IDs following the
  previous CU's (``type_id_off``).  Multi-dimensional arrays become one
  ARRAY of all the elements; floats are INTs (pahole's default without
  ``--btf_gen_floats``, which ``gen_floats`` mirrors); enums wider than 32 bits are ENUM64, signed when
  their underlying type is; struct declarations are FWDs.
* Array index type: the CU's first base type named ``int``; when the first
  CUs have none, an ``unsigned int`` named ``__ARRAY_SIZE_TYPE__`` is added
  after the CU's types (and serves every later CU too).
* Then the CU's functions, in DIE order: each function that is not a
  declaration, whose parameters all have names, and whose name is an
  ``STT_FUNC`` symbol of the object not yet emitted (or, in an object
  without function symbols, that is external), becomes a FUNC_PROTO
  followed by a FUNC (linkage ``static``, as pahole writes them all).  There
  is no ftrace filter in 1.24: static and ``notrace`` functions count too.
  An out-of-line instance takes its name, return type and parameters from
  its abstract origin.
* Then the CU's variables that live in ``.data..percpu`` (their DWARF address
  inside the section, a relocatable object's sections laid out as libdwfl lays
  them out, and a sized ``STT_OBJECT`` symbol there, which names the VAR) become
  VARs, but for those of zero size and, at address 0, those whose DIE is not
  named like the symbol; one DATASEC ``.data..percpu`` listing them by offset,
  as long as up to the end of the last, closes the BTF.

The CUs of a large object (a vmlinux) are encoded on several processes, each taking a
range of ``.debug_info``: a CU's records are made with stand-ins for what depends on the
CUs before it (its ``type_id_off``, the array index type, string offsets, whether a
function was emitted already), which :class:`_Merger` fills in as it appends the CUs in
order, so the result is the same as encoding them one after the other.

clang's annotations (``DW_TAG_LLVM_annotation``) become tags: a pointer's
``btf_type_tag`` annotations are tabled just before it, as a chain from the pointer to the
pointee; ``btf_decl_tag`` annotations of structs, unions, typedefs and their members
follow the CU's types, those of a function and its parameters its FUNC, those
of a per-CPU variable its VAR.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import multiprocessing
import re
import signal
import struct
import time
import zlib
from array import array
from collections.abc import Generator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import zstandard
from elftools.common.exceptions import ELFError as _PyELFError
from elftools.common.exceptions import ELFParseError as _PyELFParseError
from elftools.elf.elffile import ELFFile

from ..cpus import available_cpus
from ..errors import BTFError, BuildError, ELFError
from ..format.btf import BTF
from ..format.build import Builder
from ..format.elf import section_table
from ..format.kinds import IntEncoding, Kind, Linkage, make_info
from ..sources.dwarfread import (
    AT_ABSTRACT_ORIGIN,
    AT_BIT_OFFSET,
    AT_BIT_SIZE,
    AT_BYTE_SIZE,
    AT_CONST_VALUE,
    AT_COUNT,
    AT_DATA_BIT_OFFSET,
    AT_DATA_MEMBER_LOCATION,
    AT_DECLARATION,
    AT_ENCODING,
    AT_EXTERNAL,
    AT_LOCATION,
    AT_NAME,
    AT_SPECIFICATION,
    AT_TYPE,
    AT_UPPER_BOUND,
    Die,
    Unit,
    iter_units,
    unit_offsets,
)  # fmt: skip

__all__ = ["PERCPU_SECTION", "DwarfStats", "dwarf_to_btf"]

PERCPU_SECTION = ".data..percpu"

_U64 = (1 << 64) - 1
_KSYM_NAME_LEN = 128
_NAME_OK = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*\Z")

# DW_TAG_* codes.
_ARRAY, _CLASS, _ENUMERATION, _FORMAL_PARAMETER, _MEMBER = 0x01, 0x02, 0x04, 0x05, 0x0D
_POINTER, _STRUCTURE, _SUBROUTINE, _TYPEDEF, _UNION, _UNSPECIFIED_PARAMETERS = 0x0F, 0x13, 0x15, 0x16, 0x17, 0x18
_INHERITANCE, _SUBRANGE, _BASE, _CONST = 0x1C, 0x21, 0x24, 0x26
_ENUMERATOR, _SUBPROGRAM, _VARIABLE, _VOLATILE, _RESTRICT = 0x28, 0x2E, 0x34, 0x35, 0x37
_ANNOTATION = 0x6000  # DW_TAG_LLVM_annotation: clang's btf_type_tag / btf_decl_tag
# The tags pahole tables as types (its tag__is_tag_type), C subset.
_TYPE_TAGS = frozenset({_BASE, _POINTER, _CONST, _VOLATILE, _RESTRICT, _TYPEDEF, _STRUCTURE, _UNION,
                        _CLASS, _ENUMERATION, _ARRAY, _SUBROUTINE})  # fmt: skip
_COMPOSITES = frozenset({_STRUCTURE, _UNION, _CLASS})
_MEMBER_TAGS = frozenset({_MEMBER, _INHERITANCE})
_PARAM_TAGS = frozenset({_FORMAL_PARAMETER, _UNSPECIFIED_PARAMETERS, _ANNOTATION})
_TYPE_TAG_INFO, _DECL_TAG_INFO = make_info(Kind.TYPE_TAG), make_info(Kind.DECL_TAG)
_DECL_TAGGED = frozenset({_STRUCTURE, _UNION, _TYPEDEF})
_PTR_INFO, _TYPEDEF_INFO, _CONST_INFO = make_info(Kind.PTR), make_info(Kind.TYPEDEF), make_info(Kind.CONST)
_VOLATILE_INFO, _RESTRICT_INFO = make_info(Kind.VOLATILE), make_info(Kind.RESTRICT)
_ARRAY_INFO, _INT_INFO = make_info(Kind.ARRAY), make_info(Kind.INT)
_SIGNED_ATE = (0x05, 0x06)  # DW_ATE_signed, DW_ATE_signed_char
_ATE_BOOLEAN, _ATE_FLOAT = 0x02, 0x04
_COMPLEX_ATE = (0x03, 0x09)  # DW_ATE_complex_float, DW_ATE_imaginary_float
_FLOAT_INFO, _VAR_INFO = make_info(Kind.FLOAT), make_info(Kind.VAR)
_DW_OP_ADDR, _DW_OP_ADDRX, _DW_OP_GNU_ADDR_INDEX = 0x03, 0xA1, 0xFB
_DW_OP_PLUS_UCONST = 0x23


@dataclass
class DwarfStats:
    """Where the time went: reading DWARF (relocating, parsing DIEs) and building BTF."""

    read_seconds: float = 0.0
    build_seconds: float = 0.0
    cus: int = 0
    dies: int = 0


@dataclass
class _Symbols:
    """What pahole takes from the ELF symbol table."""

    functions: set[str] = field(default_factory=set)
    percpu: dict[int, tuple[str, int]] = field(default_factory=dict)  # addr -> (name, size)
    percpu_size: int | None = None  # None: no .data..percpu section
    percpu_addr: int = 0  # where the DWARF places .data..percpu (see _offline_layout)


@dataclass
class _CU:
    """One compilation unit as pahole's loader tables it."""

    unit: Unit
    types: list[Die] = field(default_factory=list)  # small ID i+1
    ids: dict[int, int] = field(default_factory=dict)  # DIE offset -> small ID
    functions: list[Die] = field(default_factory=list)
    variables: list[Die] = field(default_factory=list)
    by_offset: dict[int, Die] = field(default_factory=dict)
    type_tags: dict[int, list[Die]] = field(default_factory=dict)  # pointer offset -> its tags
    tagged: dict[int, Die] = field(default_factory=dict)  # first tag's offset -> its pointer


def _name(die: Die) -> str | None:
    v = die.attrs.get(AT_NAME)
    return v if isinstance(v, str) else None


def _annotation(die: Die) -> str:
    v = die.attrs.get(AT_CONST_VALUE)
    if not isinstance(v, str) or not v:
        raise BuildError(f"annotation at DIE {die.offset:#x} has no string value")
    return v


def _udata(die: Die, attr: int) -> int:
    """An attribute as libdw's dwarf_formudata reads it: unsigned 64-bit, 0 when absent."""
    v = die.attrs.get(attr)
    if not isinstance(v, int) or isinstance(v, bool):
        return 0
    return v & _U64


def _flag(die: Die, attr: int) -> bool:
    return bool(die.attrs.get(attr))


def _ref(die: Die, attr: int) -> int | None:
    v = die.attrs.get(attr)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _member_offset(die: Die) -> int:
    """DW_AT_data_member_location as a byte offset (a constant or DW_OP_plus_uconst)."""
    v = die.attrs.get(AT_DATA_MEMBER_LOCATION)
    if isinstance(v, int):
        return v
    if isinstance(v, bytes) and v and v[0] == _DW_OP_PLUS_UCONST:
        n = shift = 0
        for b in v[1:]:
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return n
    return 0


class _Records:
    """Records encoded apart from the BTF they go into, and what placing them fills in.

    A CU's records are encoded before the IDs they take are known (that depends on every
    CU before it), so the words hold stand-ins that :meth:`_Merger.place` replaces, at
    the positions listed here: a type of the CU by its small ID (``type_refs``: the CU's
    ``type_id_off`` is added), a record of this batch by its index in it (``own_refs``),
    the array index type (``index_refs``) and names by their index in the encoder's
    string list (``names``).
    """

    __slots__ = ("index_refs", "names", "own_refs", "starts", "type_refs", "words")

    def __init__(self) -> None:
        self.words = array("I")
        self.starts = array("I")  # each record's first word
        self.type_refs = array("I")
        self.own_refs = array("I")
        self.index_refs = array("I")
        self.names = array("I")

    def __len__(self) -> int:
        return len(self.starts)

    def add(self, rec: list[int], names: tuple[int, ...] = (0,), refs: tuple[int, ...] = (),
            own: tuple[int, ...] = ()) -> int:  # fmt: skip
        """Append ``rec``, whose words at ``names`` are names (0: none), at ``refs`` small IDs
        of the CU's types (0: void, left as it is) and at ``own`` indices of earlier records
        of this batch; return its index."""
        w = len(self.words)
        self.starts.append(w)
        self.words.extend(rec)
        for i in names:
            if rec[i]:
                self.names.append(w + i)
        for i in refs:
            if rec[i]:
                self.type_refs.append(w + i)
        for i in own:
            self.own_refs.append(w + i)
        return len(self.starts) - 1


@dataclass
class _EncodedCU:
    """One CU's records, in the parts pahole emits them in, and what the merge needs to know."""

    ntypes: int  # tabled types, small IDs 1..ntypes
    int_id: int | None  # the small ID of its first base type "int"
    has_array: bool
    types: _Records
    decl_tags: _Records
    functions: list[tuple[str | None, _Records]]  # (ELF symbol name to emit once, or None)
    variables: _Records
    percpu: list[tuple[int, int, int]]  # (VAR's index in variables, offset, size)


@dataclass
class _Batch:
    """The encoded CUs of one range of ``.debug_info``, and the names their records use."""

    cus: list[_EncodedCU]
    strings: list[str]  # by index; 0 is the empty name
    dies: int = 0
    read_seconds: float = 0.0
    build_seconds: float = 0.0


class _Encoder:
    """Encodes CUs one by one as pahole 1.24 does, each into :class:`_Records` to be placed
    by :class:`_Merger` (so that CUs can be encoded in parallel)."""

    def __init__(self, symbols: _Symbols, little: bool, vlen_max: int,
                 debug_addr: bytes = b"", gen_floats: bool = False):  # fmt: skip
        self.syms = symbols
        self.dies = 0
        self.order: Literal["little", "big"] = "little" if little else "big"
        self.debug_addr = debug_addr
        self.gen_floats = gen_floats
        self.strings: list[str] = [""]
        self.strs: dict[str, int] = {"": 0}
        self.vlen_max = vlen_max
        self.out = _Records()
        self.has_array = False

    def _str(self, text: str | None) -> int:
        """The index of ``text`` in the batch's names (0 for none)."""
        if not text:
            return 0
        i = self.strs.get(text)
        if i is None:
            i = self.strs[text] = len(self.strings)
            self.strings.append(text)
        return i

    def _vlen(self, n: int, die: Die) -> int:
        if n > self.vlen_max:
            raise BuildError(f"DIE {die.offset:#x}: {n} elements do not fit in one BTF type")
        return n

    # --- tabling a CU, as pahole's DWARF loader does --------------------------------
    def table(self, unit: Unit) -> _CU:
        cu = _CU(unit)
        for child in unit.top.children:
            self._process(cu, child, top_level=True)
        return cu

    def _process(self, cu: _CU, die: Die, top_level: bool) -> None:
        self.dies += 1
        cu.by_offset[die.offset] = die
        tag = die.tag
        if tag in _TYPE_TAGS:
            if tag in _COMPOSITES:
                # types nested in a struct are tabled before it
                for child in die.children:
                    if child.tag not in _MEMBER_TAGS and child.tag != _ANNOTATION:
                        self._process(cu, child, top_level=False)
            elif tag == _POINTER and die.children:
                # a pointer's type tags are types of their own, tabled before it; the
                # pointer points to the last, each tag to the one before, the first to the
                # pointee
                tags = [a for a in die.children if a.tag == _ANNOTATION and _name(a) == "btf_type_tag"]
                for a in tags:
                    cu.types.append(a)
                    cu.ids[a.offset] = len(cu.types)
                if tags:
                    cu.type_tags[die.offset] = tags
                    cu.tagged[tags[0].offset] = die
            cu.types.append(die)
            cu.ids[die.offset] = len(cu.types)
        elif tag == _SUBPROGRAM:
            self._body(cu, die)
            cu.functions.append(die)
        elif tag == _VARIABLE and top_level:
            cu.variables.append(die)

    def _body(self, cu: _CU, die: Die) -> None:
        """A function's children: its parameters, and the types defined in its body (the
        reader lifts them out of nested blocks, in DIE order, as pahole's recursion meets them)."""
        for child in die.children:
            if child.tag in _PARAM_TAGS:
                cu.by_offset[child.offset] = child
            else:
                self._process(cu, child, top_level=False)

    # --- emitting -------------------------------------------------------------------
    def _tid(self, cu: _CU, die: Die) -> int:
        """The small ID of ``die``'s type (0: void, or no type of this CU)."""
        target = die.attrs.get(AT_TYPE)
        return cu.ids.get(target, 0) if type(target) is int else 0

    def encode_cu(self, cu: _CU) -> _EncodedCU:
        """The records of one tabled CU, in pahole's order: its types, the decl tags of
        its structs, unions and typedefs, its functions, its per-CPU variables."""
        self.has_array = False
        self.out = types = _Records()
        for die in cu.types:
            self._encode_type(cu, die)
        self.out = tags = _Records()
        for i, die in enumerate(cu.types, 1):
            if die.tag in _DECL_TAGGED:
                self._decl_tags(i, die, _MEMBER)
        functions = []
        for fn in cu.functions:
            self.out = _Records()
            key = self._encode_function(cu, fn)
            if key is not False:
                functions.append((key, self.out))
        self.out = variables = _Records()
        percpu: list[tuple[int, int, int]] = []
        if self.syms.percpu_size is not None:
            for var in cu.variables:
                self._encode_variable(cu, var, percpu)
        int_id = next((i for i, d in enumerate(cu.types, 1) if d.tag == _BASE and _name(d) == "int"), None)
        return _EncodedCU(len(cu.types), int_id, self.has_array, types, tags, functions, variables, percpu)

    def _encode_type(self, cu: _CU, die: Die) -> None:
        # Records are encoded directly (as libbpf's btf__add_* would encode them): the
        # per-call checks of Builder cost more than the rest of the encoding.
        tag = die.tag
        ref = self._tid(cu, die)
        add = self.out.add
        if tag == _POINTER:
            tags = cu.type_tags.get(die.offset)
            add([0, _PTR_INFO, cu.ids[tags[-1].offset] if tags else ref], (), (2,))
        elif tag == _ANNOTATION:  # a pointer's type tag (see _process)
            self._type_tag(cu, die)
        elif tag == _TYPEDEF:
            add([self._str(_name(die)), _TYPEDEF_INFO, ref], (0,), (2,))
        elif tag == _CONST:
            add([0, _CONST_INFO, ref], (), (2,))
        elif tag in _COMPOSITES:
            self._composite(cu, die)
        elif tag == _BASE:
            self._base_type(die)
        elif tag == _VOLATILE:
            add([0, _VOLATILE_INFO, ref], (), (2,))
        elif tag == _RESTRICT:
            add([0, _RESTRICT_INFO, ref], (), (2,))
        elif tag == _ARRAY:
            self.has_array = True
            rec = [0, _ARRAY_INFO, 0, ref, 0, self._nelems(die)]
            w = len(self.out.words)
            add(rec, (), (3,))
            self.out.index_refs.append(w + 4)
        elif tag == _ENUMERATION:
            self._enum(cu, die)
        else:  # subroutine type
            self._proto(cu, die, ref)

    @staticmethod
    def _nelems(die: Die) -> int:
        """An array's elements, all its dimensions together, as a 32-bit count."""
        nelems = 1
        for sub in die.children:
            if sub.tag != _SUBRANGE:
                continue
            if AT_UPPER_BOUND in sub.attrs:
                n = (_udata(sub, AT_UPPER_BOUND) + 1) & _U64 if isinstance(sub.attrs[AT_UPPER_BOUND], int) else 0
            elif AT_COUNT in sub.attrs:
                n = _udata(sub, AT_COUNT)
            else:
                n = 0
            nelems = (nelems * n) & 0xFFFFFFFF
        return nelems

    def _type_tag(self, cu: _CU, die: Die) -> None:
        small = cu.ids[die.offset]
        prev = cu.types[small - 2] if small >= 2 else None
        if prev is not None and prev.tag == _ANNOTATION:
            target = small - 1  # the tag before, on the same pointer
        else:  # the first tag: to the pointee, its parent pointer's DW_AT_type
            target = self._tid(cu, cu.tagged[die.offset])
        self.out.add([self._str(_annotation(die)), _TYPE_TAG_INFO, target], (0,), (2,))

    def _decl_tags(self, target: int, die: Die, element: int, own: bool = False) -> None:
        """DECL_TAGs for ``die`` (component -1) and its ``element`` children (their index),
        on the CU's type ``target`` (``own``: on the record of that index in this batch)."""
        index = -1
        refs, owns = ((), (2,)) if own else ((2,), ())
        for child in die.children:
            if child.tag == element:
                index += 1
                for a in child.children:
                    if a.tag == _ANNOTATION and _name(a) == "btf_decl_tag":
                        self.out.add([self._str(_annotation(a)), _DECL_TAG_INFO, target, index & 0xFFFFFFFF],
                                     (0,), refs, owns)  # fmt: skip
            elif child.tag == _ANNOTATION and _name(child) == "btf_decl_tag":
                self.out.add([self._str(_annotation(child)), _DECL_TAG_INFO, target, 0xFFFFFFFF], (0,), refs, owns)

    def _base_type(self, die: Die) -> None:
        enc = _udata(die, AT_ENCODING)
        size = _udata(die, AT_BYTE_SIZE)
        name = _name(die) or ""
        if self.gen_floats and enc == _ATE_FLOAT:
            if size not in (2, 4, 8, 12, 16) or not name:
                raise BuildError(f"DIE {die.offset:#x}: float {name!r} of {size} bytes cannot be encoded")
            self.out.add([self._str(name), _FLOAT_INFO, size])
            return
        if self.gen_floats and enc in _COMPLEX_ATE:
            raise BuildError(f"DIE {die.offset:#x}: complex and imaginary float types ({name}) are not "
                             "supported with floats as FLOAT (as pahole)")  # fmt: skip
        if enc in _SIGNED_ATE:
            encoding = IntEncoding.SIGNED
        elif enc == _ATE_BOOLEAN:
            encoding = IntEncoding.BOOL
        else:
            encoding = IntEncoding.NONE
        if not size or size & (size - 1) or size > 16:
            # pahole's stand-in for DWARF 5's odd-sized DW_OP_convert helper types
            name, size = "__SANITIZED_FAKE_INT__", 4
        if not name:
            raise BuildError(f"DIE {die.offset:#x}: base type without a name")
        self.out.add([self._str(name), _INT_INFO, size, (int(encoding) << 24) | (size * 8)])

    def _composite(self, cu: _CU, die: Die) -> None:
        name = _name(die)
        is_union = die.tag == _UNION
        out = self.out
        if _flag(die, AT_DECLARATION):
            if not name:
                raise BuildError(f"DIE {die.offset:#x}: declaration without a name")
            out.add([self._str(name), make_info(Kind.FWD, 0, is_union), 0])
            return
        rec = [self._str(name), 0, _udata(die, AT_BYTE_SIZE) & 0xFFFFFFFF]
        bitfields = False
        n = 0
        ids, strs, add_str = cu.ids, self.strs, self._str
        # Every member's type is a type of the CU (void too: pahole adds type_id_off to 0),
        # and its name, if any, a name: listed here rather than by Records.add, per record.
        w = len(out.words)
        names, type_refs = out.names, out.type_refs
        if rec[0]:
            names.append(w)  # (names in the order they appear, the struct's first)
        for m in die.children:
            if m.tag != _MEMBER:
                continue
            attrs = m.attrs
            v = attrs.get(AT_BIT_SIZE)
            bit_size = v & _U64 if type(v) is int else 0
            if AT_DATA_BIT_OFFSET in attrs:
                bit_offset = _udata(m, AT_DATA_BIT_OFFSET)
            else:
                v = attrs.get(AT_DATA_MEMBER_LOCATION)
                bit_offset = (v if type(v) is int else _member_offset(m)) * 8
                if bit_size and AT_BIT_OFFSET in attrs:
                    # DWARF 4 counts from the storage unit's most significant bit
                    unit = _udata(m, AT_BYTE_SIZE) or self._type_size(cu, m)
                    bit_offset += unit * 8 - _udata(m, AT_BIT_OFFSET) - bit_size
            # libbpf's btf__add_field rules: 24-bit offsets only for bitfields
            if bit_size or bit_offset & 7:
                bitfields = True
                if not 0 < bit_size <= 255 or bit_offset > 0xFFFFFF:
                    raise BuildError(f"bitfield at DIE {m.offset:#x}: {bit_size} bits at bit {bit_offset}")
            if not 0 <= bit_offset <= 0xFFFFFFFF or (is_union and bit_offset):
                raise BuildError(f"member at DIE {m.offset:#x}: bit offset {bit_offset} cannot be encoded")
            target = attrs.get(AT_TYPE)
            small = ids.get(target) if type(target) is int else None
            if small is None and target is not None:
                # pahole would add off to 0 and point the member at whatever type precedes
                # this unit (with a base, the base's last): BTF its own verifier rejects.
                raise ELFError(f"member at DIE {m.offset:#x} refers to DIE {target!r}, which is no type")
            v = attrs.get(AT_NAME)
            name_off = (strs.get(v) or add_str(v)) if type(v) is str and v else 0
            at = w + 3 + 3 * n
            if name_off:
                names.append(at)
            type_refs.append(at + 1)
            rec += (name_off, small or 0, bit_offset | (bit_size << 24))
            n += 1
        rec[1] = make_info(Kind.UNION if is_union else Kind.STRUCT, self._vlen(n, die), bitfields)
        out.add(rec, names=())

    def _type_size(self, cu: _CU, die: Die) -> int:
        target = _ref(die, AT_TYPE)
        for _ in range(32):  # typedef/qualifier chains are short; a loop must not hang
            t = cu.by_offset.get(target) if target is not None else None
            if t is None:
                return 0
            if AT_BYTE_SIZE in t.attrs:
                return _udata(t, AT_BYTE_SIZE)
            target = _ref(t, AT_TYPE)
        return 0

    def _tag_size(self, cu: _CU, die: Die | None) -> int | None:
        """The size in bytes of the type ``die`` as pahole computes it (None: unknown)."""
        count = 1
        for _ in range(32):  # typedef/qualifier chains are short; a loop must not hang
            if die is None:
                return None
            tag = die.tag
            if tag == _POINTER:
                return count * cu.unit.address_size
            if tag in (_BASE, _ENUMERATION) or (tag in _COMPOSITES and AT_TYPE not in die.attrs):
                size = _udata(die, AT_BYTE_SIZE)
                if tag in _COMPOSITES and size == 1 and not any(c.tag in _MEMBER_TAGS for c in die.children):
                    size = 0  # an empty C++ base class takes no room
                return count * size
            if tag == _SUBROUTINE:
                return count * (_udata(die, AT_BYTE_SIZE) or cu.unit.address_size)
            if tag == _ARRAY:
                count *= self._nelems(die)
            target = _ref(die, AT_TYPE)
            die = cu.by_offset.get(target) if target is not None else None
        return None

    def _enum(self, cu: _CU, die: Die) -> None:
        name = _name(die)
        size = _udata(die, AT_BYTE_SIZE) or 4
        if size not in (1, 2, 4, 8):
            raise BuildError(f"enum at DIE {die.offset:#x}: size {size}")
        rec = [self._str(name), 0, size]  # the name's string first, as libbpf adds them
        values = []
        for e in die.children:
            if e.tag != _ENUMERATOR:
                continue
            v = _udata(e, AT_CONST_VALUE)
            ename = _name(e)
            if not ename:
                raise BuildError(f"enumerator at DIE {e.offset:#x} has no name")
            values.append((self._str(ename), v - (1 << 64) if v >> 63 else v))
        if size > 4:
            # ENUM64 is signed when its underlying type (DW_AT_type) is a signed base type,
            # whatever the values (pahole 1.24); ENUM's kind_flag is libbpf's: a negative value.
            target = _ref(die, AT_TYPE)
            underlying = cu.by_offset.get(target) if target is not None else None
            signed = underlying is not None and _udata(underlying, AT_ENCODING) in _SIGNED_ATE
            for n, v in values:
                u = v & _U64
                rec += (n, u & 0xFFFFFFFF, u >> 32)
            rec[1] = make_info(Kind.ENUM64, self._vlen(len(values), die), signed)
            step = 3
        else:
            signed = any(v < 0 for _, v in values)
            for n, v in values:
                if not -(1 << 31) <= v < (1 << 32):
                    # libbpf refuses it, so pahole 1.24 fails on such an enum too
                    raise BuildError(f"enum {name or '(anon)'} at DIE {die.offset:#x}: value {v} does not fit "
                                     "in 32 bits")  # fmt: skip
                rec += (n, v & 0xFFFFFFFF)
            rec[1] = make_info(Kind.ENUM, self._vlen(len(values), die), signed)
            step = 2
        self.out.add(rec, (0, *range(3, len(rec), step)))

    def _params(self, cu: _CU, die: Die) -> tuple[list[tuple[str | None, int]], bool]:
        params: list[tuple[str | None, int]] = []
        unspec = False
        for p in die.children:
            if p.tag == _UNSPECIFIED_PARAMETERS:
                unspec = True
            elif p.tag == _FORMAL_PARAMETER:
                name = _name(p)
                if AT_TYPE in p.attrs:
                    ptype = self._tid(cu, p)
                else:
                    # a concrete instance: name and type come from the abstract origin
                    origin_off = _ref(p, AT_ABSTRACT_ORIGIN)
                    origin = cu.by_offset.get(origin_off) if origin_off is not None else None
                    if origin is not None:
                        name = _name(origin)
                        ptype = self._tid(cu, origin)
                    else:
                        ptype = 0
                params.append((name, ptype))
        return params, unspec

    def _proto(self, cu: _CU, die: Die, ret: int,
               params: tuple[list[tuple[str | None, int]], bool] | None = None) -> int:  # fmt: skip
        plist, unspec = params if params is not None else self._params(cu, die)
        rec = [0, 0, ret]
        for name, ptype in plist:
            rec += (self._str(name), ptype)
        if unspec:
            rec += (0, 0)
        rec[1] = make_info(Kind.FUNC_PROTO, self._vlen(len(plist) + unspec, die))
        n = len(plist)
        return self.out.add(rec, tuple(range(3, 3 + 2 * n, 2)), tuple(range(2, 4 + 2 * n, 2)))

    def _origin(self, cu: _CU, die: Die) -> Die:
        """The DIE holding a concrete instance's type: its abstract origin (or declaration)."""
        for _ in range(8):
            if AT_TYPE in die.attrs:
                return die
            target = _ref(die, AT_ABSTRACT_ORIGIN)
            if target is None:
                target = _ref(die, AT_SPECIFICATION)
            origin = cu.by_offset.get(target) if target is not None else None
            if origin is None:
                return die
            die = origin
        return die

    def _function_name(self, cu: _CU, die: Die) -> str | None:
        name = _name(die)
        if name is None:
            for attr in (AT_ABSTRACT_ORIGIN, AT_SPECIFICATION):
                target = _ref(die, attr)
                origin = cu.by_offset.get(target) if target is not None else None
                if origin is not None:
                    return _name(origin)
        return name

    def _encode_function(self, cu: _CU, die: Die) -> str | Literal[False] | None:
        """Encode a function as pahole would (FUNC_PROTO, FUNC, decl tags) into ``self.out``,
        unless it is left out whatever came before (False).  Else return the name of its
        symbol, which only the first function of that name gets (None: always emitted)."""
        if _flag(die, AT_DECLARATION):
            return False
        params = self._params(cu, die)
        if any(name is None for name, _ in params[0]):
            return False
        name = self._function_name(cu, die)
        if self.syms.functions:
            if name is None or name not in self.syms.functions:
                return False
            key: str | None = name
        elif not _flag(die, AT_EXTERNAL) or name is None:
            return False
        else:
            key = None
        proto = self._proto(cu, die, self._tid(cu, self._origin(cu, die)), params)
        fid = self.out.add([self._str(name), make_info(Kind.FUNC, int(Linkage.STATIC)), proto], own=(2,))
        self._decl_tags(fid, die, _FORMAL_PARAMETER, own=True)
        return key

    def _location_addr(self, cu: _CU, die: Die) -> int | None:
        """The address of a variable located by ``DW_OP_addr`` (or, from clang's DWARF 5,
        ``DW_OP_addrx``: an index into the unit's slice of ``.debug_addr``)."""
        v = die.attrs.get(AT_LOCATION)
        size = cu.unit.address_size
        if not isinstance(v, bytes) or not v:
            return None
        if v[0] == _DW_OP_ADDR and len(v) >= 1 + size:
            return int.from_bytes(v[1 : 1 + size], self.order)
        if v[0] in (_DW_OP_ADDRX, _DW_OP_GNU_ADDR_INDEX):
            index = shift = 0
            for b in v[1:]:
                index |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            at = cu.unit.addr_base + index * size
            if at + size <= len(self.debug_addr):
                return int.from_bytes(self.debug_addr[at : at + size], self.order)
        return None

    def _encode_variable(self, cu: _CU, die: Die, percpu: list[tuple[int, int, int]]) -> None:
        spec_off = _ref(die, AT_SPECIFICATION)
        spec = cu.by_offset.get(spec_off) if spec_off is not None else None
        if _flag(die, AT_DECLARATION) and spec is None:
            return
        addr = self._location_addr(cu, die)
        if addr is None and spec is None:
            return
        addr = addr or 0  # (a definition without a location, as pahole reads it)
        start, section_size = self.syms.percpu_addr, self.syms.percpu_size or 0
        if not start <= addr < start + section_size:
            return
        found = self.syms.percpu.get(addr - start)
        if found is None:
            return
        sym_name, size = found
        if addr == 0 and _name(die) != sym_name:
            # Address 0 is also where many special variables (__UNIQUE_ID_*, __ADDRESSABLE)
            # seem to be, so there pahole also wants the DIE's own name to be the symbol's: a
            # definition named only by its declaration (DW_AT_specification) does not count,
            # which leaves vmlinux's first per-CPU variable (fixed_percpu_data) out.
            return
        var = spec if spec is not None else die
        vtype = self._tid(cu, var)
        if vtype == 0:
            raise BuildError(f"per-CPU variable {sym_name!r} at DIE {die.offset:#x} has void type")
        target = _ref(var, AT_TYPE)
        if target is not None and self._tag_size(cu, cu.by_offset.get(target)) == 0:
            return  # pahole skips zero-sized per-CPU variables
        linkage = Linkage.GLOBAL if _flag(var, AT_EXTERNAL) else Linkage.STATIC
        vid = self.out.add([self._str(sym_name), _VAR_INFO, vtype, int(linkage)], (0,), (2,))
        self._decl_tags(vid, die, -1, own=True)
        percpu.append((vid, addr - start, size))


class _Merger:
    """Places encoded CUs into one BTF in CU order, doing what pahole does between CUs:
    type IDs continue from the previous CU's, the array index type is found (or added)
    once, each function symbol is emitted once, and the per-CPU variables are gathered
    into one DATASEC at the end."""

    def __init__(self, builder: Builder):
        self.b = builder
        self.btf = builder.btf
        self.has_index_type = False
        self.need_index_type = False
        self.array_index_id = 0
        self.generated: set[str] = set()
        self.percpu_vars: list[tuple[int, int, int]] = []  # (var ID, offset, size)
        self.offsets: dict[str, int] = {}  # string offsets by text

    def add_batch(self, batch: _Batch) -> None:
        for cu in batch.cus:
            self.add_cu(cu, batch.strings)

    def add_cu(self, cu: _EncodedCU, strings: list[str]) -> None:
        off = self.btf.type_count - 1  # pahole's type_id_off
        if not self.has_index_type:
            if cu.int_id is not None:
                self.has_index_type = True
                self.array_index_id = off + cu.int_id
            else:
                self.array_index_id = off + cu.ntypes + 1
        self.place(cu.types, off, strings)
        self.need_index_type = self.need_index_type or cu.has_array
        if self.need_index_type and not self.has_index_type:
            self.b.add_int("__ARRAY_SIZE_TYPE__", 4)
            self.has_index_type = True
        self.place(cu.decl_tags, off, strings)
        for name, records in cu.functions:
            if name is not None:
                if name in self.generated:
                    continue
                self.generated.add(name)
            self.place(records, off, strings)
        first = self.place(cu.variables, off, strings)
        self.percpu_vars += ((first + i, offset, size) for i, offset, size in cu.percpu)

    def place(self, records: _Records, off: int, strings: list[str]) -> int:
        """Append ``records`` with their stand-ins replaced; return the first one's ID."""
        first = self.btf.type_count
        if not records:
            return first
        words = records.words
        for p in records.type_refs:
            words[p] += off
        for p in records.own_refs:
            words[p] += first
        for p in records.index_refs:
            words[p] = self.array_index_id
        # Names in the order they appear, as pahole adds them to the string section.
        offsets, add = self.offsets, self.btf.strings.add
        for p in records.names:
            text = strings[words[p]]
            at = offsets.get(text)
            if at is None:
                at = offsets[text] = add(text)
            words[p] = at
        self.btf.append_records(words, records.starts)
        return first

    def finish(self) -> None:
        if self.percpu_vars:
            ordered = sorted(self.percpu_vars, key=lambda v: v[1])
            # the DATASEC ends where its last variable does, not where the ELF section ends
            _, last_offset, last_size = ordered[-1]
            self.b.add_datasec(PERCPU_SECTION, last_offset + last_size, ordered)


# How relocations patch debug sections, per ELF machine: (width in bytes, operation), the
# operation being symbol + addend (ABS), that minus the place (PCREL; debug sections sit at
# address 0), or adding to / subtracting from what is there (RISC-V's label differences).
_ABS, _PCREL, _ADD, _SUB = 0, 1, 2, 3
_RELOCS: dict[int, dict[int, tuple[int, int]]] = {
    62: {1: (8, _ABS), 10: (4, _ABS), 11: (4, _ABS), 2: (4, _PCREL), 24: (8, _PCREL),
         17: (8, _ABS), 21: (4, _ABS)},  # x86_64 (DTPOFF64/32 for TLS variables)
    3: {1: (4, _ABS), 2: (4, _PCREL), 32: (4, _ABS)},  # i386 (TLS_LDO_32)
    183: {257: (8, _ABS), 258: (4, _ABS), 259: (2, _ABS), 260: (8, _PCREL), 261: (4, _PCREL),
          262: (2, _PCREL)},  # AArch64
    40: {2: (4, _ABS), 3: (4, _PCREL), 106: (4, _ABS)},  # ARM (TLS_LDO32)
    22: {4: (4, _ABS), 22: (8, _ABS), 5: (4, _PCREL), 23: (8, _PCREL)},  # s390x
    243: {1: (4, _ABS), 2: (8, _ABS), 33: (1, _ADD), 34: (2, _ADD), 35: (4, _ADD), 36: (8, _ADD),
          37: (1, _SUB), 38: (2, _SUB), 39: (4, _SUB), 40: (8, _SUB)},  # RISC-V
    21: {1: (4, _ABS), 38: (8, _ABS), 26: (4, _PCREL), 44: (8, _PCREL)},  # PowerPC64
    247: {2: (8, _ABS), 3: (4, _ABS), 4: (4, _ABS)},  # BPF (REL, addend in place)
}  # fmt: skip
_MACHINES = {"EM_X86_64": 62, "EM_386": 3, "EM_AARCH64": 183, "EM_ARM": 40, "EM_S390": 22,
             "EM_RISCV": 243, "EM_PPC64": 21, "EM_BPF": 247}  # fmt: skip
# The debug sections the DIE reader uses (the others are neither decompressed nor relocated).
_READ_SECTIONS = frozenset({".debug_info", ".debug_abbrev", ".debug_str", ".debug_line_str",
                            ".debug_str_offsets", ".debug_addr"})  # fmt: skip
_SHT_SYMTAB, _SHT_RELA, _SHT_REL = 2, 4, 9


@dataclass
class _Sym:
    name: str
    info: int
    shndx: int
    value: int
    size: int


def _read_symtab(elf: ELFFile, data: bytes | bytearray, index: int) -> list[_Sym]:
    """All symbols of the symbol table section ``index``, read in bulk."""
    sec = elf.get_section(index)
    strtab = elf.get_section(sec["sh_link"])
    sbase, ssize = int(strtab["sh_offset"]), int(strtab["sh_size"])
    end = "<" if elf.little_endian else ">"
    off, size = int(sec["sh_offset"]), int(sec["sh_size"])
    out = []
    if elf.elfclass == 64:
        for name, info, _other, shndx, value, sz in struct.iter_unpack(end + "IBBHQQ", data[off : off + size]):
            out.append(_Sym(_cstr(data, sbase, ssize, name), info, shndx, value, sz))
    else:
        for name, value, sz, info, _other, shndx in struct.iter_unpack(end + "IIIBBH", data[off : off + size]):
            out.append(_Sym(_cstr(data, sbase, ssize, name), info, shndx, value, sz))
    return out


def _cstr(data: bytes | bytearray, base: int, size: int, off: int) -> str:
    if off >= size:
        return ""
    end = data.find(b"\0", base + off, base + size)
    return bytes(data[base + off : end if end >= 0 else base + size]).decode("utf-8", "surrogateescape")


_SHF_ALLOC = 0x2
# Where libdwfl (elfutils, pahole's DWARF reader) starts laying out a relocatable object.
_OFFLINE_BASE = 0x10000


def _offline_layout(elf: ELFFile) -> dict[int, int]:
    """Addresses for an ``ET_REL`` object's allocated sections, by section index.

    A relocatable object's sections all start at 0, so a variable in ``.data`` and one in
    ``.data..percpu`` can have the same DWARF address.  pahole reads DWARF through libdwfl,
    which first lays the allocated sections out one after the other, aligned, from 0x10000,
    and relocates with those addresses; pahole then takes as per-CPU the variables whose
    address falls inside ``.data..percpu``.  Any layout without overlaps tells them apart
    the same way; this one follows libdwfl's.
    """
    out = {}
    end = _OFFLINE_BASE
    for i, sec in enumerate(elf.iter_sections()):
        if sec["sh_flags"] & _SHF_ALLOC:
            align = int(sec["sh_addralign"]) or 1
            out[i] = (end + align - 1) // align * align
            end = out[i] + int(sec["sh_size"])
    return out


def _relocate_debug_sections(elf: ELFFile, data: bytes, sections: dict[int, bytearray], name: str,
                             layout: dict[int, int]) -> None:  # fmt: skip
    """Apply the relocations of an ``ET_REL`` object's debug sections (``sections``, by
    section index, already decompressed) to them, in place, with the allocated sections
    at the addresses ``layout`` gives them.

    pyelftools can do this too, but one relocation at a time through its
    structure parser (most of the read time for a module) and without the TLS
    relocation types; here each relocation section is unpacked in one go.
    """
    recipes = _RELOCS.get(_MACHINES.get(str(elf["e_machine"]), -1), {})
    end = "<" if elf.little_endian else ">"
    is64 = elf.elfclass == 64
    symtabs: dict[int, list[int]] = {}
    packers = {n: struct.Struct(end + c) for n, c in ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))}
    for sec in elf.iter_sections():
        sh_type = sec.header["sh_type"]
        if sh_type not in ("SHT_RELA", "SHT_REL"):
            continue
        buf = sections.get(int(sec["sh_info"]))
        if buf is None:
            continue
        target = elf.get_section(sec["sh_info"])
        link = int(sec["sh_link"])
        if link not in symtabs:
            symtabs[link] = [s.value + layout.get(s.shndx, 0) for s in _read_symtab(elf, data, link)]
        values = symtabs[link]
        rela = sh_type == "SHT_RELA"
        fmt = end + ("QQq" if rela else "QQ") if is64 else end + ("IIi" if rela else "II")
        limit = len(buf)
        off, size = int(sec["sh_offset"]), int(sec["sh_size"])
        nvalues = len(values)
        for entry in struct.iter_unpack(fmt, data[off : off + size]):
            r_offset, r_info = entry[0], entry[1]
            sym, rtype = (r_info >> 32, r_info & 0xFFFFFFFF) if is64 else (r_info >> 8, r_info & 0xFF)
            recipe = recipes.get(rtype)
            if recipe is None:
                if rtype == 0:
                    continue
                raise ELFError(f"{name}: unsupported relocation type {rtype} in {sec.name}")
            width, op = recipe
            if r_offset + width > limit or sym >= nvalues:
                raise ELFError(f"{name}: relocation at {r_offset:#x} outside {target.name}")
            packer = packers[width]
            here = packer.unpack_from(buf, r_offset)[0]
            value = values[sym] + (entry[2] if rela else here)
            if op == _PCREL:
                value -= r_offset
            elif op == _ADD:
                value = here + values[sym] + (entry[2] if rela else 0)
            elif op == _SUB:
                value = here - values[sym] - (entry[2] if rela else 0)
            packer.pack_into(buf, r_offset, value & ((1 << (8 * width)) - 1))


_SHF_COMPRESSED = 0x800
_ELFCOMPRESS_ZLIB, _ELFCOMPRESS_ZSTD = 1, 2


def _decompress(raw: bytes, elf: ELFFile, what: str) -> bytes:
    """The contents of an ``SHF_COMPRESSED`` section (``gcc -gz``): zlib or zstd after a header."""
    end = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:
        ch_type, _reserved, ch_size, _align = struct.unpack_from(end + "IIQQ", raw)
        body = raw[24:]
    else:
        ch_type, ch_size, _align = struct.unpack_from(end + "III", raw)
        body = raw[12:]
    try:
        if ch_type == _ELFCOMPRESS_ZLIB:
            out = zlib.decompress(body)
        elif ch_type == _ELFCOMPRESS_ZSTD:
            out = zstandard.ZstdDecompressor().decompress(body, max_output_size=ch_size)
        else:
            raise ELFError(f"{what}: unknown compression type {ch_type}")
    except (zlib.error, zstandard.ZstdError) as exc:
        raise ELFError(f"{what}: corrupt compressed section: {exc}") from exc
    if len(out) != ch_size:
        raise ELFError(f"{what}: decompressed to {len(out)} bytes, not {ch_size}")
    return out


def _symbols(elf: ELFFile, data: bytes | bytearray, layout: dict[int, int]) -> _Symbols:
    syms = _Symbols()
    percpu_index = None
    percpu_base = 0
    symtab_index = None
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name == PERCPU_SECTION and percpu_index is None:
            percpu_index = i
            syms.percpu_size = int(sec["sh_size"])
            percpu_base = int(sec["sh_addr"]) if elf["e_type"] != "ET_REL" else 0
            syms.percpu_addr = layout.get(i, percpu_base)
        elif sec.header["sh_type"] == "SHT_SYMTAB" and symtab_index is None:
            symtab_index = i
    if symtab_index is None:
        return syms
    for sym in _read_symtab(elf, data, symtab_index):
        st_type = sym.info & 0xF
        if st_type == 2:  # STT_FUNC
            if sym.name:
                syms.functions.add(sym.name)
        elif (st_type == 1 and percpu_index is not None and sym.shndx == percpu_index and sym.size
              and len(sym.name) <= _KSYM_NAME_LEN and _NAME_OK.match(sym.name)):  # fmt: skip
            syms.percpu.setdefault(sym.value - percpu_base, (sym.name, sym.size))
    return syms


@dataclass
class _Job:
    """What encoding a range of CUs needs (shared with forked workers, not copied)."""

    sections: dict[str, bytes]
    symbols: _Symbols
    little: bool
    vlen_max: int
    gen_floats: bool


_JOB: list[_Job] = []  # the job of the dwarf_to_btf call in progress, for _encode_range


def _encode_range(bounds: tuple[int, int]) -> _Batch:
    """Encode the CUs of ``.debug_info`` from offset ``bounds[0]`` up to ``bounds[1]``."""
    job = _JOB[-1]
    enc = _Encoder(job.symbols, job.little, job.vlen_max, job.sections.get(".debug_addr", b""), job.gen_floats)
    batch = _Batch([], enc.strings)
    units = iter_units(job.sections, job.little, *bounds)
    while True:
        t = time.perf_counter()
        unit = next(units, None)
        if unit is None:
            batch.read_seconds += time.perf_counter() - t
            break
        table = enc.table(unit)
        t1 = time.perf_counter()
        batch.read_seconds += t1 - t
        batch.cus.append(enc.encode_cu(table))
        batch.build_seconds += time.perf_counter() - t1
    batch.dies = enc.dies
    return batch


# Below this much .debug_info (a kernel module's is a few MB at most), starting workers
# costs more than it saves.
_PARALLEL_MIN_BYTES = 16 << 20
# Ranges per worker: enough that each worker stays busy until the end, and that the
# first results reach the merge early.
_RANGES_PER_WORKER = 8


def _ranges(info: bytes, little: bool, count: int) -> list[tuple[int, int]]:
    """``.debug_info`` cut at CU boundaries into about ``count`` ranges of similar size."""
    starts = unit_offsets(info, little)
    step = max(1, len(info) // count)
    cuts = [0]
    for pos in starts:
        if pos >= cuts[-1] + step:
            cuts.append(pos)
    cuts.append(len(info))
    return list(itertools.pairwise(cuts))


def _encoded_batches(job: _Job, jobs: int) -> Generator[_Batch, None, None]:
    """The object's CUs encoded, in order: on ``jobs`` forked workers for a large object."""
    info = job.sections[".debug_info"]
    _JOB.append(job)
    try:
        if jobs <= 1 or len(info) < _PARALLEL_MIN_BYTES or "fork" not in multiprocessing.get_all_start_methods():
            yield _encode_range((0, len(info)))
            return
        ranges = _ranges(info, job.little, jobs * _RANGES_PER_WORKER)
        # Forked, the workers share the sections instead of receiving copies; a worker that
        # dies makes the pool fail (BrokenProcessPool) rather than hang.  Ctrl-C reaches the
        # whole process group: only the parent handles it.
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                   initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))  # fmt: skip
        try:
            yield from pool.map(_encode_range, ranges)
        finally:
            pool.shutdown(cancel_futures=True)
    finally:
        _JOB.pop()


def _debug_sections(elf: ELFFile, image: bytes, name: str, layout: dict[int, int] | None) -> dict[str, bytes]:
    """The debug sections the DIE reader uses, decompressed, and relocated when ``layout``
    (a relocatable object's section addresses) is given."""
    by_index: dict[int, bytearray] = {}
    sections: dict[str, bytes] = {}
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name in _READ_SECTIONS and sec["sh_type"] != "SHT_NOBITS":
            off, size = int(sec["sh_offset"]), int(sec["sh_size"])
            if off + size > len(image):
                raise ELFError(f"{name}: section {sec.name} lies outside the file")
            raw = image[off : off + size]
            if sec["sh_flags"] & _SHF_COMPRESSED:
                raw = _decompress(raw, elf, f"{name}: {sec.name}")
            if layout is None:
                sections[sec.name] = raw  # (a copy only of what is read: no bytearray on the way)
            else:
                by_index[i] = bytearray(raw)
    if layout is not None:
        _relocate_debug_sections(elf, image, by_index, name, layout)
        for i, buf in by_index.items():
            sections[elf.get_section(i).name] = bytes(buf)
    return sections


def dwarf_to_btf(
    data: bytes | bytearray | memoryview,
    name: str,
    base: BTF | None = None,
    stats: DwarfStats | None = None,
    *,
    gen_floats: bool = False,
    jobs: int | None = None,
) -> BTF:
    """Encode the DWARF of an ELF object as pahole 1.24 does, without deduplication.

    The result is split on ``base`` when given.  ``gen_floats`` makes floating-point base
    types FLOATs instead of INTs (pahole's ``--btf_gen_floats``, which kernel builds pass).
    A large object (a vmlinux) has its CUs encoded on ``jobs`` processes (default: every
    CPU), with the same result.  Raises :class:`~btfkit.errors.ELFError` when the object is
    not a readable ELF or carries no DWARF.
    """
    st = stats if stats is not None else DwarfStats()
    image = bytes(data)
    # pyelftools' objects refer to each other in cycles, which stay until the garbage
    # collector runs (it is paused while encoding): closing the stream at the end lets
    # go of the image (a vmlinux's 600 MB) at once all the same.
    stream = io.BytesIO(image)
    try:
        t0 = time.perf_counter()
        section_table(image, name)  # btfkit's checks of the ELF structure before pyelftools trusts it
        elf = ELFFile(stream)
        if elf.get_section_by_name(".debug_info") is None:
            raise ELFError(f"{name}: no DWARF (.debug_info) to encode")
        layout = _offline_layout(elf) if elf["e_type"] == "ET_REL" else None
        sections = _debug_sections(elf, image, name, layout)
        symbols = _symbols(elf, image, layout or {})
        little = bool(elf.little_endian)
        builder = Builder(base=base, byteorder="little" if little else "big")
        builder.btf.pointer_size = 8 if elf.elfclass == 64 else 4
        merger = _Merger(builder)
        job = _Job(sections, symbols, little, builder.btf.info_format.vlen_mask, gen_floats)
        st.read_seconds += time.perf_counter() - t0
        # (closed on the way out, error or not: the workers stop at once)
        with contextlib.closing(_encoded_batches(job, jobs or available_cpus())) as batches:
            for batch in batches:
                t = time.perf_counter()
                merger.add_batch(batch)
                st.build_seconds += batch.build_seconds + time.perf_counter() - t
                st.read_seconds += batch.read_seconds
                st.cus += len(batch.cus)
                st.dies += batch.dies
        merger.finish()
    except (BTFError, _PyELFError, _PyELFParseError, struct.error, ValueError, KeyError, IndexError, EOFError,
            OSError, RecursionError) as exc:  # fmt: skip
        if isinstance(exc, BTFError):
            if str(exc).startswith(f"{name}: "):
                raise
            raise type(exc)(f"{name}: {exc}") from exc
        raise ELFError(f"{name}: unreadable ELF or DWARF: {exc or type(exc).__name__}") from exc
    finally:
        stream.close()
    return builder.btf
