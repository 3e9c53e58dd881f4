"""A compiled BPF object as libbpf sees it before loading: BTF, ``.BTF.ext``, code and programs.

Only what CO-RE needs: the object's own BTF (the *local* types), its parsed
``.BTF.ext``, the bytes of each code section, and the programs (``STT_FUNC``
symbols) each code section holds, so that a relocation can be tied to the
program and instruction libbpf would patch.
"""

from __future__ import annotations

import io
import os
import struct
from bisect import bisect_right
from dataclasses import dataclass, field

from ..errors import ELFError
from ..format.btf import BTF, ByteOrder
from ..format.elf import BTF_EXT_SECTION, BTF_SECTION
from ..format.ext import BTFExt
from ..format.ext import parse as parse_ext
from ..format.reader import parse

__all__ = ["Insn", "Program", "Subprogram", "load_program"]

_SHF_EXECINSTR = 0x4
INSN_SIZE = 8


@dataclass(frozen=True)
class Subprogram:
    """A function symbol in a code section: libbpf's ``bpf_program`` (main program or subprogram)."""

    name: str
    section: str
    first: int  # instruction index of its start within the section
    count: int  # number of instructions


@dataclass(frozen=True)
class Insn:
    """One decoded BPF instruction (the fields CO-RE patching reads)."""

    code: int
    dst: int
    src: int
    off: int  # signed 16-bit
    imm: int  # signed 32-bit

    @property
    def cls(self) -> int:
        return self.code & 0x07


@dataclass
class Program:
    """A BPF object file: its local BTF, ``.BTF.ext``, code sections and programs."""

    name: str
    btf: BTF
    ext: BTFExt | None
    byteorder: ByteOrder
    code: dict[str, bytes] = field(default_factory=dict)
    subprograms: dict[str, list[Subprogram]] = field(default_factory=dict)

    def subprogram_at(self, section: str, insn: int) -> Subprogram | None:
        """The program or subprogram holding instruction ``insn`` of ``section`` (libbpf's rule)."""
        progs = self.subprograms.get(section, [])
        i = bisect_right([p.first for p in progs], insn) - 1
        if i >= 0 and insn < progs[i].first + progs[i].count:
            return progs[i]
        return None

    def insn(self, section: str, index: int) -> Insn | None:
        """Instruction ``index`` of a code section, or None past its end."""
        data = self.code.get(section, b"")
        at = index * INSN_SIZE
        if at + INSN_SIZE > len(data):
            return None
        end = "<" if self.byteorder == "little" else ">"
        code, regs, off, imm = struct.unpack_from(end + "BBhi", data, at)
        # The register nibbles swap places with the byte order.
        dst, src = (regs & 0xF, regs >> 4) if self.byteorder == "little" else (regs >> 4, regs & 0xF)
        return Insn(code, dst, src, off, imm)


def load_program(source: str | os.PathLike[str] | bytes, name: str | None = None) -> Program:
    """Read a BPF object file (``clang -target bpf -g``, ``gcc -gbtf``) for CO-RE work.

    Raises :class:`~btfkit.errors.ELFError` when it is not an ELF with a ``.BTF`` section.
    """
    from elftools.common.exceptions import ELFError as _PyELFError  # noqa: PLC0415 (pyelftools only here)
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415
    from elftools.elf.sections import SymbolTableSection  # noqa: PLC0415

    if isinstance(source, bytes):
        data, name = source, name or "<bytes>"
    else:
        name = name or os.fspath(source)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ELFError(f"{name}: {exc.strerror}") from exc
    if data[:4] != b"\x7fELF":
        raise ELFError(f"{name}: not an ELF object")
    try:
        elf = ELFFile(io.BytesIO(data))
        byteorder: ByteOrder = "little" if elf.little_endian else "big"
        sections = list(elf.iter_sections())
        found = {s.name: s.data() for s in sections if s.name in (BTF_SECTION, BTF_EXT_SECTION)}
        code = {
            s.name: s.data() for s in sections
            if s["sh_flags"] & _SHF_EXECINSTR and s["sh_type"] == "SHT_PROGBITS"
        }  # fmt: skip
        subprograms: dict[str, list[Subprogram]] = {}
        symtab = elf.get_section_by_name(".symtab")
        for sym in symtab.iter_symbols() if isinstance(symtab, SymbolTableSection) else ():
            shndx = sym["st_shndx"]
            if sym["st_info"]["type"] != "STT_FUNC" or not isinstance(shndx, int):
                continue
            sec = sections[shndx].name
            if sec in code:
                first, count = sym["st_value"] // INSN_SIZE, sym["st_size"] // INSN_SIZE
                if (first + count) * INSN_SIZE <= len(code[sec]):
                    subprograms.setdefault(sec, []).append(Subprogram(sym.name, sec, first, count))
    except (_PyELFError, struct.error, ValueError, OSError, LookupError) as exc:
        raise ELFError(f"{name}: unreadable ELF: {exc}") from exc
    if BTF_SECTION not in found:
        raise ELFError(f"{name}: no {BTF_SECTION} section")
    btf = parse(found[BTF_SECTION])
    btf.pointer_size = 8 if elf.elfclass == 64 else 4
    ext = parse_ext(found[BTF_EXT_SECTION]) if BTF_EXT_SECTION in found else None
    for progs in subprograms.values():
        progs.sort(key=lambda p: p.first)
    return Program(name, btf, ext, byteorder, code, subprograms)
