"""A small, fast reader of DWARF 4 and 5 debugging information entries (DIEs).

pyelftools reads DWARF completely and generally, which made it most of the
time ``btfkit encode`` spent (about 25 µs per DIE).  Encoding BTF needs only
the DIE tree and a dozen attributes, so this reader decodes each
abbreviation once into a plan (which attributes to keep, how to step over
the others) and then walks ``.debug_info`` with it.  Sections come in
already relocated (see :mod:`btfkit.dwarf`).

Attribute values: constants as ints (``DW_FORM_sdata`` and
``DW_FORM_implicit_const`` signed, the other data forms unsigned), strings as
``str``, references (in the attributes listed in ``_REF_ATTRS``) as absolute
``.debug_info`` offsets, flags as ``True``, expressions and blocks as
``bytes``; a form that gives none of these for an attribute leaves
:data:`NOT_CONSTANT` (the attribute is present, but not a number).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from ..errors import ELFError

__all__ = ["NOT_CONSTANT", "Die", "Unit", "iter_units", "unit_offsets"]

# DW_AT_* codes this reader keeps.
AT_LOCATION, AT_NAME, AT_BYTE_SIZE, AT_BIT_OFFSET, AT_BIT_SIZE = 0x02, 0x03, 0x0B, 0x0C, 0x0D
AT_CONST_VALUE, AT_UPPER_BOUND, AT_ABSTRACT_ORIGIN, AT_COUNT = 0x1C, 0x2F, 0x31, 0x37
AT_DATA_MEMBER_LOCATION, AT_DECLARATION, AT_ENCODING, AT_EXTERNAL = 0x38, 0x3C, 0x3E, 0x3F
AT_SPECIFICATION, AT_TYPE, AT_DATA_BIT_OFFSET = 0x47, 0x49, 0x6B
AT_STR_OFFSETS_BASE, AT_ADDR_BASE = 0x72, 0x73
_KEPT = frozenset(
    {
        AT_LOCATION, AT_NAME, AT_BYTE_SIZE, AT_BIT_OFFSET, AT_BIT_SIZE, AT_CONST_VALUE,
        AT_UPPER_BOUND, AT_ABSTRACT_ORIGIN, AT_COUNT, AT_DATA_MEMBER_LOCATION, AT_DECLARATION,
        AT_ENCODING, AT_EXTERNAL, AT_SPECIFICATION, AT_TYPE, AT_DATA_BIT_OFFSET,
        AT_STR_OFFSETS_BASE, AT_ADDR_BASE,
    }
)  # fmt: skip
_REF_ATTRS = frozenset({AT_TYPE, AT_ABSTRACT_ORIGIN, AT_SPECIFICATION})


class _NotConstant:
    def __repr__(self) -> str:
        return "NOT_CONSTANT"


NOT_CONSTANT = _NotConstant()

# DW_FORM_* codes.
_ADDR, _BLOCK2, _BLOCK4, _DATA2, _DATA4, _DATA8, _STRING, _BLOCK, _BLOCK1 = 1, 3, 4, 5, 6, 7, 8, 9, 0xA
_DATA1, _FLAG, _SDATA, _STRP, _UDATA, _REF_ADDR = 0xB, 0xC, 0xD, 0xE, 0xF, 0x10
_REF1, _REF2, _REF4, _REF8, _REF_UDATA, _INDIRECT = 0x11, 0x12, 0x13, 0x14, 0x15, 0x16
_SEC_OFFSET, _EXPRLOC, _FLAG_PRESENT, _STRX, _ADDRX, _REF_SUP4 = 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C
_STRP_SUP, _DATA16, _LINE_STRP, _REF_SIG8, _IMPLICIT_CONST = 0x1D, 0x1E, 0x1F, 0x20, 0x21
_LOCLISTX, _RNGLISTX, _REF_SUP8 = 0x22, 0x23, 0x24
_STRX1, _STRX2, _STRX3, _STRX4, _ADDRX1, _ADDRX2, _ADDRX3, _ADDRX4 = range(0x25, 0x2D)
_GNU_ADDR_INDEX, _GNU_STR_INDEX, _GNU_REF_ALT, _GNU_STRP_ALT = 0x1F01, 0x1F02, 0x1F20, 0x1F21

_FIXED = {
    _DATA1: 1, _REF1: 1, _FLAG: 1, _STRX1: 1, _ADDRX1: 1,
    _DATA2: 2, _REF2: 2, _STRX2: 2, _ADDRX2: 2,
    _STRX3: 3, _ADDRX3: 3,
    _DATA4: 4, _REF4: 4, _STRX4: 4, _ADDRX4: 4, _REF_SUP4: 4,
    _DATA8: 8, _REF8: 8, _REF_SIG8: 8, _REF_SUP8: 8,
    _DATA16: 16, _FLAG_PRESENT: 0, _IMPLICIT_CONST: 0,
}  # fmt: skip
_LEB_FORMS = frozenset({_UDATA, _SDATA, _REF_UDATA, _STRX, _ADDRX, _LOCLISTX, _RNGLISTX,
                        _GNU_ADDR_INDEX, _GNU_STR_INDEX})  # fmt: skip


class Die:
    """One debugging information entry: its offset, tag, kept attributes and children."""

    __slots__ = ("attrs", "children", "offset", "tag")

    def __init__(self, offset: int, tag: int, attrs: dict[int, object]):
        self.offset = offset
        self.tag = tag
        self.attrs = attrs
        self.children: list[Die] = []

    def __repr__(self) -> str:
        return f"Die({self.offset:#x}, tag={self.tag:#x}, attrs={self.attrs!r}, {len(self.children)} children)"


@dataclass
class Unit:
    """A compilation unit: its header facts and its root DIE."""

    offset: int
    version: int
    address_size: int
    offset_size: int
    top: Die
    addr_base: int = 0


class _Abbrev:
    __slots__ = ("children", "plan", "skip_fixed", "skip_plan", "tag")

    def __init__(self, tag: int, children: bool, plan: list[tuple[int, int, int]],
                 skip_plan: list[tuple[int, int, int]] | None = None):  # fmt: skip
        self.tag = tag
        self.children = children
        self.plan = plan  # (attribute, form, implicit constant); attribute -1: skip
        self.skip_plan = skip_plan if skip_plan is not None else plan  # the same, keeping nothing
        # the size of all the attributes, when it does not vary
        fixed = all(step[0] == _SKIP for step in self.skip_plan)
        self.skip_fixed = sum(step[1] for step in self.skip_plan) if fixed else -1


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos


# Tags whose attributes encoding never looks at (their children are still read).
_OPAQUE_TAGS = frozenset({0x0A, 0x0B, 0x1D, 0x48, 0x49, 0x4109, 0x410A})  # labels, blocks, call sites
# Type DIEs, and what a function keeps of its children besides them (parameters, annotations).
_TYPE_TAGS = frozenset({0x01, 0x02, 0x04, 0x0F, 0x13, 0x15, 0x16, 0x17, 0x24, 0x26, 0x35, 0x37})
_PARAM_TAGS = frozenset({0x05, 0x18, 0x6000})  # and clang's DW_TAG_LLVM_annotation (decl tags)
_SUBPROGRAM = 0x2E
# What a DIE's children are: all kept, a function's (parameters and types kept, the rest of
# the body dropped, with the types found inside it lifted to the function), or dropped.
_KEEP_ALL, _FUNCTION, _DROPPED = 0, 1, 2
# Plan steps are (attribute, form, implicit constant) for the general case, attribute -1
# to step over a value of variable size, or (op, ...) for these frequent cases:
_SKIP = -2  # (_SKIP, n, 0): step over n bytes (unkept attributes of fixed size, merged)
_OP_STRP, _OP_BYTE, _OP_UINT, _OP_REF, _OP_TRUE, _OP_CONST = -3, -4, -5, -6, -7, -8


def _compile(raw: dict[int, _Abbrev], offset_size: int, address_size: int, ref_addr_size: int) -> dict[int, _Abbrev]:
    """Abbreviations with their plans specialised for one unit's sizes: unkept fixed-size
    attributes merge into single skips, and opaque tags keep nothing."""
    sized = {_STRP: offset_size, _LINE_STRP: offset_size, _SEC_OFFSET: offset_size, _STRP_SUP: offset_size,
             _GNU_REF_ALT: offset_size, _GNU_STRP_ALT: offset_size, _ADDR: address_size,
             _REF_ADDR: ref_addr_size}  # fmt: skip
    out = {}
    for code, ab in raw.items():
        plans: list[list[tuple[int, int, int]]] = []
        for keep_any in (ab.tag not in _OPAQUE_TAGS, False):
            plan: list[tuple[int, int, int]] = []
            for attr, form, implicit in ab.plan:
                keep = attr >= 0 and keep_any
                size = _FIXED.get(form, sized.get(form))
                if not keep and size is not None:
                    if plan and plan[-1][0] == _SKIP:
                        plan[-1] = (_SKIP, plan[-1][1] + size, 0)
                    elif size:
                        plan.append((_SKIP, size, 0))
                elif not keep:
                    plan.append((-1, form, implicit))
                elif form == _STRP:  # the common kept forms get a step of their own
                    plan.append((_OP_STRP, attr, offset_size))
                elif form == _DATA1:
                    plan.append((_OP_BYTE, attr, 0))
                elif form in (_DATA2, _DATA4, _DATA8, _SEC_OFFSET):
                    plan.append((_OP_UINT, attr, size if size is not None else 0))
                elif form in (_REF1, _REF2, _REF4, _REF8) and attr in _REF_ATTRS:
                    plan.append((_OP_REF, attr, size if size is not None else 0))
                elif form == _FLAG_PRESENT:
                    plan.append((_OP_TRUE, attr, 0))
                elif form == _IMPLICIT_CONST:
                    plan.append((_OP_CONST, attr, implicit))
                else:
                    plan.append((attr, form, implicit))
            plans.append(plan)
        out[code] = _Abbrev(ab.tag, ab.children, plans[0], plans[1])
    return out


def _abbrevs(data: bytes, pos: int) -> dict[int, _Abbrev]:
    table: dict[int, _Abbrev] = {}
    while True:
        code, pos = _uleb(data, pos)
        if code == 0:
            return table
        tag, pos = _uleb(data, pos)
        children = data[pos] != 0
        pos += 1
        plan = []
        while True:
            attr, pos = _uleb(data, pos)
            form, pos = _uleb(data, pos)
            implicit = 0
            if form == _IMPLICIT_CONST:
                implicit, pos = _sleb(data, pos)
            if attr == 0 and form == 0:
                break
            plan.append((attr if attr in _KEPT else -1, form, implicit))
        table[code] = _Abbrev(tag, children, plan)


def _cstr(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("utf-8", "surrogateescape"), end + 1


class _Reader:
    def __init__(self, sections: dict[str, bytes], little: bool):
        self.info = sections[".debug_info"]
        self.abbrev = sections.get(".debug_abbrev", b"")
        self.str = sections.get(".debug_str", b"")
        self.line_str = sections.get(".debug_line_str", b"")
        self.str_offsets = sections.get(".debug_str_offsets", b"")
        self.order: Literal["little", "big"] = "little" if little else "big"
        self.abbrev_cache: dict[tuple[int, int, int, bool], dict[int, _Abbrev]] = {}
        self.strings: tuple[dict[int, str], dict[int, str]] = ({}, {})

    def _str_at(self, which: int, off: int) -> str:
        cache = self.strings[which]
        s = cache.get(off)
        if s is None:
            data = self.str if which == 0 else self.line_str
            try:
                s = _cstr(data, off)[0]
            except ValueError:
                raise ELFError(f"string offset {off:#x} outside its DWARF string section") from None
            cache[off] = s
        return s

    def unit(self, pos: int) -> tuple[Unit, int]:
        info, order = self.info, self.order
        length = int.from_bytes(info[pos : pos + 4], order)
        offset_size = 4
        hdr = pos + 4
        if length == 0xFFFFFFFF:
            length = int.from_bytes(info[pos + 4 : pos + 12], order)
            offset_size = 8
            hdr = pos + 12
        end = hdr + length
        if end > len(info) or length < 7:
            raise ELFError(f"compilation unit at {pos:#x} runs past .debug_info")
        version = int.from_bytes(info[hdr : hdr + 2], order)
        if version >= 5:
            unit_type = info[hdr + 2]
            address_size = info[hdr + 3]
            abbrev_off = int.from_bytes(info[hdr + 4 : hdr + 4 + offset_size], order)
            p = hdr + 4 + offset_size
            if unit_type in (2, 6):  # type unit: signature and type offset
                p += 8 + offset_size
            elif unit_type in (4, 5):  # skeleton / split compile unit: DWO id
                p += 8
        elif version in (2, 3, 4):
            abbrev_off = int.from_bytes(info[hdr + 2 : hdr + 2 + offset_size], order)
            address_size = info[hdr + 2 + offset_size]
            p = hdr + 3 + offset_size
        else:
            raise ELFError(f"compilation unit at {pos:#x}: DWARF version {version} not supported")
        key = (abbrev_off, offset_size, address_size, version >= 3)
        abbrevs = self.abbrev_cache.get(key)
        if abbrevs is None:
            try:
                raw = _abbrevs(self.abbrev, abbrev_off)
            except IndexError:
                raise ELFError(f"abbreviation table at {abbrev_off:#x} runs past .debug_abbrev") from None
            ref_addr_size = offset_size if version >= 3 else address_size
            abbrevs = self.abbrev_cache[key] = _compile(raw, offset_size, address_size, ref_addr_size)
        try:
            top = self._dies(pos, p, end, abbrevs, version, address_size, offset_size)
        except (IndexError, ValueError) as exc:
            raise ELFError(f"compilation unit at {pos:#x}: malformed DIEs ({exc})") from None
        unit = Unit(pos, version, address_size, offset_size, top)
        base = top.attrs.get(AT_ADDR_BASE)
        unit.addr_base = base if isinstance(base, int) else 0
        return unit, end

    def _skip(self, form: int, p: int, die_off: int, sizes: tuple[int, int, int]) -> int:
        """The position after an attribute value of variable size (or of an unplanned form)."""
        info = self.info
        size = _FIXED.get(form)
        if size is not None:
            return p + size
        if form in _LEB_FORMS:
            while info[p] & 0x80:
                p += 1
            return p + 1
        if form in (_STRP, _LINE_STRP, _SEC_OFFSET, _STRP_SUP, _GNU_REF_ALT, _GNU_STRP_ALT):
            return p + sizes[0]
        if form == _ADDR:
            return p + sizes[1]
        if form == _REF_ADDR:
            return p + sizes[2]
        if form == _STRING:
            return info.index(b"\0", p) + 1
        if form in (_EXPRLOC, _BLOCK):
            n, p = _uleb(info, p)
            return p + n
        if form == _BLOCK1:
            return p + 1 + info[p]
        if form == _BLOCK2:
            return p + 2 + int.from_bytes(info[p : p + 2], self.order)
        if form == _BLOCK4:
            return p + 4 + int.from_bytes(info[p : p + 4], self.order)
        if form == _INDIRECT:
            form, p = _uleb(info, p)
            return self._skip(form, p, die_off, sizes)
        raise ELFError(f"DIE at {die_off:#x}: unknown attribute form {form:#x}")

    def _dies(self, cu: int, p: int, end: int, abbrevs: dict[int, _Abbrev], version: int,  # noqa: PLR0917
              address_size: int, offset_size: int) -> Die:  # fmt: skip
        info, order = self.info, self.order
        from_bytes = int.from_bytes
        ref_addr_size = offset_size if version >= 3 else address_size
        sizes = (offset_size, address_size, ref_addr_size)
        root: Die | None = None
        # (the DIE children attach to, what the children are)
        stack: list[tuple[Die, int]] = []
        str_base = 0
        pending_strx: list[tuple[dict[int, object], int, int]] = []
        while p < end:
            die_off = p
            code = info[p]
            if code < 0x80:
                p += 1
            else:
                code, p = _uleb(info, p)
            if code == 0:
                if stack:
                    stack.pop()
                if not stack and root is not None:
                    break
                continue
            ab = abbrevs.get(code)
            if ab is None:
                raise ELFError(f"DIE at {die_off:#x}: unknown abbreviation code {code}")
            if stack:
                parent, context = stack[-1]
                if context != _KEEP_ALL and ab.tag not in _TYPE_TAGS and (
                    context == _DROPPED or ab.tag not in _PARAM_TAGS
                ):
                    # Function bodies: locals, blocks, inlined calls and call sites hold
                    # nothing BTF needs but the types defined inside them.
                    if ab.skip_fixed >= 0:
                        p += ab.skip_fixed
                    else:
                        for attr, plan_form, _implicit in ab.skip_plan:
                            p = p + plan_form if attr == _SKIP else self._skip(plan_form, p, die_off, sizes)
                    if ab.children:
                        stack.append((parent, _DROPPED))
                    continue
            attrs: dict[int, object] = {}
            for attr, plan_form, implicit in ab.plan:
                if attr < -1:  # one of the specialised steps
                    if attr == _SKIP:
                        p += plan_form
                    elif attr == _OP_STRP:
                        attrs[plan_form] = self._str_at(0, from_bytes(info[p : p + implicit], order))
                        p += implicit
                    elif attr == _OP_REF:
                        attrs[plan_form] = cu + from_bytes(info[p : p + implicit], order)
                        p += implicit
                    elif attr == _OP_BYTE:
                        attrs[plan_form] = info[p]
                        p += 1
                    elif attr == _OP_TRUE:
                        attrs[plan_form] = True
                    elif attr == _OP_CONST:
                        attrs[plan_form] = implicit
                    else:  # _OP_UINT
                        attrs[plan_form] = from_bytes(info[p : p + implicit], order)
                        p += implicit
                    continue
                form = plan_form
                if form == _INDIRECT:
                    form, p = _uleb(info, p)
                size = _FIXED.get(form)
                if attr < 0:  # not kept: step over it
                    p = p + size if size is not None else self._skip(form, p, die_off, sizes)
                    continue
                value: object
                if size is not None and form not in (_FLAG_PRESENT, _IMPLICIT_CONST, _DATA16):
                    raw = from_bytes(info[p : p + size], order)
                    p += size
                    if form in (_REF1, _REF2, _REF4, _REF8):
                        value = cu + raw if attr in _REF_ATTRS else NOT_CONSTANT
                    elif form in (_STRX1, _STRX2, _STRX3, _STRX4):
                        value = raw
                        pending_strx.append((attrs, attr, raw))
                    elif form == _FLAG:
                        value = raw != 0
                    elif form in (_ADDRX1, _ADDRX2, _ADDRX3, _ADDRX4, _REF_SIG8, _REF_SUP4, _REF_SUP8):
                        value = NOT_CONSTANT
                    else:
                        value = raw
                elif form == _FLAG_PRESENT:
                    value = True
                elif form == _IMPLICIT_CONST:
                    value = implicit
                elif form == _DATA16:
                    value = NOT_CONSTANT
                    p += 16
                elif form == _SDATA:
                    value, p = _sleb(info, p)
                elif form == _UDATA:
                    value, p = _uleb(info, p)
                elif form == _REF_UDATA:
                    raw, p = _uleb(info, p)
                    value = cu + raw if attr in _REF_ATTRS else NOT_CONSTANT
                elif form == _STRP:
                    value = self._str_at(0, from_bytes(info[p : p + offset_size], order))
                    p += offset_size
                elif form == _LINE_STRP:
                    value = self._str_at(1, from_bytes(info[p : p + offset_size], order))
                    p += offset_size
                elif form == _STRING:
                    value, p = _cstr(info, p)
                elif form in (_STRX, _GNU_STR_INDEX):
                    raw, p = _uleb(info, p)
                    value = raw
                    pending_strx.append((attrs, attr, raw))
                elif form == _SEC_OFFSET:
                    value = from_bytes(info[p : p + offset_size], order)
                    p += offset_size
                elif form == _ADDR:
                    value = from_bytes(info[p : p + address_size], order)
                    p += address_size
                elif form == _REF_ADDR:
                    raw = from_bytes(info[p : p + ref_addr_size], order)
                    p += ref_addr_size
                    value = raw if attr in _REF_ATTRS else NOT_CONSTANT
                elif form in (_EXPRLOC, _BLOCK):
                    n, p = _uleb(info, p)
                    value = info[p : p + n]
                    p += n
                elif form == _BLOCK1:
                    n = info[p]
                    value = info[p + 1 : p + 1 + n]
                    p += 1 + n
                elif form == _BLOCK2:
                    n = from_bytes(info[p : p + 2], order)
                    value = info[p + 2 : p + 2 + n]
                    p += 2 + n
                elif form == _BLOCK4:
                    n = from_bytes(info[p : p + 4], order)
                    value = info[p + 4 : p + 4 + n]
                    p += 4 + n
                elif form in (_ADDRX, _LOCLISTX, _RNGLISTX, _GNU_ADDR_INDEX):
                    _, p = _uleb(info, p)
                    value = NOT_CONSTANT
                elif form in (_STRP_SUP, _GNU_REF_ALT, _GNU_STRP_ALT):
                    p += offset_size
                    value = NOT_CONSTANT
                else:
                    raise ELFError(f"DIE at {die_off:#x}: unknown attribute form {form:#x}")
                attrs[attr] = value
            die = Die(die_off, ab.tag, attrs)
            if stack:
                stack[-1][0].children.append(die)
            elif root is None:
                root = die
                sb = attrs.get(AT_STR_OFFSETS_BASE)
                str_base = sb if isinstance(sb, int) else 8 if offset_size == 4 else 16
            else:
                break
            if ab.children:
                stack.append((die, _FUNCTION if ab.tag == _SUBPROGRAM else _KEEP_ALL))
            elif root is die:
                break
        if root is None:
            raise ELFError(f"compilation unit at {cu:#x} has no DIEs")
        for attrs, attr, index in pending_strx:  # resolved once the unit's DW_AT_str_offsets_base is known
            at = str_base + index * offset_size
            attrs[attr] = self._str_at(0, from_bytes(self.str_offsets[at : at + offset_size], order))
        return root


def iter_units(sections: dict[str, bytes], little_endian: bool, start: int = 0, end: int | None = None) -> Iterator[Unit]:
    """The compilation units of ``sections`` (``.debug_info`` and friends, relocated), in
    order; those from offset ``start`` (a unit's) up to ``end`` if given."""
    reader = _Reader(sections, little_endian)
    pos, size = start, len(reader.info) if end is None else end
    while pos + 11 <= size:
        unit, pos = reader.unit(pos)
        yield unit


def unit_offsets(info: bytes, little_endian: bool) -> list[int]:
    """Where each compilation unit of ``.debug_info`` starts (from the unit lengths alone)."""
    order: Literal["little", "big"] = "little" if little_endian else "big"
    out = []
    pos, size = 0, len(info)
    while pos + 11 <= size:
        out.append(pos)
        length = int.from_bytes(info[pos : pos + 4], order)
        if length == 0xFFFFFFFF:
            length = 8 + int.from_bytes(info[pos + 4 : pos + 12], order)
        if length < 7:
            raise ELFError(f"compilation unit at {pos:#x} is too short")
        pos += 4 + length
    return out
