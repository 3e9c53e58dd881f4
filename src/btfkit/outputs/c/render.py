"""C text for types: definitions and declarations, as libbpf's ``btf_dump`` writes them.

Definitions (``_struct_def``, ``_enum_def``, ``_typedef_def``, ``_fwd_def``)
write one type's block.  Struct layout is reproduced rather than trusted: gaps
become anonymous bitfields (``long: 64;``, ``int: 0;`` to force alignment), and
a struct whose members are not naturally aligned, or whose size is not a
multiple of its alignment, gets ``__attribute__((packed))``.  (libbpf 1.1
writes neither ``aligned`` attributes nor enum size attributes; later versions
add ``__attribute__((aligned(N)))`` and ``mode(byte)``/``mode(word)``.)

Declarations (``_decl`` and ``_emit_type_chain``) turn a chain of BTF types back
into C syntax: the chain is pushed on a stack down to its base type, then
written from the base type outwards, which puts ``const`` after ``*``,
parenthesizes pointers to arrays and functions, and writes anonymous structs,
unions and enums inline.  A declaration without inline definitions never
changes once its names are settled, so it is cached per type as the text
around the declared name; that cache is what keeps a full ``vmlinux.h`` fast in
Python.

What is written when is not decided here (see :mod:`.dumper`); names come from
:class:`~.naming.Names`.
"""

# Hot paths compare kinds with chained == against module constants (faster than
# building a tuple for each membership test).
# ruff: noqa: PLR1714, SIM109
from __future__ import annotations

from array import array
from collections.abc import Iterable

from ...errors import BTFFormatError
from ...format.kinds import (
    ARRAY_NELEMS,
    ARRAY_TYPE,
    ELEMS,
    ENUM64_WORDS,
    ENUM_WORDS,
    INFO,
    MEMBER_WORDS,
    NAME_OFF,
    PARAM_NAME,
    PARAM_TYPE,
    PARAM_WORDS,
    SIZE,
    TYPE,
    signed32,
    signed64,
)
from .common import (
    _ARRAY,
    _CHAIN_NEXT,
    _CONST,
    _ENUM,
    _ENUM64,
    _FLOAT,
    _FUNC_PROTO,
    _FWD,
    _INT,
    _MODS,
    _PFX,
    _PTR,
    _RESTRICT,
    _STRUCT,
    _TYPE_TAG,
    _TYPEDEF,
    _UNION,
    _VOLATILE,
)
from .layout import Layout
from .naming import Names

_SENTINEL = "\0"  # stands for the declared name in cached declarations


class Renderer(Layout):
    """Writes the C text of the indexed types, with caches of declarations."""

    naming: Names
    pads: tuple[tuple[str, int], ...]  # padding types, widest first, with their bits
    decl_named: list[tuple[str, str] | None]  # per type: text before and after a declared name
    decl_anon: list[str | None]  # per type: its declaration without a name
    inline_defs: int  # counts inline (anonymous) definitions written

    def _init_render(self, base: Renderer | None) -> None:
        """Names and declaration caches for every ID (going on from ``base``'s)."""
        self.naming = Names(self, base.naming if base is not None else None)
        self.pads = (("long", self.ptr_sz * 8), ("int", 32), ("short", 16), ("char", 8))
        if base is None:
            self.decl_named = [None] * self.n
            self.decl_anon = [None] * self.n
        else:
            extra = self.n - base.n
            self.decl_named = base.decl_named + [None] * extra
            self.decl_anon = base.decl_anon + [None] * extra
        self.inline_defs = 0

    def _blacklisted(self, tid: int) -> bool:
        # __builtin_va_list is the compiler's own; redefining it breaks other compilers.
        off = self.words[self.woff[tid] + NAME_OFF]
        return bool(off) and self.name(off) == "__builtin_va_list"

    def _fwd_def(self, tid: int) -> str:
        return f"{'union' if (self.words[self.woff[tid] + INFO] >> 31) else 'struct'} {self.naming.type_name(tid)}"

    def _typedef_def(self, tid: int, lvl: int) -> str:
        name = self.naming.ident_name(tid)
        target = self.words[self.woff[tid] + TYPE]
        # Old GCC describes __gnuc_va_list as a typedef of void; write what it means.
        if target == 0 and name == "__gnuc_va_list":
            return "typedef __builtin_va_list __gnuc_va_list"
        return "typedef " + self._decl(target, name, lvl)

    def _struct_def(self, tid: int, lvl: int) -> str:
        words = self.words
        w = self.woff[tid]
        info = words[w + INFO]
        vlen = info & self.vmask
        size = words[w + SIZE]
        is_struct = self.kind[tid] == _STRUCT
        packed = False
        if is_struct:
            if self.align_cache[tid] < 0:
                self.align_cache[tid] = self.composite_align(tid)  # also settles whether it is packed
            packed = self.packed[tid] != 0
        w += ELEMS
        end = w + MEMBER_WORDS * vlen
        if info >> 31:
            lines, off = self._bitfield_members(words, w, end, packed, lvl + 1)
        else:
            # The member loop is the hottest code of a dump: caches are read inline.
            name = self.name
            decl_named, bits = self.decl_named, self.bits
            lines = []
            append = lines.append
            off = 0
            it = iter(words[w:end])  # members in threes: one slice, zipped with itself
            for noff, m_type, m_off in zip(it, it, it, strict=False):
                if off < m_off:
                    self._bit_padding(lines, off, m_off, 1 if packed else self.align_of(m_type), False)
                cached = decl_named[m_type]
                if cached is not None and noff:
                    append(cached[0] + name(noff) + cached[1])
                else:
                    append(self._member_decl(m_type, noff, lvl + 1))
                m_bits = bits[m_type]
                if m_bits < 0:
                    m_bits = self.member_bits(m_type)
                off = m_off + m_bits
        if is_struct and off < size * 8:
            self._bit_padding(lines, off, size * 8, self.align_of(tid), False)
        head = self.naming.tag(tid)
        tail = " __attribute__((packed))" if packed else ""
        if lines:
            nl_ind = "\n" + _PFX[lvl + 1 if lvl < 13 else 13]
            body = (";" + nl_ind).join(lines)
            return f"{head} {{{nl_ind}{body};\n{_PFX[min(lvl, 13)]}}}{tail}"
        if vlen or size:
            return f"{head} {{\n{_PFX[min(lvl, 13)]}}}{tail}"
        return f"{head} {{}}{tail}"

    def _member_decl(self, m_type: int, name_off: int, lvl: int) -> str:
        """A member's declaration (``name_off`` 0 for an anonymous member)."""
        if not self.words[self.woff[m_type] + NAME_OFF] and (self.kind[m_type] == _STRUCT or self.kind[m_type] == _UNION):
            # An anonymous struct or union defined in place: what _decl writes, sooner.
            self.inline_defs += 1
            text = self._struct_def(m_type, lvl)
            name = self.name(name_off) if name_off else ""
            return f"{text} {name}" if name else text
        if name_off:
            return self._decl(m_type, self.name(name_off), lvl)
        return self.decl_anon[m_type] or self._decl(m_type, "", lvl)

    def _bitfield_members(
        self, words: array[int], w: int, end: int, packed: bool, lvl: int
    ) -> tuple[list[str], int]:
        """The member lines of a struct with bitfields (kind flag set), and the bit where they end."""
        bits = self.bits
        lines: list[str] = []
        off = 0
        prev_bitfield = False
        it = iter(words[w:end])
        for noff, m_type, m_word in zip(it, it, it, strict=False):
            m_sz = m_word >> 24
            m_off = m_word & 0xFFFFFF
            if off < m_off:
                m_align = 1 if packed else self.align_of(m_type)
                self._bit_padding(lines, off, m_off, m_align, prev_bitfield and m_sz != 0)
            text = self._member_decl(m_type, noff, lvl)
            if m_sz:
                lines.append(f"{text}: {m_sz}")
                off = m_off + m_sz
                prev_bitfield = True
            else:
                lines.append(text)
                m_bits = bits[m_type]
                if m_bits < 0:
                    m_bits = self.member_bits(m_type)
                off = m_off + m_bits
                prev_bitfield = False
        return lines, off

    def _bit_padding(self, lines: list[str], cur: int, nxt: int, next_align: int, in_bitfield: bool) -> None:
        """Fill the bit gap ``cur``..``nxt`` with anonymous bitfields, as libbpf does.

        The widest of long/int/short/char that reaches an aligned offset within
        the gap is used; a ``<type>: 0;`` mark forces that alignment where the
        compiler would not reach it by itself.
        """
        pads = self.pads
        pad_type, pad_bits, new_off = "char", 8, cur
        for pad_type, pad_bits in pads:  # noqa: B007 (the last pair is used after the loop)
            new_off = -(-cur // pad_bits) * pad_bits
            if new_off <= nxt:
                break
        if cur < new_off <= nxt:
            if (
                in_bitfield
                or (new_off == nxt and (not next_align or -(-cur // (next_align * 8)) * next_align * 8 != new_off))
                or (new_off != nxt and nxt - new_off <= new_off - cur)
            ):
                lines.append(f"{pad_type}: {new_off - cur if in_bitfield else 0}")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                lines.append(f"{pad_type}: {pad_bits}")
                cur += bits
                continue
            # The remainder takes the smallest type that holds it.
            for pad_type, pad_bits in reversed(pads):
                if pad_bits >= bits:
                    lines.append(f"{pad_type}: {bits}")
                    cur += bits
                    break

    def _enum_def(self, tid: int, lvl: int) -> str:
        name = self.naming.type_name(tid)
        words = self.words
        w = self.woff[tid]
        head = f"enum {name}" if words[w + NAME_OFF] else "enum"
        info = words[w + INFO]
        vlen = info & self.vmask
        if not vlen:
            return head
        signed = info >> 31
        get = self.name
        enum_value = self.naming.enum_value
        ind = "\n" + _PFX[lvl + 1 if lvl < 13 else 13]
        parts = [head, " {"]
        append = parts.append
        w += ELEMS
        if self.kind[tid] == _ENUM64:
            it = iter(words[w : w + ENUM64_WORDS * vlen])
            values: Iterable[tuple[int, int | str]] = (
                (noff, f"{signed64(lo | hi << 32)}LL" if signed else f"{lo | hi << 32}ULL")
                for noff, lo, hi in zip(it, it, it, strict=False)
            )
        else:
            it = iter(words[w : w + ENUM_WORDS * vlen])
            values = zip(it, it, strict=False) if not signed else ((noff, signed32(v)) for noff, v in zip(it, it, strict=False))
        for noff, value in values:
            append(f"{ind}{enum_value(get(noff))} = {value},")
        append("\n" + _PFX[min(lvl, 13)] + "}")
        return "".join(parts)

    def _decl(self, tid: int, fname: str, lvl: int) -> str:
        """``tid`` declared as ``fname`` in C syntax (libbpf's ``btf_dump_emit_type_decl``)."""
        if fname:
            cached = self.decl_named[tid]
            if cached is not None:
                return cached[0] + fname + cached[1]
            before = self.inline_defs
            text = self._decl_uncached(tid, _SENTINEL, lvl)
            pieces = text.split(_SENTINEL)
            if len(pieces) != 2:  # malformed chain that never names the declarator
                return text.replace(_SENTINEL, fname)
            if self.inline_defs == before:
                self.decl_named[tid] = (pieces[0], pieces[1])
            return pieces[0] + fname + pieces[1]
        got = self.decl_anon[tid]
        if got is not None:
            return got
        before = self.inline_defs
        text = self._decl_uncached(tid, "", lvl)
        if self.inline_defs == before:
            self.decl_anon[tid] = text
        return text

    def _decl_uncached(self, tid: int, fname: str, lvl: int) -> str:
        kind, words, woff = self.kind, self.words, self.woff
        stack = []
        for _ in range(self.n + 1):  # longer than there are types: a cycle
            stack.append(tid)
            if tid == 0:
                break
            k = kind[tid]
            if k in _CHAIN_NEXT:
                tid = words[woff[tid] + TYPE]
            elif k == _ARRAY:
                tid = words[woff[tid] + ARRAY_TYPE]
            else:
                break  # a base type (or a kind no declaration can hold)
        else:
            raise BTFFormatError("declaration chain is cyclic", type_id=stack[0])
        parts: list[str] = []
        self._emit_type_chain(stack, fname, lvl, parts)
        return "".join(parts)

    def _emit_mods(self, decls: list[int], parts: list[str]) -> None:
        """Write const/volatile/restrict before a base type (on its left, as C reads them)."""
        kind = self.kind
        while decls:
            k = kind[decls[-1]]
            if k == _CONST:
                parts.append("const ")
            elif k == _VOLATILE:
                parts.append("volatile ")
            elif k == _RESTRICT:
                parts.append("restrict ")
            else:
                return
            decls.pop()

    def _drop_mods(self, decls: list[int]) -> None:
        # GCC qualifies arrays and noreturn function pointers in ways C cannot spell.
        kind = self.kind
        while decls and kind[decls[-1]] in _MODS:
            decls.pop()

    def _emit_type_chain(self, decls: list[int], fname: str, lvl: int, parts: list[str]) -> None:
        """Write the stacked chain ``decls`` (base type on top) around the name ``fname``."""
        kind = self.kind
        append = parts.append
        last_was_ptr = True  # no space between "*" and a following "*" or name
        while decls:
            tid = decls.pop()
            if tid == 0:
                self._emit_mods(decls, parts)
                append("void")
                last_was_ptr = False
                continue
            k = kind[tid]
            if k == _PTR:
                append("*" if last_was_ptr else " *")
            elif k == _TYPEDEF:
                if decls and kind[decls[-1]] in _MODS:
                    self._emit_mods(decls, parts)
                append(self.naming.resolved[tid] or self.naming.ident_name(tid))
            elif k == _STRUCT or k == _UNION:
                if decls and kind[decls[-1]] in _MODS:
                    self._emit_mods(decls, parts)
                if self.words[self.woff[tid] + NAME_OFF]:
                    append(self.naming.tags[tid] or self.naming.tag(tid))
                else:
                    self.inline_defs += 1
                    append(self._struct_def(tid, lvl))
            elif k == _INT or k == _FLOAT:
                if decls and kind[decls[-1]] in _MODS:
                    self._emit_mods(decls, parts)
                append(self.name(self.words[self.woff[tid] + NAME_OFF]))
            elif k == _CONST:
                append(" const")
            elif k == _VOLATILE:
                append(" volatile")
            elif k == _RESTRICT:
                append(" restrict")
            elif k == _ENUM or k == _ENUM64:
                self._emit_mods(decls, parts)
                if self.words[self.woff[tid] + NAME_OFF]:
                    append("enum " + self.naming.type_name(tid))
                else:
                    self.inline_defs += 1
                    append(self._enum_def(tid, lvl))
            elif k == _FWD:
                self._emit_mods(decls, parts)
                append(self._fwd_def(tid))
            elif k == _TYPE_TAG:
                self._emit_mods(decls, parts)
                append(f' __attribute__((btf_type_tag("{self.name(self.words[self.woff[tid] + NAME_OFF])}")))')
            elif k == _ARRAY:
                self._drop_mods(decls)
                nelems = self.words[self.woff[tid] + ARRAY_NELEMS]
                if not decls:
                    _emit_name(parts, fname, last_was_ptr)
                    append(f"[{nelems}]")
                    return
                multidim = kind[decls[-1]] == _ARRAY
                if fname and not last_was_ptr:
                    append(" ")
                if not multidim:
                    append("(")
                self._emit_type_chain(decls, fname, lvl, parts)
                if not multidim:
                    append(")")
                append(f"[{nelems}]")
                return
            elif k == _FUNC_PROTO:
                self._drop_mods(decls)
                if decls:
                    append(" (")
                    self._emit_type_chain(decls, fname, lvl, parts)
                    append(")")
                else:
                    _emit_name(parts, fname, last_was_ptr)
                append("(")
                words = self.words
                w = self.woff[tid]
                vlen = words[w + INFO] & self.vmask
                w += ELEMS
                if vlen == 0 or (vlen == 1 and words[w + PARAM_TYPE] == 0):
                    append("void)")
                    return
                for i in range(vlen):
                    if i:
                        append(", ")
                    ptype = words[w + PARAM_WORDS * i + PARAM_TYPE]
                    if i == vlen - 1 and ptype == 0:
                        append("...")  # a trailing void parameter means varargs
                        break
                    pname = words[w + PARAM_WORDS * i + PARAM_NAME]
                    append(self._decl(ptype, self.name(pname) if pname else "", lvl))
                append(")")
                return
            else:
                return  # not a kind a declaration can hold; libbpf warns and stops
            last_was_ptr = k == _PTR
        _emit_name(parts, fname, last_was_ptr)


def _emit_name(parts: list[str], fname: str, last_was_ptr: bool) -> None:
    if fname:
        parts.append(fname if last_was_ptr else " " + fname)
