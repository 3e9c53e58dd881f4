"""Volatility 3 symbol tables (ISF JSON, format 6.2.0) from a kernel's BTF and symbol table.

Volatility reads kernel types from an "intermediate symbol format" file that only
``dwarf2json`` makes, from DWARF.  The same file made from BTF:

- ``base_types``: the integers, ``_Bool``, floats, plus ``pointer`` and ``void``;
- ``user_types``: every struct and union (one namespace for both, as in Volatility:
  a name BTF uses twice gets the type ID appended to the later ones, and anonymous
  types are ``unnamed_<ID>``); typedefs and qualifiers are looked through, anonymous
  members are marked ``"anonymous": true``; a bit field names the storage unit of
  its base type that holds all its bits;
- ``enums``: every enum, with an integer base type of its size and signedness;
- ``symbols``: every symbol of the table at its address, typed where BTF knows it (a
  VAR or FUNC of that name), and ``linux_banner`` with its text as ``constant_data``
  (Volatility matches it against the memory image).

Format 6.2.0 because it is the newest one Volatility's loaders accept.  The metadata
names btfkit as the producer; the types entry carries no ``kind`` (the schema knows
only dwarf, symtab and system-map, and BTF is none of them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import lzma
import os
import re
import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..errors import BTFError, ELFError
from ..format.btf import BTF, Type
from ..format.elf import unwrap
from ..format.kinds import IntEncoding, Kind
from .kallsyms import Kallsyms

ISF_FORMAT = "6.2.0"

Descriptor = dict[str, Any]

# Kinds looked through: what Volatility's layout needs is the type underneath.
_TRANSPARENT = frozenset({Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG})
_CHAR_NAMES = frozenset({"char", "signed char", "unsigned char"})
# Names for an enum's base type when BTF has no integer of that size and signedness.
_INT_NAMES = {
    (1, False): "unsigned char", (1, True): "signed char",
    (2, False): "short unsigned int", (2, True): "short int",
    (4, False): "unsigned int", (4, True): "int",
    (8, False): "long unsigned int", (8, True): "long int",
}  # fmt: skip


class ISFError(BTFError):
    """BTF or inputs that cannot make a symbol table."""


class _Writer:
    """Builds the ISF dict of one BTF (vmlinux)."""

    def __init__(self, btf: BTF):
        self.btf = btf
        self.endian = btf.byteorder
        self.base_types: dict[str, Descriptor] = {
            "void": {"kind": "void", "size": 0, "signed": False, "endian": self.endian},
            "pointer": {"kind": "int", "size": btf.pointer_size, "signed": False, "endian": self.endian},
        }
        self.user_types: dict[str, Descriptor] = {}
        self.enums: dict[str, Descriptor] = {}
        self._names: dict[int, str] = {}
        self._descriptors: dict[int, Descriptor] = {}
        # An integer base type of each (size, signed), for enums and bit fields.
        self._ints: dict[tuple[int, bool], str] = {}

    # --- names -------------------------------------------------------------
    def _assign_names(self) -> None:
        """Give every struct, union and enum its ISF name (unique in its table).

        Complete types pick first, so a forward declaration never takes the plain
        name from the definition; a FWD of a defined name is that definition.
        """
        taken: dict[str, int] = {}
        enum_taken: dict[str, int] = {}
        fwds: list[Type] = []
        for t in self.btf.types():
            k = t.kind
            if k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
                table = enum_taken if k in (Kind.ENUM, Kind.ENUM64) else taken
                if t.name and t.name not in table:
                    name = t.name
                elif t.name:
                    name = f"{t.name}__{t.id}"
                else:
                    name = f"unnamed_{t.id}"
                table[name] = t.id
                self._names[t.id] = name
            elif k == Kind.FWD:
                fwds.append(t)
        for t in fwds:
            if t.name in taken:
                self._names[t.id] = t.name
            else:
                taken[t.name] = t.id
                self._names[t.id] = t.name
                kind = "union" if t.kind_flag else "struct"
                self.user_types[t.name] = {"kind": kind, "size": 0, "fields": {}}

    # --- descriptors --------------------------------------------------------------
    def _resolve(self, tid: int) -> int:
        """``tid`` with typedefs and qualifiers looked through."""
        btf = self.btf
        for _ in range(64):
            if tid == 0 or btf.kind_of(tid) not in _TRANSPARENT:
                return tid
            tid = btf[tid].type_id
        raise ISFError(f"type [{tid}]: typedef or qualifier chain too long")

    def _base(self, t: Type) -> str:
        """The base_types entry of an INT or FLOAT (added on first use)."""
        name = t.name
        if name not in self.base_types:
            if t.kind == Kind.FLOAT:
                entry = {"kind": "float", "size": t.size, "signed": True, "endian": self.endian}
            else:
                enc = t.encoding
                signed = bool(enc & IntEncoding.SIGNED)
                if enc & IntEncoding.BOOL:
                    kind = "bool"
                elif enc & IntEncoding.CHAR or name in _CHAR_NAMES:
                    kind = "char"
                else:
                    kind = "int"
                    self._ints.setdefault((t.size, signed), name)
                entry = {"kind": kind, "size": t.size, "signed": signed, "endian": self.endian}
            self.base_types[name] = entry
        return name

    def _int_named(self, size: int, signed: bool) -> str:
        """An integer base type of ``size`` bytes and that signedness."""
        found = self._ints.get((size, signed))
        if found is None:
            found = _INT_NAMES.get((size, signed), f"{'' if signed else 'u'}int{size * 8}")
            self.base_types.setdefault(found, {"kind": "int", "size": size, "signed": signed, "endian": self.endian})
            self._ints[(size, signed)] = found
        return found

    def descriptor(self, tid: int) -> Descriptor:
        """The ISF type descriptor of BTF type ``tid`` (shared between uses)."""
        tid = self._resolve(tid)
        found = self._descriptors.get(tid)
        if found is None:
            found = self._descriptors[tid] = self._make_descriptor(tid)
        return found

    def _make_descriptor(self, tid: int) -> Descriptor:
        if tid == 0:
            return {"kind": "base", "name": "void"}
        t = self.btf[tid]
        k = t.kind
        if k in (Kind.INT, Kind.FLOAT):
            return {"kind": "base", "name": self._base(t)}
        if k == Kind.PTR:
            return {"kind": "pointer", "subtype": self.descriptor(t.type_id)}
        if k == Kind.ARRAY:
            arr = t.array
            return {"kind": "array", "count": arr.nelems, "subtype": self.descriptor(arr.type_id)}
        if k in (Kind.STRUCT, Kind.UNION):
            return {"kind": "struct" if k == Kind.STRUCT else "union", "name": self._names[tid]}
        if k == Kind.FWD:
            return {"kind": "union" if t.kind_flag else "struct", "name": self._names[tid]}
        if k in (Kind.ENUM, Kind.ENUM64):
            return {"kind": "enum", "name": self._names[tid]}
        if k in (Kind.FUNC_PROTO, Kind.FUNC):
            return {"kind": "function"}
        if k == Kind.VAR:
            return self.descriptor(t.type_id)
        raise ISFError(f"type [{tid}]: {t.spec.label} cannot be an ISF type")

    def _bit_field(self, tid: int, bit_offset: int, bits: int) -> tuple[int, Descriptor]:
        """(byte offset, descriptor) of a bit field: the storage unit of its base type holding every bit.

        Volatility reads the base type at the offset and takes bits ``bit_position``
        up to ``bit_position + bit_length``; they must lie inside it.  A field that
        crosses its type's alignment (packed structs) gets a unit starting at its
        own byte, and a wider integer if it still does not fit.
        """
        base = self.descriptor(tid)
        target = self.btf[self._resolve(tid)]
        size = target.size
        signed = bool(target.encoding & IntEncoding.SIGNED) if target.kind == Kind.INT else target.kind_flag
        unit = (bit_offset // (size * 8)) * size
        if bit_offset - unit * 8 + bits > size * 8:
            unit = bit_offset // 8
            while bit_offset - unit * 8 + bits > size * 8:
                size *= 2
                base = {"kind": "base", "name": self._int_named(size, signed)}
        return unit, {"kind": "bitfield", "bit_position": bit_offset - unit * 8, "bit_length": bits, "type": base}

    # --- tables -------------------------------------------------------------------
    def build_types(self) -> None:
        """Fill base_types, user_types and enums from every type of the BTF."""
        self._assign_names()
        for t in self.btf.types():
            k = t.kind
            if k in (Kind.INT, Kind.FLOAT) and t.name:
                self._base(t)
            elif k in (Kind.STRUCT, Kind.UNION):
                self.user_types[self._names[t.id]] = self._user_type(t)
            elif k in (Kind.ENUM, Kind.ENUM64):
                signed = t.kind_flag or any(v.value < 0 for v in t.values)
                self.enums[self._names[t.id]] = {
                    "size": t.size,
                    "base": self._int_named(t.size, signed),
                    "constants": {v.name: v.value for v in t.values},
                }

    def _user_type(self, t: Type) -> Descriptor:
        fields: dict[str, Descriptor] = {}
        for m in t.members:
            if m.bitfield_size:
                offset, desc = self._bit_field(m.type_id, m.bit_offset, m.bitfield_size)
                field: Descriptor = {"type": desc, "offset": offset}
            else:
                field = {"type": self.descriptor(m.type_id), "offset": m.bit_offset // 8}
            name = m.name
            if not name:
                # An anonymous struct or union: Volatility lifts its members into this type,
                # looking it up by the name its type descriptor gives.
                name = field["type"].get("name", f"unnamed_field_{len(fields)}")
                field["anonymous"] = True
            fields[name] = field
        return {"kind": "struct" if t.kind == Kind.STRUCT else "union", "size": t.size, "fields": fields}

    def symbols(self, table: Kallsyms, banner: bytes | None) -> dict[str, Descriptor]:
        """Every vmlinux symbol of ``table``, typed where BTF has a VAR or FUNC of its name."""
        typed: dict[str, int] = {}
        for t in self.btf.types():
            if t.kind in (Kind.VAR, Kind.FUNC):
                typed.setdefault(t.name, t.id)
        out: dict[str, Descriptor] = {}
        for sym in table.symbols:
            if sym.module or sym.name in out:
                continue
            address = table.address(sym.name)
            entry: Descriptor = {"address": address}
            tid = typed.get(sym.name)
            if tid is not None:
                entry["type"] = self.descriptor(tid)
            out[sym.name] = entry
        if banner is not None and "linux_banner" in out:
            out["linux_banner"]["constant_data"] = base64.b64encode(banner).decode()
        return out


# --- the banner ---------------------------------------------------------------------------
_BANNER = re.compile(rb"Linux version [0-9][^\0%\n]*\n\0")


def banner_from_image(path: str | os.PathLike[str], address: int | None = None) -> bytes | None:
    """The ``linux_banner`` text of a kernel image (vmlinux ELF, or vmlinuz), NUL excluded.

    With the symbol's ``address``, the string is read where the ELF's program headers
    place it; else a string of the banner's shape (``Linux version <release> ... #<n> ...``).
    None when the image holds none.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = unwrap(f.read(), name)
    except OSError as exc:
        raise ELFError(f"{name}: {exc.strerror}") from exc
    raw = bytes(data)
    if address is not None and raw[:4] == b"\x7fELF":
        at = _file_offset(raw, address)
        if at is not None:
            end = raw.find(b"\0", at)
            text = raw[at:end]
            if text.startswith(b"Linux version "):
                return text
    # The image also holds a banner left with an empty build number ("# SMP"): the real
    # one has its number ("#1 SMP").
    found = [m.group(0)[:-1] for m in _BANNER.finditer(raw)]
    numbered = [b for b in found if re.search(rb"#[0-9]", b)]
    best = numbered or found
    return best[0] if best else None


def _file_offset(elf: bytes, address: int) -> int | None:
    """Where a virtual address of a 64-bit little-endian ELF lies in the file (PT_LOAD), if anywhere."""
    if elf[4] != 2 or elf[5] != 1:
        return None
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type == 1 and vaddr <= address < vaddr + filesz:
            return int(offset + address - vaddr)
    return None


# --- the file --------------------------------------------------------------------------------
def _sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_isf(
    btf: BTF,
    symbols: Kallsyms,
    *,
    banner: bytes | None = None,
    sources: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ISF document (a JSON-ready dict) of vmlinux ``btf`` with the addresses of ``symbols``.

    ``sources`` is the ``metadata.linux`` content (where types and symbols came from);
    ``banner`` the ``linux_banner`` text, without its NUL.
    """
    writer = _Writer(btf)
    writer.build_types()
    isf_symbols = writer.symbols(symbols, banner)
    producer = {"name": "btfkit", "version": __version__, "datetime": datetime.now(UTC).isoformat()}
    return {
        "metadata": {"format": ISF_FORMAT, "producer": producer, "linux": dict(sources or {})},
        "base_types": writer.base_types,
        "user_types": writer.user_types,
        "enums": writer.enums,
        "symbols": isf_symbols,
    }


def source_entry(path: str | os.PathLike[str], kind: str | None = None) -> dict[str, str]:
    """A ``metadata.linux`` entry: the file's name and SHA-256, and its kind where the schema has one."""
    entry = {"name": os.path.basename(os.fspath(path)), "hash_type": "sha256", "hash_value": _sha256(path)}
    if kind is not None:
        entry["kind"] = kind
    return entry


def write_isf(document: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write an ISF document as JSON, xz-compressed when the name ends in ``.xz`` (atomically)."""
    from ..format.writer import write_atomic  # noqa: PLC0415

    data = json.dumps(document, separators=(",", ":")).encode()
    if os.fspath(path).endswith(".xz"):
        # A low preset: level 6 takes ten times as long for a file a fifth smaller.
        data = lzma.compress(data, preset=1)
    write_atomic(path, data)
    # A symbol table is for reading by others (a shared symbols directory): the usual file mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
