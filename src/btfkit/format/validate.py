"""Validation modelled on the kernel's BTF verifier (``kernel/bpf/btf.c``, Linux 6.18).

:func:`validate` answers "would the running kernel accept this BTF?" for a
:class:`~btfkit.format.btf.BTF` object; :func:`validate_bytes` also checks the header
rules that :func:`~btfkit.format.reader.parse` tolerates (gaps between sections,
trailing bytes, unknown header fields and, for ``BPF_BTF_LOAD``, byte order and
size).  The first broken rule raises :class:`~btfkit.errors.BTFValidationError`
naming the type ID and, where there is one, the byte offset in the blob as
:func:`~btfkit.format.writer.to_bytes` lays it out.

The kernel checks in the same order as here:

1. *Header and sections*: contiguous, no gap, no overlap, strings last.
2. *Strings*: a base's strings start and end with NUL; no string offset past 16M.
3. *Meta pass*: every record on its own, in ID order: info bits, kind, name
   syntax, kind_flag and vlen, sizes, member offsets, DATASEC entries.  The
   per-kind facts come from :data:`~btfkit.format.kinds.KINDS` (``names``,
   ``elem_names``, ``kflag_ok``, ``vlen_max``, ``size_values``); only what a
   table cannot say (INT encodings, member and entry layout) has code here.
4. *Resolve pass*: for every type that refers to others, a depth-first walk
   proving the references end (a loop is allowed only through a pointer) in
   types that have a size, and that every member fits its struct.  The walk
   uses an explicit stack capped at 32 entries like the kernel's, so a
   reference loop or a very long unresolved chain fails instead of recursing.
   The kernel's walk has three modes (how far to follow pointers, arrays and
   structs) and a few quirks (which entries it re-checks after a push); both
   are kept so that btfkit accepts exactly what the kernel accepts.
5. *Type tags* must come before every other modifier in a chain.

Not modelled: the kernel's search for special fields (``bpf_spin_lock``,
kptrs, graph roots) in structs, which only matters for maps and programs.
"""

from __future__ import annotations

import re
import struct
import sys
import weakref
from array import array
from collections.abc import Callable
from itertools import accumulate
from typing import Final, NoReturn

from ..errors import BTFHeaderError, BTFValidationError
from ..format.btf import BTF
from ..format.kinds import HEADER_LEN, KINDS, MAX_NAME_OFFSET, MAX_TYPE_ID, Kind, Names, Role
from ..format.reader import _byteorder, parse

__all__ = ["MAX_LOAD_SIZE", "validate", "validate_bytes"]

#: The largest blob ``BPF_BTF_LOAD`` takes.
MAX_LOAD_SIZE: Final = 16 * 1024 * 1024
_MAX_RESOLVE_DEPTH: Final = 32
_KSYM_NAME_LEN: Final = 512  # the longest name the kernel takes
_INFO_MASK: Final = 0x9F00FFFF  # vlen, a 5-bit kind and kind_flag; all else must be 0
_INT_MASK: Final = 0x0FFFFFFF
_U32: Final = 0xFFFFFFFF
_POINTER_SIZE: Final = 8  # the verifier's sizeof(void *) on a 64-bit kernel

# The kernel's ctype table treats Latin-1 letters (0xc0-0xff but for 0xd7 and
# 0xf7) as letters and everything from 0xa0 up as printable; a name is checked
# byte by byte against it.
_ALPHA = rb"A-Za-z\xc0-\xd6\xd8-\xf6\xf8-\xff"
_IDENT = re.compile(rb"[%s_.][%s0-9_.]{0,%d}\Z" % (_ALPHA, _ALPHA, _KSYM_NAME_LEN - 1))
_SECTION = re.compile(rb"[\x20-\x7e\xa0-\xff]{1,%d}\Z" % _KSYM_NAME_LEN)

# Per-kind facts as tuples indexed by kind number (0 stands for void).
_NKINDS = max(KINDS) + 1
_ROLE = tuple(KINDS[k].role if k in KINDS else Role.SINK for k in range(_NKINDS))
_SIZED = tuple(k in KINDS and KINDS[k].sized for k in range(_NKINDS))
_SIZELESS = tuple(k == 0 or KINDS[k].sizeless for k in range(_NKINDS))
_MOD = tuple(r == Role.MODIFIER for r in _ROLE)
_NEEDS = tuple(r != Role.SINK for r in _ROLE)
_SOURCE_ONLY = tuple(r in (Role.VAR, Role.DECL_TAG, Role.DATASEC) for r in _ROLE)
_DECL_TAG_TARGETS = frozenset({Kind.FUNC, Kind.STRUCT, Kind.UNION, Kind.VAR, Kind.TYPEDEF})
_POINTEE_WITHOUT_SIZE = frozenset({0, Kind.FWD, Kind.FUNC_PROTO})  # void, forward, function

# Resolve modes: how far the walk started from the root type must go.
_TBD, _PTR, _SOA = 0, 1, 2  # undecided, from a pointer, from a struct or an array
_NOT_VISITED, _VISITED, _RESOLVED = 0, 1, 2
_UNKNOWN: Final = object()


def validate(btf: BTF) -> None:
    """Check ``btf`` against the rules of the kernel's BTF verifier.

    A split BTF is checked on top of its base, which is validated first (once;
    the result is cached for as long as the base does not grow).  Raises
    :class:`~btfkit.errors.BTFValidationError` at the first broken rule.
    """
    btf.check_references()
    _Verifier(btf).run()


def validate_bytes(
    data: bytes | bytearray | memoryview, base: BTF | None = None, *, load: bool = False
) -> BTF:
    """Check raw BTF as the kernel would, including header layout; return the parsed BTF.

    With ``load=True`` the rules specific to ``BPF_BTF_LOAD`` apply too: the
    blob must be in the host's byte order and at most :data:`MAX_LOAD_SIZE`.
    Header and section-layout problems raise :class:`~btfkit.errors.BTFHeaderError`
    (as the reader does), anything the reader rejects its own error, and every
    other broken rule :class:`~btfkit.errors.BTFValidationError`; all are
    :class:`~btfkit.errors.BTFFormatError`.
    """
    view = memoryview(data).cast("B")
    order = _byteorder(view)
    size = len(view)
    if load and order != sys.byteorder:
        raise BTFHeaderError(
            f"{order}-endian BTF: the kernel loads only native byte order", offset=0
        )
    if load and size > MAX_LOAD_SIZE:
        raise BTFHeaderError(f"{size} bytes is more than BPF_BTF_LOAD takes ({MAX_LOAD_SIZE})")
    if size < 8:
        raise BTFHeaderError("too short to hold the header length", offset=0)
    fields = struct.unpack_from(("<" if order == "little" else ">") + "I", view, 4)
    hdr_len = fields[0]
    if hdr_len > size:
        raise BTFHeaderError(f"header length {hdr_len} beyond the {size}-byte blob", offset=4)
    if any(view[HEADER_LEN:hdr_len]):
        # 6.18 knows the 24-byte header only; anything after it must be zero.
        raise BTFHeaderError(
            "non-zero header fields past byte 24 (unknown to the kernel)", offset=HEADER_LEN
        )
    if hdr_len >= HEADER_LEN:
        type_off, type_len, str_off, str_len = struct.unpack_from(
            ("<" if order == "little" else ">") + "4I", view, 8
        )
        _check_sections(type_off, type_len, str_off, str_len, size - hdr_len)
    btf = parse(view, base)
    validate(btf)
    return btf


def _check_sections(type_off: int, type_len: int, str_off: int, str_len: int, body: int) -> None:
    """Sections must tile the data after the header exactly, strings last."""
    total = 0
    for off, length, what, at in sorted(
        [(type_off, type_len, "type", 8), (str_off, str_len, "string", 16)]
    ):
        if off > body:
            raise BTFHeaderError(
                f"{what} section offset {off} beyond the data ({body} bytes)", offset=at
            )
        if off > total:
            raise BTFHeaderError(f"gap of {off - total} bytes before the {what} section", offset=at)
        if off < total:
            raise BTFHeaderError(f"{what} section overlaps the previous section", offset=at)
        if length > body - total:
            raise BTFHeaderError(
                f"{what} section length {length} runs past the data", offset=at + 4
            )
        total += length
    if total != body:
        raise BTFHeaderError(f"{body - total} bytes of unknown data after the sections")
    if str_off + str_len != body:
        raise BTFHeaderError("the string section is not at the end of the data", offset=16)


class _Resolved:
    """What resolving one BTF (and its bases) leaves behind, indexed by type ID."""

    __slots__ = ("kinds", "rids", "rsizes")

    def __init__(self, kinds: bytearray, rids: array[int], rsizes: array[int]):
        self.kinds = kinds  # kind of every ID, 0 for void
        self.rids = rids  # the sized type each ID resolves to
        self.rsizes = rsizes  # resolved byte size (arrays)


# Validated bases, so that checking many modules resolves vmlinux once.
_CACHE: weakref.WeakKeyDictionary[BTF, tuple[int, _Resolved]] = weakref.WeakKeyDictionary()


def _resolved_base(base: BTF) -> _Resolved:
    hit = _CACHE.get(base)
    if hit is not None and hit[0] == len(base.words):
        return hit[1]
    try:
        state = _Verifier(base).run()
    except BTFValidationError as exc:
        raise BTFValidationError(f"base BTF: {exc}") from exc
    _CACHE[base] = (len(base.words), state)
    return state


class _Verifier:
    """One run of the verifier over the own types of one BTF."""

    def __init__(self, btf: BTF):
        self.btf = btf
        self.words = btf.words
        self.offs = btf.offsets
        self.start = btf.start_id
        self.count = btf.type_count
        self.hdr = btf.header_len
        self.str_end = btf.strings.end
        self.mode = _TBD
        self.stack: list[list[int]] = []  # [type ID, next member to check]
        self._root = 0  # the type the current walk started from
        # Filled by run(), indexed by type ID over the whole chain:
        self.kinds = bytearray()
        self.rids = array("I")
        self.rsizes = array("I")
        self.visit = bytearray()
        self._ident: dict[int, object] = {}  # offset -> match (or None) of _IDENT
        self._meta: dict[int, Callable[[int, int, int, int, int], None]] = {
            Kind.INT: self._meta_int,
            Kind.ARRAY: self._meta_array,
            Kind.STRUCT: self._meta_members,
            Kind.UNION: self._meta_members,
            Kind.ENUM: self._meta_enum,
            Kind.ENUM64: self._meta_enum,
            Kind.VAR: self._meta_var,
            Kind.DATASEC: self._meta_datasec,
            Kind.DECL_TAG: self._meta_decl_tag,
        }
        self._resolvers: dict[Role, Callable[[list[int]], None]] = {
            Role.MODIFIER: self._resolve_modifier,
            Role.PTR: self._resolve_ptr,
            Role.ARRAY: self._resolve_array,
            Role.STRUCT: self._resolve_struct,
            Role.VAR: self._resolve_var,
            Role.FUNC: self._resolve_func,
            Role.DECL_TAG: self._resolve_decl_tag,
            Role.DATASEC: self._resolve_datasec,
        }

    # --- reporting and access ---------------------------------------------------------
    def fail(self, type_id: int, message: str, word: int | None = None) -> NoReturn:
        """Raise for ``type_id``; ``word`` is a word index into the own type section."""
        offset = None if word is None else self.hdr + 4 * word
        raise BTFValidationError(message, type_id=type_id, offset=offset)

    def rec(self, type_id: int) -> tuple[array[int], int]:
        """The words holding ``type_id``'s record and its first word."""
        if type_id >= self.start:
            return self.words, self.offs[type_id - self.start]
        owner, w = self.btf.locate(type_id)
        return owner.words, w

    def kind(self, type_id: int) -> int:
        """Kind of ``type_id``, 0 for void, -1 for an ID that does not exist."""
        return self.kinds[type_id] if type_id < self.count else -1

    def size_word(self, type_id: int) -> int:
        words, w = self.rec(type_id)
        return words[w + 2]

    def name_ok(self, rule: Names, off: int) -> bool:
        """Whether the string at ``off`` satisfies ``rule`` (the kernel's name checks)."""
        if rule == Names.IDENT or rule == Names.OPTIONAL:  # noqa: PLR1714 (hot path)
            if off == 0:
                return rule == Names.OPTIONAL
            found = self._ident.get(off, _UNKNOWN)
            if found is _UNKNOWN:
                found = self._ident[off] = _IDENT.match(self._raw(off))
            return found is not None
        if rule == Names.ANY:
            return True
        if rule == Names.NONE:
            return off == 0
        if off == 0:
            return False  # SECTION and TAG names are required
        if rule == Names.SECTION:
            return _SECTION.match(self._raw(off)) is not None
        return bool(self._raw(off))  # TAG: any non-empty string

    def _index_identifiers(self) -> None:
        """Check every own string that starts at a NUL boundary in one go (the usual case)."""
        strings = self.btf.strings
        pieces = bytes(strings.data).split(b"\0")
        starts = accumulate(map((1).__add__, map(len, pieces)), initial=strings.start)
        self._ident = dict(zip(starts, map(_IDENT.match, pieces), strict=False))

    def _raw(self, off: int) -> bytes:
        return self.btf.strings.get(off).encode("utf-8", "surrogateescape")

    # --- driver ---------------------------------------------------------------------------
    def run(self) -> _Resolved:
        btf = self.btf
        if btf.layout is not None:
            raise BTFValidationError("kind-layout section (32-byte header): unknown to the kernel")
        self._check_strings()
        self._index_identifiers()
        if not len(btf) and btf.base is None:
            raise BTFValidationError("no types (the kernel needs at least one)")
        if self.count - 1 > MAX_TYPE_ID:
            raise BTFValidationError(
                f"{self.count - 1} types: more than the kernel's {MAX_TYPE_ID}"
            )
        self._meta_pass()
        base = _resolved_base(btf.base) if btf.base is not None else None
        n = self.count
        if base is None:
            self.rids = array("I", bytes(4 * n))
            self.rsizes = array("I", bytes(4 * n))
            self.visit = bytearray(n)  # void (0) counts as not visited, as in the kernel
        else:
            self.kinds[: self.start] = base.kinds
            self.rids = base.rids[: self.start] + array("I", bytes(4 * len(btf)))
            self.rsizes = base.rsizes[: self.start] + array("I", bytes(4 * len(btf)))
            self.visit = bytearray([_RESOLVED]) * self.start + bytearray(len(btf))
        self._resolve_pass()
        self._check_type_tags()
        return _Resolved(self.kinds, self.rids, self.rsizes)

    def _check_strings(self) -> None:
        data = self.btf.strings.data
        if self.btf.base is None and (not data or data[0]):
            raise BTFValidationError("the string section does not start with NUL")
        if data and data[-1]:
            raise BTFValidationError("the string section does not end with NUL")
        if len(data) - 1 > MAX_NAME_OFFSET:
            raise BTFValidationError(f"string section of {len(data)} bytes is larger than 16 MiB")

    # --- pass 1: each record on its own -----------------------------------------------
    def _meta_pass(self) -> None:
        words, start, str_end = self.words, self.start, self.str_end
        max_off = min(str_end - 1, MAX_NAME_OFFSET)
        kinds = bytearray(self.count)
        meta = self._meta
        name_ok = self.name_ok
        for i, w in enumerate(self.offs):
            tid = start + i
            name_off, info, size = words[w], words[w + 1], words[w + 2]
            if info & ~_INFO_MASK:
                self.fail(tid, f"unused bits set in info {info:#010x}", w + 1)
            k = (info >> 24) & 0x1F
            spec = KINDS.get(k)
            if spec is None:
                self.fail(tid, f"unknown kind {k}", w + 1)
            kinds[tid] = k
            if name_off > max_off:
                self.fail(tid, f"name offset {name_off} out of range", w)
            vlen = info & 0xFFFF
            if vlen > spec.vlen_max:
                what = "linkage" if k == Kind.FUNC else "vlen"
                self.fail(tid, f"{spec.label} with {what} {vlen} (at most {spec.vlen_max})", w + 1)
            if info >> 31 and not spec.kflag_ok:
                self.fail(tid, f"{spec.label} with kind_flag set", w + 1)
            if not name_ok(spec.names, name_off):
                self.fail(tid, f"{spec.label} with invalid name {self._raw(name_off)!r}", w)
            if spec.size_values is not None and size not in spec.size_values:
                allowed = ", ".join(map(str, sorted(spec.size_values)))
                self.fail(tid, f"{spec.label} with size {size} (must be {allowed})", w + 2)
            if spec.type_ref and size > MAX_TYPE_ID:
                self.fail(tid, f"type ID {size} out of range", w + 2)
            check = meta.get(k)
            if check is not None:
                check(tid, w, info, vlen, size)
        self.kinds = kinds

    def _meta_int(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        data = self.words[w + 3]
        if data & ~_INT_MASK:
            self.fail(tid, f"INT data {data:#010x} has unused bits set", w + 3)
        bits = (data & 0xFF) + ((data >> 16) & 0xFF)
        if bits > 128:
            self.fail(tid, f"INT bits + bit offset = {bits}, more than 128", w + 3)
        if (bits + 7) // 8 > size:
            self.fail(tid, f"INT of {bits} bits (with offset) does not fit its {size} bytes", w + 3)
        if (data >> 24) not in (0, 1, 2, 4):
            self.fail(
                tid, f"INT encoding {data >> 24:#x}: at most one of SIGNED, CHAR, BOOL", w + 3
            )

    def _meta_array(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        for p, what in ((w + 3, "element"), (w + 4, "index")):
            ref = self.words[p]
            if ref == 0 or ref > MAX_TYPE_ID:
                self.fail(tid, f"ARRAY {what} type {ref} invalid", p)

    def _meta_members(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        words, max_off = self.words, min(self.str_end - 1, MAX_NAME_OFFSET)
        is_union = (info >> 24) & 0x1F == Kind.UNION
        kflag = info >> 31
        last = 0
        for p in range(w + 3, w + 3 + 3 * vlen, 3):
            name_off, mtype, off = words[p], words[p + 1], words[p + 2]
            if name_off > max_off:
                self.fail(tid, f"member name offset {name_off} out of range", p)
            if name_off and not self.name_ok(Names.IDENT, name_off):
                self.fail(tid, f"member with invalid name {self._raw(name_off)!r}", p)
            if mtype == 0 or mtype > MAX_TYPE_ID:
                self.fail(tid, f"member of type {mtype} (void or out of range)", p + 1)
            if kflag:
                off &= 0xFFFFFF
            if is_union and off:
                self.fail(tid, f"union member at bit offset {off} (must be 0)", p + 2)
            if off < last:
                self.fail(
                    tid, f"member bit offset {off} before the previous member's {last}", p + 2
                )
            if (off + 7) // 8 > size:
                self.fail(tid, f"member bit offset {off} beyond the {size}-byte struct", p + 2)
            last = off

    def _meta_enum(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        words, max_off = self.words, min(self.str_end - 1, MAX_NAME_OFFSET)
        step = 2 if (info >> 24) & 0x1F == Kind.ENUM else 3
        for p in range(w + 3, w + 3 + step * vlen, step):
            name_off = words[p]
            if name_off > max_off:
                self.fail(tid, f"enumerator name offset {name_off} out of range", p)
            if not self.name_ok(Names.IDENT, name_off):
                self.fail(tid, f"enumerator with invalid name {self._raw(name_off)!r}", p)

    def _meta_var(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        if size == 0:
            self.fail(tid, "VAR of type void", w + 2)
        linkage = self.words[w + 3]
        if linkage not in (0, 1):
            self.fail(
                tid, f"VAR linkage {linkage}: the kernel takes only static (0) or global (1)", w + 3
            )

    def _meta_datasec(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        if size == 0:
            self.fail(tid, "DATASEC of size 0", w + 2)
        words = self.words
        end = total = 0
        for p in range(w + 3, w + 3 + 3 * vlen, 3):
            vtype, off, vsize = words[p], words[p + 1], words[p + 2]
            if vtype == 0 or vtype > MAX_TYPE_ID:
                self.fail(tid, f"DATASEC entry of type {vtype} (void or out of range)", p)
            if off < end:
                self.fail(
                    tid, f"DATASEC entry at {off} overlaps or precedes the previous one", p + 1
                )
            if off >= size:
                self.fail(tid, f"DATASEC entry at {off} beyond the section's {size} bytes", p + 1)
            if vsize == 0 or vsize > size:
                self.fail(tid, f"DATASEC entry of size {vsize}", p + 2)
            end = off + vsize
            if end > size:
                self.fail(
                    tid, f"DATASEC entry {off}+{vsize} runs past the section's {size} bytes", p + 2
                )
            total += vsize
        if total > size:
            self.fail(tid, f"DATASEC entries total {total} bytes, more than its size {size}", w + 2)

    def _meta_decl_tag(self, tid: int, w: int, info: int, vlen: int, size: int) -> None:
        idx = self.words[w + 3]
        if idx >= 0x80000000 and idx != _U32:
            self.fail(tid, f"DECL_TAG component index {idx - (1 << 32)} < -1", w + 3)

    # --- pass 2: resolving references ---------------------------------------------------
    def _resolve_pass(self) -> None:
        kinds, visit = self.kinds, self.visit
        for tid in range(self.start, self.count):
            k = kinds[tid]
            if _NEEDS[k] and visit[tid] != _RESOLVED:
                self._resolve(tid)
            if k == Kind.FUNC_PROTO:
                self._check_proto(tid)

    def _resolve(self, root: int) -> None:
        """Walk from ``root`` until it and everything it needs are resolved."""
        if self.kinds[root] == Kind.FUNC:
            # A FUNC walk never goes further than its prototype: skip the stack machinery.
            self.rids[root] = self._check_func(root)
            self.visit[root] = _RESOLVED
            return
        self.mode = _TBD
        self._root = root
        self._push(root)
        stack, kinds, resolvers = self.stack, self.kinds, self._resolvers
        while stack:
            top = stack[-1]
            resolvers[_ROLE[kinds[top[0]]]](top)
        self._check_resolved(root)

    def _sink(self, k: int) -> bool:
        """Whether the walk stops at a type of kind ``k`` in the current mode."""
        if self.mode == _TBD:
            return not _NEEDS[k]
        if self.mode == _PTR:
            return not _MOD[k] and k != Kind.PTR
        return not _MOD[k] and _ROLE[k] not in (Role.ARRAY, Role.STRUCT)

    def _done(self, tid: int) -> bool:
        return self.visit[tid] == _RESOLVED

    def _push(self, tid: int) -> None:
        if len(self.stack) == _MAX_RESOLVE_DEPTH:
            self.fail(
                self._root, f"references nested deeper than {_MAX_RESOLVE_DEPTH} (at type [{tid}])"
            )
        if tid < self.start or self.visit[tid] != _NOT_VISITED:
            self.fail(self._root, f"reference loop through type [{tid}]")
        self.visit[tid] = _VISITED
        self.stack.append([tid, 0])
        if self.mode == _TBD:
            role = _ROLE[self.kinds[tid]]
            if role == Role.PTR:
                self.mode = _PTR
            elif role in (Role.STRUCT, Role.ARRAY):
                self.mode = _SOA

    def _pop(self, rid: int, size: int) -> None:
        tid = self.stack.pop()[0]
        self.rids[tid] = rid
        self.rsizes[tid] = size
        self.visit[tid] = _RESOLVED

    def _id_size(self, tid: int) -> tuple[int, int] | None:
        """The sized type behind ``tid`` and its size, or None (kernel's btf_type_id_size)."""
        k = self.kind(tid)
        if k < 0 or _SIZELESS[k]:
            return None
        role = _ROLE[k]
        if role in (Role.MODIFIER, Role.VAR):
            tid = self.rids[tid]
            k = self.kinds[tid]
            if _SIZELESS[k]:
                return None
            role = _ROLE[k]
        if _SIZED[k]:
            return tid, self.size_word(tid)
        if role == Role.ARRAY:
            return tid, self.rsizes[tid]
        if role == Role.PTR:
            return tid, _POINTER_SIZE
        return None

    def _target(self, tid: int) -> tuple[int, int]:
        """The type word of ``tid`` and its kind; a VAR, DECL_TAG or DATASEC there is an error."""
        w = self.offs[tid - self.start]  # only own types are ever walked
        nxt = self.words[w + 2]
        k = self.kind(nxt)
        if k < 0 or _SOURCE_ONLY[k]:
            why = "does not exist" if k < 0 else f"is a {Kind(k).name}, which cannot be referred to"
            self.fail(tid, f"refers to type {nxt}, which {why}", w + 2)
        return nxt, k

    def _push_pending(self, nxt: int, k: int) -> bool:
        """Push ``nxt`` (of kind ``k``) when it still needs resolving; then the caller waits for it."""
        if not self._sink(k) and not self._done(nxt):
            self._push(nxt)
            return True
        return False

    def _pointer_behind(self, nxt: int, k: int) -> bool:
        """Push the pointer a resolved modifier stopped at, if that pointer is still open."""
        if _MOD[k]:
            rid = self.rids[nxt]
            rk = self.kinds[rid]
            if rk == Kind.PTR and not self._sink(rk) and not self._done(rid):
                self._push(rid)
                return True
        return False

    def _resolve_modifier(self, v: list[int]) -> None:
        tid = v[0]
        nxt, k = self._target(tid)
        if self._push_pending(nxt, k):
            return
        self._pop(self._sized_or_pointee(tid, nxt), 0)

    def _resolve_ptr(self, v: list[int]) -> None:
        tid = v[0]
        nxt, k = self._target(tid)
        if self._push_pending(nxt, k) or self._pointer_behind(nxt, k):
            return
        self._pop(self._sized_or_pointee(tid, nxt), 0)

    def _sized_or_pointee(self, tid: int, nxt: int) -> int:
        """What a modifier or pointer resolves to: a sized type, void, a FWD or a FUNC_PROTO."""
        found = self._id_size(nxt)
        if found is not None:
            return found[0]
        if self._done(nxt):
            nxt = self.rids[nxt]
        if self.kinds[nxt] not in _POINTEE_WITHOUT_SIZE:
            self.fail(tid, f"refers to type {nxt}, which has no size")
        return nxt

    def _resolve_var(self, v: list[int]) -> None:
        tid = v[0]
        nxt, k = self._target(tid)
        if self._push_pending(nxt, k) or self._pointer_behind(nxt, k):
            return
        found = self._id_size(nxt)
        if found is None:
            self.fail(tid, f"VAR of type {nxt}, which has no size")
        self._pop(found[0], 0)

    def _resolve_array(self, v: list[int]) -> None:
        tid = v[0]
        words, w = self.rec(tid)
        elem, index, nelems = words[w + 3], words[w + 4], words[w + 5]
        k = self.kind(index)
        if k < 0 or _SIZELESS[k] or _SOURCE_ONLY[k]:
            self.fail(tid, f"ARRAY index type {index} has no size", w + 4)
        if not self._sink(k) and not self._done(index):
            self._push(index)
            return
        found = self._id_size(index)
        if found is None or self.kinds[found[0]] != Kind.INT or not self._int_regular(found[0]):
            self.fail(tid, f"ARRAY index type {index} is not a whole-byte INT", w + 4)
        k = self.kind(elem)
        if k < 0 or _SIZELESS[k] or _SOURCE_ONLY[k]:
            self.fail(tid, f"ARRAY element type {elem} has no size", w + 3)
        if not self._sink(k) and not self._done(elem):
            self._push(elem)
            return
        found = self._id_size(elem)
        if found is None:
            self.fail(tid, f"ARRAY element type {elem} has no size", w + 3)
        eid, esize = found
        if self.kinds[eid] == Kind.INT and not self._int_regular(eid):
            self.fail(tid, f"ARRAY of INT [{eid}], which is a bitfield-like INT", w + 3)
        if nelems and esize > _U32 // nelems:
            self.fail(tid, f"ARRAY of {nelems} x {esize} bytes overflows 32 bits", w + 5)
        self._pop(eid, esize * nelems)

    def _int_regular(self, tid: int) -> bool:
        """An INT that is not a bitfield: 1, 2, 4, 8 or 16 whole bytes, no bit offset."""
        words, w = self.rec(tid)
        data = words[w + 3]
        bits = data & 0xFF
        return not bits & 7 and not (data >> 16) & 0xFF and bits // 8 in (1, 2, 4, 8, 16)

    def _resolve_struct(self, v: list[int]) -> None:
        tid, first = v
        words, w = self.rec(tid)
        info, size = words[w + 1], words[w + 2]
        vlen = info & 0xFFFF
        owner = (tid, size, bool(info >> 31))
        if first:  # the member pushed last time is resolved now: check it
            p = w + 3 * first
            self._check_member(owner, words[p + 1], words[p + 2], p)
        for i in range(first, vlen):
            p = w + 3 + 3 * i
            mtype = words[p + 1]
            k = self.kind(mtype)
            if k < 0 or _SIZELESS[k] or _SOURCE_ONLY[k]:
                what = "does not exist" if k < 0 else "has no size" if k == 0 else f"is a {Kind(k).name}"
                self.fail(tid, f"member of type {mtype}, which {what}", p + 1)
            if not self._sink(k) and not self._done(mtype):
                v[1] = i + 1
                self._push(mtype)
                return
            self._check_member(owner, mtype, words[p + 2], p)
        self._pop(0, 0)

    def _check_member(self, owner: tuple[int, int, bool], mtype: int, off: int, p: int) -> None:
        """Does a member of type ``mtype`` at ``off`` (raw offset word) fit its struct?

        ``owner`` is the struct's ID, size and kind_flag; ``p`` the member's first word.
        """
        sid, size, kflag = owner
        k = self.kinds[mtype]
        if _MOD[k]:
            found = self._id_size(mtype)
            if found is None:
                self.fail(sid, f"member of type {mtype}, which has no size", p + 1)
            mtype = found[0]
            k = self.kinds[mtype]
        if kflag and k not in (Kind.INT, Kind.ENUM, Kind.ENUM64):
            if off >> 24:
                self.fail(sid, f"bitfield member of a {Kind(k).name}", p + 2)
            kflag = False  # the offset word is then a plain bit offset
        if k == Kind.INT:
            self._check_int_member((sid, size, kflag), mtype, off, p)
            return
        if k in (Kind.ENUM, Kind.ENUM64) and kflag:
            boff, nbits = off & 0xFFFFFF, off >> 24
            if not nbits:
                if boff & 7:
                    self.fail(sid, f"member at bit offset {boff} is not byte aligned", p + 2)
                nbits = 32  # the kernel assumes an int-sized enum here
            elif nbits > 32:
                self.fail(sid, f"enum bitfield of {nbits} bits", p + 2)
            if size < (boff + nbits + 7) // 8:
                self.fail(sid, "member runs past the struct's size", p + 2)
            return
        if k == Kind.FLOAT:
            fsize = self.size_word(mtype)
            if off % (8 * min(_POINTER_SIZE, fsize)):
                self.fail(sid, f"FLOAT member at bit offset {off} is not aligned", p + 2)
            if off // 8 + fsize > size:
                self.fail(sid, "member runs past the struct's size", p + 2)
            return
        if off & 7:
            self.fail(sid, f"member at bit offset {off} is not byte aligned", p + 2)
        if k == Kind.PTR:
            msize = _POINTER_SIZE
        elif k == Kind.ARRAY:
            msize = self.rsizes[mtype]
        elif _SIZED[k] and k != Kind.DATASEC:
            msize = self.size_word(mtype)
        else:
            self.fail(sid, f"member of type {mtype} ({Kind(k).name}) cannot be a member", p + 1)
        if (size - off // 8) & _U32 < msize:  # unsigned, as the kernel computes it
            self.fail(sid, "member runs past the struct's size", p + 2)

    def _check_int_member(self, owner: tuple[int, int, bool], mtype: int, off: int, p: int) -> None:
        sid, size, kflag = owner
        words, w = self.rec(mtype)
        data = words[w + 3]
        ibits, ioff = data & 0xFF, (data >> 16) & 0xFF
        if kflag:
            if not self._int_regular(mtype):
                self.fail(
                    sid, f"bitfield member of INT [{mtype}], which is itself a bitfield", p + 1
                )
            nbits, boff = off >> 24, off & 0xFFFFFF
            if not nbits:
                if boff & 7:
                    self.fail(sid, f"member at bit offset {boff} is not byte aligned", p + 2)
                nbits = ibits
            elif nbits > ibits:
                self.fail(sid, f"bitfield of {nbits} bits is wider than its {ibits}-bit INT", p + 2)
        else:
            if _U32 - off < ioff:
                self.fail(sid, "member bit offset overflows", p + 2)
            boff, nbits = off + ioff, ibits
        copy_bits = nbits + (boff & 7)
        if copy_bits > 128:
            self.fail(sid, f"bitfield spans {copy_bits} bits, more than 128", p + 2)
        start = boff // 8
        if size < start or size - start < (copy_bits + 7) // 8:
            self.fail(sid, "member runs past the struct's size", p + 2)

    def _resolve_func(self, v: list[int]) -> None:
        self._pop(self._check_func(v[0]), 0)

    def _check_func(self, tid: int) -> int:
        """A FUNC's prototype, checked: it is a FUNC_PROTO whose typed parameters have names."""
        words, w = self.rec(tid)
        proto = words[w + 2]
        if self.kind(proto) != Kind.FUNC_PROTO:
            self.fail(tid, f"FUNC of type {proto}, which is not a FUNC_PROTO", w + 2)
        pwords, pw = self.rec(proto)
        for p in range(pw + 3, pw + 3 + 2 * (pwords[pw + 1] & 0xFFFF), 2):
            if not pwords[p] and pwords[p + 1]:
                self.fail(tid, f"FUNC whose prototype [{proto}] has an unnamed parameter", w + 2)
        return proto

    def _resolve_decl_tag(self, v: list[int]) -> None:
        tid = v[0]
        words, w = self.rec(tid)
        nxt = words[w + 2]
        k = self.kind(nxt)
        if k not in _DECL_TAG_TARGETS:
            self.fail(
                tid, f"DECL_TAG on type {nxt}, not a FUNC, STRUCT, UNION, VAR or TYPEDEF", w + 2
            )
        if self._push_pending(nxt, k):
            return
        idx = words[w + 3]
        if idx != _U32:
            if k in (Kind.VAR, Kind.TYPEDEF):
                self.fail(tid, f"DECL_TAG with component index {idx} on a {Kind(k).name}", w + 3)
            holder = nxt if k != Kind.FUNC else self.size_word(nxt)
            hwords, hw = self.rec(holder)
            if idx >= hwords[hw + 1] & 0xFFFF:
                self.fail(tid, f"DECL_TAG component index {idx} out of range", w + 3)
        self._pop(nxt, 0)

    def _resolve_datasec(self, v: list[int]) -> None:
        self.mode = _TBD
        tid, first = v
        words, w = self.rec(tid)
        vlen = words[w + 1] & 0xFFFF
        # Like the kernel, an entry whose VAR had to be resolved first is not size-checked.
        for i in range(first, vlen):
            p = w + 3 + 3 * i
            var = words[p]
            k = self.kind(var)
            if k != Kind.VAR:
                self.fail(tid, f"DATASEC entry of type {var}, which is not a VAR", p)
            if not self._sink(k) and not self._done(var):
                v[1] = i + 1
                self._push(var)
                return
            found = self._id_size(self.size_word(var))
            if found is None:
                self.fail(tid, f"DATASEC entry [{var}] has a type without size", p)
            if words[p + 2] < found[1]:
                self.fail(
                    tid, f"DATASEC entry [{var}] smaller than its type's {found[1]} bytes", p + 2
                )
        self._pop(0, 0)

    def _check_resolved(self, tid: int) -> None:
        """The kernel's final sanity check of a resolved root."""
        k, rid = self.kinds[tid], self.rids[tid]
        role = _ROLE[k]
        if role in (Role.STRUCT, Role.DATASEC):
            ok = rid == 0 and self.rsizes[tid] == 0
        elif role in (Role.DECL_TAG, Role.FUNC):
            ok = rid != 0 and self.rsizes[tid] == 0
        elif role in (Role.MODIFIER, Role.PTR, Role.VAR):
            rk = self.kinds[rid]
            ok = not _MOD[rk] and rk not in (Kind.VAR, Kind.DATASEC)
        else:  # ARRAY
            words, w = self.rec(tid)
            found = self._id_size(words[w + 3])
            ok = (
                found is not None
                and not _MOD[self.kinds[found[0]]]
                and (words[w + 5] * found[1]) & _U32 == self.rsizes[tid]
            )
        if not ok:
            self.fail(tid, "resolves to an inconsistent state")

    def _check_proto(self, tid: int) -> None:
        words, w = self.rec(tid)
        ret = words[w + 2]
        if ret:
            k = self.kind(ret)
            if k < 0 or _SOURCE_ONLY[k]:
                self.fail(tid, f"FUNC_PROTO returning type {ret}, which cannot be returned", w + 2)
            if _NEEDS[k] and not self._done(ret):
                self._resolve(ret)
            if self._id_size(ret) is None:
                self.fail(tid, f"FUNC_PROTO returning type {ret}, which has no size", w + 2)
        n = words[w + 1] & 0xFFFF
        if n and not words[w + 2 + 2 * n]:  # the last parameter is void: "..."
            if words[w + 1 + 2 * n]:
                self.fail(tid, "FUNC_PROTO with a named '...' parameter", w + 1 + 2 * n)
            n -= 1
        for p in range(w + 3, w + 3 + 2 * n, 2):
            name_off, ptype = words[p], words[p + 1]
            k = self.kind(ptype)
            if k < 0 or _SOURCE_ONLY[k]:
                self.fail(tid, f"parameter of type {ptype}, which cannot be a parameter", p + 1)
            if name_off and not self.name_ok(Names.IDENT, name_off):
                self.fail(tid, f"parameter with invalid name {self._raw(name_off)!r}", p)
            if _NEEDS[k] and not self._done(ptype):
                self._resolve(ptype)
            if self._id_size(ptype) is None:
                what = "void (only the last may be)" if ptype == 0 else "without size"
                self.fail(tid, f"parameter of type {ptype}, {what}", p + 1)

    # --- pass 3: type tags --------------------------------------------------------------
    def _check_type_tags(self) -> None:
        """In a chain of modifiers, every TYPE_TAG must come before the others."""
        kinds = self.kinds
        good = self.start - 1  # IDs up to here are checked already
        for tid in range(self.start, self.count):
            k = kinds[tid]
            if not _MOD[k]:
                continue
            in_tags = k == Kind.TYPE_TAG
            cur, limit = tid, _MAX_RESOLVE_DEPTH
            while _MOD[k]:
                if not limit:
                    self.fail(tid, "modifier chain too long or cyclic")
                limit -= 1
                if k == Kind.TYPE_TAG:
                    if not in_tags:
                        self.fail(tid, f"TYPE_TAG [{cur}] after another modifier")
                else:
                    in_tags = False
                if cur <= good:
                    break
                cur = self.size_word(cur)
                k = self.kind(cur)
            good = tid
