"""DWARF to BTF: the type encoding ``pahole -J`` (1.24) performs, before deduplication.

The DWARF of an object (versions 4 and 5; pyelftools reads it and applies the
relocations of ``ET_REL`` objects) is turned into BTF compilation unit by
compilation unit, in exactly the order pahole 1.24 emits it, so that
deduplicating the result gives pahole's bytes:

* Every type DIE of a CU gets a small ID in the order pahole's DWARF loader
  tables it: DIE order, except that types nested in a struct or a function
  body are tabled before the struct or function that holds them.  The CU's
  types are emitted in that order, one BTF type each, at IDs following the
  previous CU's (``type_id_off``).  Multi-dimensional arrays become one
  ARRAY of all the elements; floats are INTs (pahole's default without
  ``--btf_gen_floats``); enums wider than 32 bits are ENUM64, signed when
  an enumerator is negative; struct declarations are FWDs.
* Array index type: the CU's first base type named ``int``; when the first
  CUs have none, an ``unsigned int`` named ``__ARRAY_SIZE_TYPE__`` is added
  after the CU's types (and serves every later CU too).
* Then the CU's functions, in DIE order: each function that is not a
  declaration, whose parameters all have names, and whose name is an
  ``STT_FUNC`` symbol of the object not yet emitted (or, in an object
  without function symbols, that is external), becomes a FUNC_PROTO
  followed by a FUNC (linkage ``static``, as pahole writes them all).
* Then the CU's variables that live in ``.data..percpu`` (found by address
  among the object's sized ``STT_OBJECT`` symbols there) become VARs; one
  DATASEC ``.data..percpu`` listing them by offset closes the BTF.

Type tags, declaration tags and floats-as-FLOAT are not produced: pahole 1.24
only makes them from clang's annotations or on request, and GCC 12 (Debian's
kernel compiler) emits no annotations.
"""

from __future__ import annotations

import io
import re
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from elftools.common.exceptions import DWARFError as _PyDWARFError
from elftools.common.exceptions import ELFError as _PyELFError
from elftools.common.exceptions import ELFParseError as _PyELFParseError
from elftools.dwarf.die import DIE
from elftools.elf.elffile import ELFFile

from .btf import BTF
from .build import Builder
from .errors import BuildError, ELFError
from .kinds import IntEncoding, Linkage

__all__ = ["PERCPU_SECTION", "DwarfStats", "dwarf_to_btf"]

PERCPU_SECTION = ".data..percpu"

_U64 = (1 << 64) - 1
_KSYM_NAME_LEN = 128
_NAME_OK = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*\Z")

# DIE tags pahole tables as types (its tag__is_tag_type), C subset.
_TYPE_TAGS = frozenset(
    {
        "DW_TAG_base_type", "DW_TAG_pointer_type", "DW_TAG_const_type", "DW_TAG_volatile_type",
        "DW_TAG_restrict_type", "DW_TAG_typedef", "DW_TAG_structure_type", "DW_TAG_union_type",
        "DW_TAG_class_type", "DW_TAG_enumeration_type", "DW_TAG_array_type",
        "DW_TAG_subroutine_type",
    }
)  # fmt: skip
_COMPOSITES = frozenset({"DW_TAG_structure_type", "DW_TAG_union_type", "DW_TAG_class_type"})
# Children of these hold no types pahole would table.
_LEAF_TYPES = frozenset({"DW_TAG_enumeration_type", "DW_TAG_array_type", "DW_TAG_subroutine_type"})
_LOCAL_REF_FORMS = frozenset(
    {"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8", "DW_FORM_ref_udata"}
)
_SIGNED_ATE = (0x05, 0x06)  # DW_ATE_signed, DW_ATE_signed_char
_ATE_BOOLEAN = 0x02
_DW_OP_ADDR = 0x03
_DW_OP_PLUS_UCONST = 0x23


@dataclass
class DwarfStats:
    """Where the time went: reading DWARF (pyelftools) and building BTF."""

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


@dataclass
class _CU:
    """One compilation unit as pahole's loader tables it."""

    die: DIE
    types: list[DIE] = field(default_factory=list)  # small ID i+1
    ids: dict[int, int] = field(default_factory=dict)  # DIE offset -> small ID
    functions: list[DIE] = field(default_factory=list)
    variables: list[DIE] = field(default_factory=list)
    by_offset: dict[int, DIE] = field(default_factory=dict)


def _ref(die: DIE, attr: str) -> int | None:
    """The absolute DIE offset an attribute refers to."""
    a = die.attributes.get(attr)
    if a is None:
        return None
    if a.form in _LOCAL_REF_FORMS:
        return int(a.value) + die.cu.cu_offset
    if a.form == "DW_FORM_ref_addr":
        return int(a.value)
    return None


def _name(die: DIE) -> str | None:
    a = die.attributes.get("DW_AT_name")
    if a is None:
        return None
    v = a.value
    return v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v)


def _udata(die: DIE, attr: str) -> int:
    """An attribute as libdw's dwarf_formudata reads it: unsigned 64-bit, 0 when absent."""
    a = die.attributes.get(attr)
    if a is None or not isinstance(a.value, int) or isinstance(a.value, bool):
        return 0
    return int(a.value) & _U64


def _flag(die: DIE, attr: str) -> bool:
    a = die.attributes.get(attr)
    return a is not None and bool(a.value)


def _member_offset(die: DIE) -> int:
    """DW_AT_data_member_location as a byte offset (a constant or DW_OP_plus_uconst)."""
    a = die.attributes.get("DW_AT_data_member_location")
    if a is None:
        return 0
    v = a.value
    if isinstance(v, int):
        return v
    if isinstance(v, list) and v and v[0] == _DW_OP_PLUS_UCONST:
        n = shift = 0
        for b in v[1:]:
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return n
    return 0


def _location_addr(die: DIE) -> int | None:
    """The address of a variable whose location is ``DW_OP_addr``."""
    a = die.attributes.get("DW_AT_location")
    if a is None or a.form != "DW_FORM_exprloc" or not a.value or a.value[0] != _DW_OP_ADDR:
        return None
    raw = bytes(a.value[1:])
    size = die.cu.structs.address_size
    if len(raw) < size:
        return None
    return int.from_bytes(raw[:size], "little" if die.dwarfinfo.config.little_endian else "big")


class _Encoder:
    """Feeds one object's CUs to a Builder in pahole 1.24's order."""

    def __init__(self, builder: Builder, symbols: _Symbols, stats: DwarfStats):
        self.b = builder
        self.syms = symbols
        self.stats = stats
        self.has_index_type = False
        self.need_index_type = False
        self.array_index_id = 0
        self.generated: set[str] = set()
        self.percpu_vars: list[tuple[int, int, int]] = []  # (var ID, offset, size)

    # --- tabling a CU, as pahole's DWARF loader does --------------------------------
    def table(self, top: DIE) -> _CU:
        cu = _CU(top)
        for child in top.iter_children():
            self._process(cu, child, top_level=True)
        return cu

    def _add_type(self, cu: _CU, die: DIE) -> None:
        cu.types.append(die)
        cu.ids[die.offset] = len(cu.types)

    def _process(self, cu: _CU, die: DIE, top_level: bool) -> None:
        self.stats.dies += 1
        cu.by_offset[die.offset] = die
        tag = die.tag
        if tag in _TYPE_TAGS:
            if tag in _COMPOSITES:
                for child in die.iter_children():
                    if child.tag in ("DW_TAG_member", "DW_TAG_inheritance"):
                        continue
                    self._process(cu, child, top_level=False)
            elif tag in _LEAF_TYPES:
                for child in die.iter_children():
                    cu.by_offset[child.offset] = child
            self._add_type(cu, die)
        elif tag == "DW_TAG_subprogram":
            self._body(cu, die)
            cu.functions.append(die)
        elif tag == "DW_TAG_variable":
            if top_level:
                cu.variables.append(die)
        elif tag in ("DW_TAG_lexical_block", "DW_TAG_inlined_subroutine"):
            self._body(cu, die)

    def _body(self, cu: _CU, die: DIE) -> None:
        """A function body: parameters and locals are not types, nested type DIEs are."""
        for child in die.iter_children():
            tag = child.tag
            if tag in ("DW_TAG_formal_parameter", "DW_TAG_variable", "DW_TAG_unspecified_parameters"):
                cu.by_offset[child.offset] = child
                continue
            self._process(cu, child, top_level=False)

    # --- emitting -------------------------------------------------------------------
    def _tid(self, cu: _CU, off: int, die: DIE, attr: str = "DW_AT_type") -> int:
        target = _ref(die, attr)
        if target is None:
            return 0
        small = cu.ids.get(target)
        return off + small if small is not None else 0

    def encode_cu(self, cu: _CU) -> None:
        b = self.b
        off = b.btf.type_count - 1
        if not self.has_index_type:
            int_id = next(
                (i for i, d in enumerate(cu.types, 1) if d.tag == "DW_TAG_base_type" and _name(d) == "int"),
                None,
            )
            if int_id is not None:
                self.has_index_type = True
                self.array_index_id = off + int_id
            else:
                self.array_index_id = off + len(cu.types) + 1
        for die in cu.types:
            self._encode_type(cu, off, die)
        if self.need_index_type and not self.has_index_type:
            b.add_int("__ARRAY_SIZE_TYPE__", 4)
            self.has_index_type = True
        for fn in cu.functions:
            self._encode_function(cu, off, fn)
        if self.syms.percpu_size is not None:
            for var in cu.variables:
                self._encode_variable(cu, off, var)

    def _encode_type(self, cu: _CU, off: int, die: DIE) -> None:
        b = self.b
        tag = die.tag
        ref = self._tid(cu, off, die)
        if tag == "DW_TAG_base_type":
            self._base_type(die)
        elif tag == "DW_TAG_pointer_type":
            b.add_ptr(ref)
        elif tag == "DW_TAG_const_type":
            b.add_const(ref)
        elif tag == "DW_TAG_volatile_type":
            b.add_volatile(ref)
        elif tag == "DW_TAG_restrict_type":
            b.add_restrict(ref)
        elif tag == "DW_TAG_typedef":
            b.add_typedef(_name(die) or "", ref)
        elif tag in _COMPOSITES:
            self._composite(cu, off, die)
        elif tag == "DW_TAG_array_type":
            self.need_index_type = True
            nelems = 1
            for sub in die.iter_children():
                if sub.tag != "DW_TAG_subrange_type":
                    continue
                if "DW_AT_upper_bound" in sub.attributes:
                    a = sub.attributes["DW_AT_upper_bound"]
                    n = (_udata(sub, "DW_AT_upper_bound") + 1) & _U64 if isinstance(a.value, int) else 0
                elif "DW_AT_count" in sub.attributes:
                    n = _udata(sub, "DW_AT_count")
                else:
                    n = 0
                nelems = (nelems * n) & 0xFFFFFFFF
            b.add_array(ref, self.array_index_id, nelems)
        elif tag == "DW_TAG_enumeration_type":
            self._enum(die)
        else:  # DW_TAG_subroutine_type
            self._proto(cu, off, die, ref)

    def _base_type(self, die: DIE) -> None:
        enc = _udata(die, "DW_AT_encoding")
        size = _udata(die, "DW_AT_byte_size")
        name = _name(die) or ""
        if enc in _SIGNED_ATE:
            encoding = IntEncoding.SIGNED
        elif enc == _ATE_BOOLEAN:
            encoding = IntEncoding.BOOL
        else:
            encoding = IntEncoding.NONE
        if not size or size & (size - 1) or size > 16:
            # pahole's stand-in for DWARF 5's odd-sized DW_OP_convert helper types
            name, size = "__SANITIZED_FAKE_INT__", 4
        self.b.add_int(name, size, encoding)

    def _composite(self, cu: _CU, off: int, die: DIE) -> None:
        b = self.b
        name = _name(die) or ""
        is_union = die.tag == "DW_TAG_union_type"
        if _flag(die, "DW_AT_declaration"):
            b.add_fwd(name, "union" if is_union else "struct")
            return
        tid = b.add_struct(name, _udata(die, "DW_AT_byte_size")) if not is_union else \
            b.add_union(name, _udata(die, "DW_AT_byte_size"))  # fmt: skip
        del tid
        for m in die.iter_children():
            if m.tag != "DW_TAG_member":
                continue
            attrs = m.attributes
            bit_size = _udata(m, "DW_AT_bit_size")
            if "DW_AT_data_bit_offset" in attrs:
                bit_offset = _udata(m, "DW_AT_data_bit_offset")
            else:
                bit_offset = _member_offset(m) * 8
                if bit_size and "DW_AT_bit_offset" in attrs:
                    # DWARF 4 counts from the storage unit's most significant bit
                    unit = _udata(m, "DW_AT_byte_size") or self._type_size(cu, m)
                    bit_offset += unit * 8 - _udata(m, "DW_AT_bit_offset") - bit_size
            mtype = self._tid(cu, off, m)
            if mtype == 0:
                mtype = off  # pahole adds the CU's offset to the member's void type too
            b.add_member(_name(m) or "", mtype, bit_offset, bit_size)

    def _type_size(self, cu: _CU, die: DIE) -> int:
        seen = 0
        target = _ref(die, "DW_AT_type")
        while target is not None and seen < 32:
            t = cu.by_offset.get(target)
            if t is None:
                return 0
            if "DW_AT_byte_size" in t.attributes:
                return _udata(t, "DW_AT_byte_size")
            target = _ref(t, "DW_AT_type")
            seen += 1
        return 0

    def _enum(self, die: DIE) -> None:
        b = self.b
        name = _name(die) or ""
        size = _udata(die, "DW_AT_byte_size") or 4
        values = []
        for e in die.iter_children():
            if e.tag != "DW_TAG_enumerator":
                continue
            a = e.attributes.get("DW_AT_const_value")
            v = int(a.value) & _U64 if a is not None and isinstance(a.value, int) else 0
            values.append((_name(e) or "", v - (1 << 64) if v >> 63 else v))
        signed = any(v < 0 for _, v in values)
        if size > 4:
            b.add_enum64(name, size, values, signed=signed)
        else:
            try:
                b.add_enum(name, size, values)
            except BuildError as exc:
                raise BuildError(f"enum {name or '(anon)'} at DIE {die.offset:#x}: {exc}") from exc

    def _params(self, cu: _CU, off: int, die: DIE) -> tuple[list[tuple[str | None, int]], bool]:
        params: list[tuple[str | None, int]] = []
        unspec = False
        for p in die.iter_children():
            if p.tag == "DW_TAG_unspecified_parameters":
                unspec = True
            elif p.tag == "DW_TAG_formal_parameter":
                name = _name(p)
                if "DW_AT_type" in p.attributes:
                    ptype = self._tid(cu, off, p)
                else:
                    origin_off = _ref(p, "DW_AT_abstract_origin")
                    origin = cu.by_offset.get(origin_off) if origin_off is not None else None
                    if origin is not None:
                        name = _name(origin)
                        ptype = self._tid(cu, off, origin)
                    else:
                        ptype = 0
                params.append((name, ptype))
        return params, unspec

    def _proto(self, cu: _CU, off: int, die: DIE, ret: int,
               params: tuple[list[tuple[str | None, int]], bool] | None = None) -> int:  # fmt: skip
        plist, unspec = params if params is not None else self._params(cu, off, die)
        b = self.b
        tid = b.add_func_proto(ret)
        for name, ptype in plist:
            b.add_param(name or "", ptype)
        if unspec:
            b.add_param("", 0)
        return tid

    def _function_name(self, cu: _CU, die: DIE) -> str | None:
        name = _name(die)
        if name is None:
            for attr in ("DW_AT_abstract_origin", "DW_AT_specification"):
                target = _ref(die, attr)
                origin = cu.by_offset.get(target) if target is not None else None
                if origin is not None:
                    return _name(origin)
        return name

    def _encode_function(self, cu: _CU, off: int, die: DIE) -> None:
        if _flag(die, "DW_AT_declaration"):
            return
        params = self._params(cu, off, die)
        if any(name is None for name, _ in params[0]):
            return
        name = self._function_name(cu, die)
        if self.syms.functions:
            if name is None or name not in self.syms.functions or name in self.generated:
                return
            self.generated.add(name)
        elif not _flag(die, "DW_AT_external") or name is None:
            return
        proto = self._proto(cu, off, die, self._tid(cu, off, die), params)
        self.b.add_func(name, proto, Linkage.STATIC)

    def _encode_variable(self, cu: _CU, off: int, die: DIE) -> None:
        spec_off = _ref(die, "DW_AT_specification")
        spec = cu.by_offset.get(spec_off) if spec_off is not None else None
        if _flag(die, "DW_AT_declaration") and spec is None:
            return
        addr = _location_addr(die)
        if addr is None and spec is None:
            return
        found = self.syms.percpu.get(addr or 0)
        if found is None:
            return
        sym_name, size = found
        var = spec if spec is not None else die
        dwarf_name = _name(die) or _name(var)
        if dwarf_name is not None and dwarf_name != sym_name:
            return
        vtype = self._tid(cu, off, var)
        if vtype == 0:
            raise BuildError(f"per-CPU variable {sym_name!r} at DIE {die.offset:#x} has void type")
        linkage = Linkage.GLOBAL if _flag(var, "DW_AT_external") else Linkage.STATIC
        vid = self.b.add_var(sym_name, vtype, linkage)
        self.percpu_vars.append((vid, addr or 0, size))

    def finish(self) -> None:
        if self.percpu_vars:
            assert self.syms.percpu_size is not None
            self.b.add_datasec(PERCPU_SECTION, self.syms.percpu_size,
                               sorted(self.percpu_vars, key=lambda v: v[1]))  # fmt: skip


# Relocation types that write "symbol + addend" (absolute) into debug sections, with
# their width, per ELF machine; PC-relative ones subtract the place, at section address 0.
_RELOCS: dict[int, dict[int, tuple[int, bool]]] = {
    62: {1: (8, False), 10: (4, False), 11: (4, False), 2: (4, True), 24: (8, True),
         17: (8, False), 21: (4, False)},  # x86_64 (DTPOFF for TLS variables)
    183: {257: (8, False), 258: (4, False), 261: (8, True), 260: (4, True)},  # AArch64
    247: {2: (8, False), 3: (4, False), 4: (4, False)},  # BPF (REL, addend in place)
}  # fmt: skip
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


def _relocate_debug_sections(elf: ELFFile, data: bytearray, name: str) -> None:
    """Apply the relocations of an ``ET_REL`` object's ``.debug_*`` sections to ``data``, in place.

    pyelftools can do this too, but one relocation at a time through its
    structure parser (most of the read time for a module) and without the TLS
    relocation types; here each relocation section is unpacked in one go.
    """
    recipes = _RELOCS.get(_MACHINES.get(str(elf["e_machine"]), -1), {})
    end = "<" if elf.little_endian else ">"
    is64 = elf.elfclass == 64
    symtabs: dict[int, list[int]] = {}
    for sec in elf.iter_sections():
        sh_type = sec.header["sh_type"]
        if sh_type not in ("SHT_RELA", "SHT_REL"):
            continue
        target = elf.get_section(sec["sh_info"])
        if not target.name.startswith(".debug_"):
            continue
        link = int(sec["sh_link"])
        if link not in symtabs:
            symtabs[link] = [s.value for s in _read_symtab(elf, data, link)]
        values = symtabs[link]
        rela = sh_type == "SHT_RELA"
        fmt = end + ("QQq" if rela else "QQ") if is64 else end + ("IIi" if rela else "II")
        base, limit = int(target["sh_offset"]), int(target["sh_size"])
        off, size = int(sec["sh_offset"]), int(sec["sh_size"])
        for entry in struct.iter_unpack(fmt, data[off : off + size]):
            r_offset, r_info = entry[0], entry[1]
            sym, rtype = (r_info >> 32, r_info & 0xFFFFFFFF) if is64 else (r_info >> 8, r_info & 0xFF)
            if rtype == 0:
                continue
            recipe = recipes.get(rtype)
            if recipe is None:
                raise ELFError(f"{name}: unsupported relocation type {rtype} in {sec.name}")
            width, pcrel = recipe
            if r_offset + width > limit or sym >= len(values):
                raise ELFError(f"{name}: relocation at {r_offset:#x} outside {target.name}")
            at = base + r_offset
            if rela:
                addend = entry[2]
            else:
                addend = int.from_bytes(data[at : at + width], "little" if elf.little_endian else "big")
            value = values[sym] + addend - (r_offset if pcrel else 0)
            data[at : at + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(
                width, "little" if elf.little_endian else "big")  # fmt: skip


_MACHINES = {"EM_X86_64": 62, "EM_AARCH64": 183, "EM_BPF": 247}


def _symbols(elf: ELFFile, data: bytes | bytearray) -> _Symbols:
    syms = _Symbols()
    percpu_index = None
    percpu_base = 0
    symtab_index = None
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name == PERCPU_SECTION and percpu_index is None:
            percpu_index = i
            syms.percpu_size = int(sec["sh_size"])
            percpu_base = int(sec["sh_addr"]) if elf["e_type"] != "ET_REL" else 0
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


def _timed(stats: DwarfStats, it: Iterator[Any]) -> Iterator[Any]:
    """Charge the time spent inside ``it`` (pyelftools parsing) to ``stats.read_seconds``."""
    while True:
        t = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            stats.read_seconds += time.perf_counter() - t
            return
        stats.read_seconds += time.perf_counter() - t
        yield item


def dwarf_to_btf(
    data: bytes | bytearray | memoryview,
    name: str,
    base: BTF | None = None,
    stats: DwarfStats | None = None,
    on_cu: Callable[[int], None] | None = None,
) -> BTF:
    """Encode the DWARF of an ELF object as pahole 1.24 does, without deduplication.

    The result is split on ``base`` when given.  Raises :class:`~btfkit.errors.ELFError`
    when the object is not a readable ELF or carries no DWARF.
    """
    st = stats if stats is not None else DwarfStats()
    try:
        t0 = time.perf_counter()
        image = bytearray(data)
        elf = ELFFile(io.BytesIO(image))
        if elf.get_section_by_name(".debug_info") is None:
            raise ELFError(f"{name}: no DWARF (.debug_info) to encode")
        if elf["e_type"] == "ET_REL":
            _relocate_debug_sections(elf, image, name)
            elf = ELFFile(io.BytesIO(image))
        dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
        symbols = _symbols(elf, image)
        st.read_seconds += time.perf_counter() - t0
        builder = Builder(base=base, byteorder="little" if elf.little_endian else "big")
        builder.btf.pointer_size = 8 if elf.elfclass == 64 else 4
        enc = _Encoder(builder, symbols, st)
        for cu in _timed(st, dwarf.iter_CUs()):
            t = time.perf_counter()
            table = enc.table(cu.get_top_DIE())
            t1 = time.perf_counter()
            st.read_seconds += t1 - t
            enc.encode_cu(table)
            st.build_seconds += time.perf_counter() - t1
            st.cus += 1
            if on_cu is not None:
                on_cu(st.cus)
        enc.finish()
    except (_PyELFError, _PyELFParseError, _PyDWARFError, struct.error, ValueError, KeyError,
            IndexError, EOFError, OSError) as exc:  # fmt: skip
        if isinstance(exc, BuildError):
            raise
        raise ELFError(f"{name}: unreadable ELF or DWARF: {exc or type(exc).__name__}") from exc
    return builder.btf

