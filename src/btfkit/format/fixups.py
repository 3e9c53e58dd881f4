"""What libbpf does to an object's BTF when it opens the object, and the fixes ``link`` adds.

A compiler writes BTF before the object's layout is final: ``clang -target bpf`` (and
``gcc -gbtf``) leave every DATASEC's size and its variables' offsets at zero.  libbpf
fills them in from the ELF file when it opens the object (``bpf_object_fixup_btf`` in
libbpf 1.5's ``libbpf.c``), before anything reaches the kernel, so an object's BTF is
judged after these :func:`load_time_fixups`:

- a DATASEC of size 0 gets the size of the ELF section of its name, and each of its
  global variables the value of its ELF symbol (a global or weak ``STT_OBJECT``) as
  offset; a section the ELF lacks, or a variable without a symbol, fails as in libbpf;
- a global variable whose symbol is hidden (``STV_HIDDEN``/``STV_INTERNAL``) becomes static;
- every DATASEC's entries are sorted by offset;
- the extern sections ``.kconfig`` and ``.ksyms``, which libbpf lays out from the
  running kernel, are only sorted (their layout is not modelled here).

:func:`compiler_fixups` is not libbpf's: it is what ``btfkit link`` does besides, so that
what it writes loads.  gcc (12, Debian's) writes ``char`` and ``signed char`` as INTs with
encoding SIGNED|CHAR, which the kernel refuses ("Unsupported encoding"; at most one of
SIGNED, CHAR, BOOL) and libbpf does not change (the kernel then rejects the object's BTF
and libbpf loads the programs without it); clang writes them as SIGNED.
"""

from __future__ import annotations

import io
from array import array
from dataclasses import dataclass

from ..errors import BTFError, ELFError
from .btf import BTF
from .kinds import (
    ELEMS,
    INFO,
    INT_ENCODING,
    NAME_OFF,
    SIZE,
    VAR_LINKAGE,
    VARSEC_OFFSET,
    VARSEC_TYPE,
    VARSEC_WORDS,
    Kind,
)

__all__ = ["ObjectLayout", "compiler_fixups", "load_time_fixups", "object_layout"]

_EXTERN_SECTIONS = (".kconfig", ".ksyms")
_VAR_STATIC, _VAR_GLOBAL_EXTERN = 0, 2
_INT_SIGNED, _INT_CHAR = 1, 2


@dataclass(frozen=True)
class ObjectLayout:
    """What the fixups read from an ELF object: its sections' sizes and its variables' symbols."""

    section_sizes: dict[str, int]
    #: name -> (value, hidden) of the first global or weak STT_OBJECT symbol of that name.
    variables: dict[str, tuple[int, bool]]


def object_layout(data: bytes | bytearray | memoryview, name: str) -> ObjectLayout | None:
    """The layout of a relocatable ELF object (a ``.o``), or None for anything else (a
    vmlinux, a kernel module, raw BTF): libbpf opens only relocatable objects."""
    if bytes(data[:4]) != b"\x7fELF":
        return None
    from elftools.common.exceptions import ELFError as _PyELFError  # noqa: PLC0415 (only .o files need it)
    from elftools.elf.elffile import ELFFile  # noqa: PLC0415
    from elftools.elf.sections import SymbolTableSection  # noqa: PLC0415

    try:
        elf = ELFFile(io.BytesIO(bytes(data)))
        if elf["e_type"] != "ET_REL":
            return None
        sections = {sec.name: sec["sh_size"] for sec in elf.iter_sections()}
        if ".modinfo" in sections or ".gnu.linkonce.this_module" in sections:
            return None  # a kernel module: the kernel reads its BTF as it is
        variables: dict[str, tuple[int, bool]] = {}
        for sec in elf.iter_sections():
            if not isinstance(sec, SymbolTableSection):
                continue
            for sym in sec.iter_symbols():
                if sym["st_info"]["type"] == "STT_OBJECT" and sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK"):
                    hidden = sym["st_other"]["visibility"] in ("STV_HIDDEN", "STV_INTERNAL")
                    variables.setdefault(sym.name, (sym["st_value"], hidden))
    except (_PyELFError, ValueError, OSError, ArithmeticError, LookupError) as exc:
        raise ELFError(f"{name}: unreadable ELF: {exc}") from exc
    return ObjectLayout(sections, variables)


def load_time_fixups(btf: BTF, layout: ObjectLayout) -> list[str]:
    """Apply libbpf's open-time fixes to ``btf`` (an object's own BTF) in place; return one
    line per change made.  Raises :class:`BTFError` where libbpf fails to open the object."""
    done: list[str] = []
    words = btf.words
    for tid in btf.ids_by_kind()[Kind.DATASEC]:
        _owner, w = btf.locate(tid)
        sec = btf.str_at(words[w + NAME_OFF])
        vlen = btf.info_format.vlen(words[w + INFO])
        elems = w + ELEMS
        entries = [list(words[e : e + VARSEC_WORDS]) for e in range(elems, elems + VARSEC_WORDS * vlen, VARSEC_WORDS)]
        if sec not in _EXTERN_SECTIONS:
            fix_offsets = words[w + SIZE] == 0
            if fix_offsets:
                size = layout.section_sizes.get(sec, 0)
                if not size:
                    raise BTFError(f"type [{tid}] DATASEC '{sec}': no ELF section of that name gives its size "
                                   "(libbpf refuses the object)")  # fmt: skip
                words[w + SIZE] = size
                done.append(f"[{tid}] DATASEC '{sec}': size 0 -> {size} (its ELF section's)")
            for entry in entries:
                var_id = entry[VARSEC_TYPE]
                if btf.kind_of(var_id) != Kind.VAR:
                    raise BTFError(f"type [{tid}] DATASEC '{sec}': entry [{var_id}] is not a VAR")
                var_btf, vw = btf.locate(var_id)
                if var_btf.words[vw + VAR_LINKAGE] in (_VAR_STATIC, _VAR_GLOBAL_EXTERN):
                    continue
                var = btf.str_at(var_btf.words[vw + NAME_OFF])
                if var not in layout.variables:
                    raise BTFError(f"type [{tid}] DATASEC '{sec}': no ELF symbol for VAR '{var}' "
                                   "(libbpf refuses the object)")  # fmt: skip
                value, hidden = layout.variables[var]
                if fix_offsets and entry[VARSEC_OFFSET] != value:
                    done.append(f"[{tid}] DATASEC '{sec}': VAR '{var}' at offset {entry[VARSEC_OFFSET]} -> {value} "
                                "(its symbol's)")  # fmt: skip
                    entry[VARSEC_OFFSET] = value
                if hidden:
                    var_btf.words[vw + VAR_LINKAGE] = _VAR_STATIC
                    done.append(f"[{var_id}] VAR '{var}': global -> static (its symbol is hidden)")
        ordered = sorted(entries, key=lambda e: e[VARSEC_OFFSET])  # (libbpf's qsort; ties keep their order here)
        if [e[VARSEC_TYPE] for e in ordered] != [e[VARSEC_TYPE] for e in entries]:
            done.append(f"[{tid}] DATASEC '{sec}': entries sorted by offset")
        words[elems : elems + VARSEC_WORDS * vlen] = array("I", [word for entry in ordered for word in entry])
    return done


def compiler_fixups(btf: BTF) -> list[str]:
    """Fix in ``btf`` (in place) what compilers write and the kernel refuses; one line per change.

    Today one thing: INT encodings SIGNED|CHAR (gcc's ``char`` and ``signed char``) become
    SIGNED, as clang writes them.
    """
    done: list[str] = []
    words = btf.words
    for tid in btf.ids_by_kind()[Kind.INT]:
        _owner, w = btf.locate(tid)
        encoding = words[w + INT_ENCODING] >> 24
        if encoding == _INT_SIGNED | _INT_CHAR:
            words[w + INT_ENCODING] = (words[w + INT_ENCODING] & 0x00FFFFFF) | (_INT_SIGNED << 24)
            done.append(f"[{tid}] INT '{btf.str_at(words[w + NAME_OFF])}': encoding SIGNED|CHAR -> SIGNED (as clang writes it)")
    return done
